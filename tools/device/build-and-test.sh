#!/usr/bin/env bash
# Run on the GPU machine, from the repository root (by the `run` tool, with .device-debs in
# `carry`): sets up the environment (setup.sh), configures the `device` preset, builds, runs
# every test, then the kernel benchmark. Extra arguments are run afterwards as a command inside
# the same environment.
set -euo pipefail
source tools/device/setup.sh
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

start=$(date +%s)
# QREAD_DEVICE_TESTS: a ctest -R regex to run only some tests (default: all).
oracles=$(realpath -e ../shared/oracles 2>/dev/null || realpath -e .device-oracles 2>/dev/null || echo /nonexistent)
configure_device -DQREAD_ORACLES_DIR="$oracles"
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
