#!/usr/bin/env bash
# Run on the GPU machine, from the repository root (by the `run` tool, with .device-debs in
# `carry`): unpacks the carried Debian packages into a private prefix, configures the
# `device` preset (engine + CLI + kernels + tests, CUDA, no GUI, no poppler) against the
# PyTorch wheel's CUDA LibTorch, builds, runs every test, then the kernel benchmark.
# Extra arguments are run afterwards as a command inside the same environment.
set -euo pipefail
prefix=/tmp/qread-deps
mkdir -p "$prefix"
for f in .device-debs/*.deb; do dpkg -x "$f" "$prefix"; done
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

start=$(date +%s)
# QREAD_DEVICE_TESTS: a ctest -R regex to run only some tests (default: all).
oracles=$(realpath -e ../shared/oracles 2>/dev/null || realpath -e .device-oracles 2>/dev/null || echo /nonexistent)
cmake --preset device -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" -DQREAD_ORACLES_DIR="$oracles" \
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5 > /tmp/configure.log 2>&1 || { cat /tmp/configure.log; exit 1; }
cmake --build --preset device -j "$(nproc)"
echo "build: $(( $(date +%s) - start )) s"
ctest_rc=0
ctest --preset device -j 4 -V ${QREAD_DEVICE_TESTS:+-R "$QREAD_DEVICE_TESTS"} > /tmp/ctest.log 2>&1 || ctest_rc=$?
grep -E "^[0-9]+: (FAIL|SKIP|QINFO|random)|Test +#|tests passed|tests failed|Totals" /tmp/ctest.log || true
if ((ctest_rc)); then grep -E "FAIL|Loc:" /tmp/ctest.log | head -40; fi
build/device/bin/qread info
build/device/bin/qread-bench-kernels
if (($#)); then "$@"; fi
exit "$ctest_rc"
