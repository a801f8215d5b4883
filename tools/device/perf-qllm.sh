#!/usr/bin/env bash
# Run on the GPU machine after tools/device/build-and-test.sh, in the same environment:
#   bash tools/device/build-and-test.sh bash tools/device/perf-qllm.sh [BASELINE_SRC]
# Q-LLM prefill/decode on the Llama-3-8B shape (reference llama3 1K settings); with BASELINE_SRC
# (a source tree of an earlier commit, carried in), the same bench built from it in the same run,
# for a before/after; then this tree once more with each of QREAD_VARIANTS (space-separated
# VAR=value settings, e.g. "QREAD_WINDOW_SUMS=logits QREAD_GATHER_SMS=8"); with QREAD_TRACE=1, the
# GPU's kernel table (QREAD_PROFILE=trace); with nsys on the machine, a 32K profile's summary.
# QREAD_LENGTHS: the lengths (default 32k,100k; "100k,100k" runs 100K twice in one process, the
# second without the warm-up). First, qread-bench-memory: one execution block's flash attention
# alone and beside a retrieval, for each QREAD_GATHER_SMS value.
set -uo pipefail
qread=build/device/bin/qread
config=config/llama3-qllm-repr4-l1k-bs128-topk8-w4.yaml
lengths=${QREAD_LENGTHS:-32k,100k}
bench=(bench --shape llama3-8b --random-weights --device cuda --decode-tokens 16 --config "$config" --json)
# The figures of each run on one line.
summary() { grep -oE '"(length|prefill_seconds|decode_ms_per_token|gpu_peak_bytes)":[0-9.e+]+' | paste -sd' '; }
echo "== qread-bench-memory"
timeout 120 build/device/bin/qread-bench-memory
if (($# >= 1)) && [[ -d $1 ]]; then
  torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  (cd "$1" && cmake --preset device -DCMAKE_PREFIX_PATH="$torch_prefix;/tmp/qread-deps/usr" \
     -DCMAKE_POLICY_VERSION_MINIMUM=3.5 >/tmp/baseline-configure.log 2>&1 &&
   cmake --build --preset device -j "$(nproc)" --target qread >/tmp/baseline-build.log 2>&1) ||
    { echo "baseline build failed"; tail -20 /tmp/baseline-build.log; }
  echo "== baseline ($1): Q-LLM $lengths"
  timeout 300 "$1/build/device/bin/qread" "${bench[@]}" --lengths "$lengths" | summary
fi
echo "== this tree: Q-LLM $lengths"
timeout 300 "$qread" "${bench[@]}" --lengths "$lengths" | summary
for variant in ${QREAD_VARIANTS:-}; do
  echo "== this tree, $variant: Q-LLM $lengths"
  env "$variant" timeout 300 "$qread" "${bench[@]}" --lengths "$lengths" | summary
done
if [[ ${QREAD_TRACE:-0} == 1 ]]; then
  echo "== this tree, QREAD_PROFILE=trace: Q-LLM $lengths"
  QREAD_PROFILE=trace timeout 300 "$qread" "${bench[@]}" --lengths "$lengths" 2>/tmp/trace.txt | summary
  head -60 /tmp/trace.txt
fi
if command -v nsys >/dev/null; then
  echo "== nsys: Q-LLM 32k"
  timeout 200 nsys profile -o /tmp/qllm --force-overwrite true -t cuda,osrt --stats=false \
    "$qread" "${bench[@]}" --lengths 32k >/dev/null 2>&1
  nsys stats -r cuda_api_sum,cuda_gpu_kern_sum /tmp/qllm.nsys-rep 2>/dev/null | head -60
else
  echo "(no nsys on this machine)"
fi
