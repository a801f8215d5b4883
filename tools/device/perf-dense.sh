#!/usr/bin/env bash
# Run on the GPU machine after tools/device/build-and-test.sh, in the same environment:
#   bash tools/device/build-and-test.sh bash tools/device/perf-dense.sh
# Full attention (the dense path) on the Llama-3-8B shape, random bf16 weights: prefill and
# decode at 8K, 32K and 100K, decode with the captured CUDA graph and without it
# (QREAD_CUDA_GRAPHS=0, the eager path), and 32K in one chunk as well as in 8K chunks.
set -uo pipefail
q=build/device/bin/qread
bench=(bench --shape llama3-8b --random-weights --device cuda --set type=origin --json)
echo "== dense, CUDA graph decode (default)"
timeout 200 "$q" "${bench[@]}" --lengths 8k,32k,100k --decode-tokens 64
echo "== dense, eager decode (QREAD_CUDA_GRAPHS=0)"
QREAD_CUDA_GRAPHS=0 timeout 200 "$q" "${bench[@]}" --lengths 8k,32k --decode-tokens 64
echo "== dense, 32K in one chunk"
timeout 100 "$q" "${bench[@]}" --lengths 32k --chunk-size 32768 --decode-tokens 16
