#!/usr/bin/env bash
# Run on the GPU machine after tools/device/build-and-test.sh, in the same environment:
#   QREAD_DEVICE_TESTS=test_memory bash tools/device/build-and-test.sh bash tools/device/perf-sweep.sh [VARIANT ...]
# A/B of the block memory's switches on Q-LLM 100K (Llama-3-8B shape, random weights, the
# reference's llama3 1K settings), in one process per variant and two 100K runs each (the first
# run of a process page-locks its host memory; the second reuses it). A variant is a
# comma-separated list of environment settings, "-" for none. First the memory tests with every
# switch on and the copy kernel's rates by thread blocks; last, QREAD_PROFILE=gpu and =1 (host)
# of the first and the last variant.
set -uo pipefail
qread=build/device/bin/qread
config=config/llama3-qllm-repr4-l1k-bs128-topk8-w4.yaml
bench=(bench --shape llama3-8b --random-weights --device cuda --decode-tokens 16 --config "$config" --json)
all_on=QREAD_COPY_CTAS=8,QREAD_CHUNK_LOCAL=1,QREAD_PREFETCH=1
if (($# == 0)); then
  set -- - QREAD_COPY_CTAS=8 QREAD_COPY_CTAS=8,QREAD_CHUNK_LOCAL=1 "$all_on" \
    QREAD_COPY_CTAS=0,QREAD_CHUNK_LOCAL=1,QREAD_PREFETCH=1 QREAD_COPY_CTAS=16,QREAD_CHUNK_LOCAL=1,QREAD_PREFETCH=1 \
    QREAD_COPY_CTAS=4,QREAD_CHUNK_LOCAL=1,QREAD_PREFETCH=1 - "$all_on"
fi
settings() { [[ $1 == - ]] || tr ',' '\n' <<<"$1"; }

echo "== memory tests with $all_on"
for t in test_memory_properties test_memory_oracles; do
  [[ -x build/device/tests/$t ]] || continue
  env $(settings "$all_on") timeout 300 "build/device/tests/$t" 2>&1 | grep -E "^(PASS|FAIL|SKIP|QINFO|Totals)|Loc:" | head -60
done

echo "== oracles on CUDA (float32: no flash, so the explicit stages, with prefetch and narrow copies) with $all_on"
env $(settings "$all_on") bash tools/device/measure.sh --oracles-only

echo "== copy kernel rates by QREAD_COPY_CTAS (0: a thread block per row)"
for ctas in 0 4 8 16 32 64; do
  QREAD_COPY_CTAS=$ctas build/device/bin/qread-bench-kernels | grep copy_rows
done

for variant in "$@"; do
  echo "== $variant"
  env $(settings "$variant") timeout 150 "$qread" "${bench[@]}" --lengths 100k,100k 2>&1 |
    grep -oE '"(length|prefill_seconds|decode_ms_per_token|gpu_peak_bytes|cache_misses)":[^,}]*' | paste -sd' ' -
done

# gpu: device time between events at each phase's ends (a phase whose kernels are small shows
# the time the device waited for the host); 1: host time per phase. Where the two agree for a
# phase, the prefill waits for the host there.
for variant in "$1" "${!#}"; do
  for mode in gpu 1; do
    echo "== QREAD_PROFILE=$mode, $variant"
    env $(settings "$variant") QREAD_PROFILE=$mode timeout 150 "$qread" "${bench[@]}" --lengths 100k 2>&1 |
      sed -n '/^QREAD_PROFILE/,$p' | head -60
  done
done
