#!/usr/bin/env bash
# Run on the GPU machine after tools/device/build-and-test.sh (same environment): writes an
# 8B-shaped random model in HF layout (bf16 safetensors, ~16 GB), loads it on CUDA with
# `qread generate` and samples the process's anonymous and file-backed resident memory every
# 50 ms: peak host RAM while loading, above the mapped files. Making the random 8B model on the
# CPU takes over 200 s there (2026-11-23: not finished within a 200 s limit): give it a call of its own.
set -uo pipefail
q=build/device/bin/qread
dir=${1:-/tmp/m8b}
start=$(date +%s)
timeout 540 "$q" mkmodel --out "$dir" --layers 32 --hidden 4096 --intermediate 14336 --heads 32 --kv-heads 8 \
  --vocab 128256 --dtype bfloat16 --max-positions 8192 --rope-theta 500000 || { echo "mkmodel failed"; exit 1; }
echo "mkmodel: $(( $(date +%s) - start )) s, $(du -sh "$dir" | cut -f1)"
echo '[1, 2, 3, 4]' > /tmp/ids.json
"$q" generate --model "$dir" --input-ids /tmp/ids.json --device cuda --max-new-tokens 2 --json > /tmp/gen.json &
pid=$!
anon=0 file=0
while kill -0 "$pid" 2>/dev/null; do
  read -r a f < <(awk '/^RssAnon/{a=$2} /^RssFile/{f=$2} END{print a+0, f+0}' "/proc/$pid/status" 2>/dev/null || echo "0 0")
  ((a > anon)) && anon=$a
  ((f > file)) && file=$f
  sleep 0.05
done
wait "$pid"; echo "generate rc=$?"
python3 -c "import json; d=json.load(open('/tmp/gen.json')); print({k: d[k] for k in d if k not in ('last_logits',)})" 2>/dev/null | cut -c1-400
echo "peak RssAnon $((anon / 1024)) MiB, peak RssFile $((file / 1024)) MiB"
