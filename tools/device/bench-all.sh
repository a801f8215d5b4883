#!/usr/bin/env bash
# Run on the GPU machine after tools/device/build-and-test.sh (same environment): `qread bench`
# on the Llama-3-8B shape with random weights, bf16, every mode with the reference's llama3 1K
# settings (Quest: budget 1024), at the lengths given (default 32k,100k). JSON lines to stdout.
#   QREAD_DEVICE_TESTS=none bash tools/device/build-and-test.sh bash tools/device/bench-all.sh [LENGTHS]
set -uo pipefail
lengths=${1:-32k,100k}
q=build/device/bin/qread
run() { timeout 300 "$q" bench --shape llama3-8b --random-weights --device cuda --lengths "$lengths" --decode-tokens 16 --json "$@"; }
run --set type=origin
for c in qllm-repr4-l1k-bs128-topk8-w4 inf-llm-repr4-l1k-bs128-topk8 stream-llm-1k infinite-lm-1k quest-budget1024; do
  run --config "config/llama3-$c.yaml"
done
