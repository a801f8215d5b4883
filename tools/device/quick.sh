#!/usr/bin/env bash
# Run on the GPU machine (by the `run` tool, with .device-debs in `carry`) for a quick look
# without the tests: configures the `device` preset, builds only `qread` (plus EXTRA_TARGETS),
# then evaluates $QUICK with $B set to a Q-LLM bench command (llama3 1K settings, 8B shape):
#   QUICK='QREAD_PROFILE=1 $B --lengths 32k' bash tools/device/quick.sh
set -euo pipefail
source tools/device/setup.sh
configure_device
# shellcheck disable=SC2086  # EXTRA_TARGETS is a list
cmake --build --preset device -j "$(nproc)" --target qread ${EXTRA_TARGETS:-} 2>&1 | grep -E "error|FAILED" || true
config=config/llama3-qllm-repr4-l1k-bs128-topk8-w4.yaml
export B="build/device/bin/qread bench --shape llama3-8b --random-weights --device cuda --decode-tokens 16 --config $config"
eval "${QUICK:?set QUICK to the command to run}"
