#!/usr/bin/env bash
# Run on the GPU machine (by the `run` tool, with .device-debs in `carry`) for a quick look
# without the tests: configures the `device` preset, builds only `qread` (plus EXTRA_TARGETS),
# then evaluates $QUICK with $B set to a Q-LLM bench command (llama3 1K settings, 8B shape):
#   QUICK='QREAD_PROFILE=1 $B --lengths 32k' bash tools/device/quick.sh
set -euo pipefail
prefix=/tmp/qread-deps
mkdir -p "$prefix"
for f in .device-debs/*.deb; do dpkg -x "$f" "$prefix"; done
torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
export LD_LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu"
cmake --preset device -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
  > /tmp/configure.log 2>&1 || { cat /tmp/configure.log; exit 1; }
# shellcheck disable=SC2086  # EXTRA_TARGETS is a list
cmake --build --preset device -j "$(nproc)" --target qread ${EXTRA_TARGETS:-} 2>&1 | grep -E "error|FAILED" || true
config=config/llama3-qllm-repr4-l1k-bs128-topk8-w4.yaml
export B="build/device/bin/qread bench --shape llama3-8b --random-weights --device cuda --decode-tokens 16 --config $config"
eval "${QUICK:?set QUICK to the command to run}"
