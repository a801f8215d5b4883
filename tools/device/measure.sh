#!/usr/bin/env bash
# Run on the GPU machine after tools/device/build-and-test.sh, in the same environment:
#   bash tools/device/build-and-test.sh bash tools/device/measure.sh
# 1. each shared oracle replayed on CUDA in float32 (max |logit diff| and greedy ids);
# 2. dense logits against Hugging Face transformers (tools/compare/hf_logits.py);
# 3. `qread bench` on the Llama-3-8B shape with random weights: full attention (decode at 8K,
#    one-shot prefill of 32K), Q-LLM (reference llama3 1K settings) at 32K and 100K, and
#    StreamingLLM at 32K/128K for GPU memory against length.
set -uo pipefail
qread=build/device/bin/qread
oracles=$(realpath -e ../shared/oracles 2>/dev/null || realpath -e .device-oracles)
work=$(mktemp -d)

echo "== oracles on CUDA (float32)"
for mode in qllm inf-llm stream-llm infinite-lm; do
  python3 - "$oracles/$mode/oracle.json" "$work/$mode.yaml" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
a = o["attention"]
with open(sys.argv[2], "w") as f:
    f.write("model:\n  type: %s\n" % o["type"])
    for k in ("n_init", "n_local", "topk", "block_size", "max_cached_block", "exc_block_size", "repr_topk", "question_weight"):
        f.write("  %s: %s\n" % (k, a[k]))
    f.write("  fattn: false\nchunk_size: %d\n" % o["chunk_size"])
PY
  "$qread" replay --model "$oracles/$mode" --input-ids "$oracles/$mode/oracle.json" --config "$work/$mode.yaml" \
    --device cuda --dtype float32 > "$work/$mode.out" || { echo "$mode: replay failed"; continue; }
  python3 - "$oracles/$mode/oracle.json" "$work/$mode.out" <<'PY'
import json, sys
o = json.load(open(sys.argv[1])); r = json.load(open(sys.argv[2]))
diff = max(abs(a - b) for a, b in zip(o["last_logits"], r["last_logits"]))
print(json.dumps({"oracle": o["type"], "device": r["device"], "max_abs_logit_diff": diff,
                  "greedy_equal": o["greedy"] == r["greedy"], "prefill_s": round(r["prefill_seconds"], 3),
                  "ok": diff <= 1e-3 and o["greedy"] == r["greedy"]}))
PY
done

echo "== dense logits vs Hugging Face transformers"
timeout 300 python3 tools/compare/hf_logits.py --qread "$qread" --device cuda

echo "== bench: full attention, llama3-8b shape, bf16"
timeout 240 "$qread" bench --shape llama3-8b --random-weights --device cuda --lengths 8k --decode-tokens 32 --json
timeout 240 "$qread" bench --shape llama3-8b --random-weights --device cuda --lengths 32k --chunk-size 32768 --decode-tokens 8 --json
echo "== bench: Q-LLM llama3-qllm-repr4-l1k-bs128-topk8-w4"
timeout 420 "$qread" bench --shape llama3-8b --random-weights --device cuda --lengths 32k,100k --decode-tokens 16 \
  --config config/llama3-qllm-repr4-l1k-bs128-topk8-w4.yaml --json
echo "== bench: StreamingLLM 1K, memory against length"
timeout 300 "$qread" bench --shape llama3-8b --random-weights --device cuda --lengths 32k,128k --decode-tokens 8 \
  --config config/llama3-stream-llm-1k.yaml --json
