#!/usr/bin/env bash
# Run on the GPU machine after tools/device/build-and-test.sh (same environment). The built-in
# model's GGUF (94 MB) is larger than one `run` may carry, so it travels in parts
# (.device-model-1 .. -4, made with `split -b 24M -d`, and gguf.sha256), one or two per call
# while the machine stays warm (only build/ survives between calls: copy each call's parts to
# build/parts/ with `cp .device-model-*/* build/parts/`); this script joins and checks them,
# then runs `qread eval`.
#   bash tools/device/eval-default-model.sh inside|beyond OUT_DIR
# inside: 2K, 4K, 8K tokens (inside SmolLM2's 8,192-token window), every mode;
# beyond: 16K, 32K, 64K, the modes made for long inputs. Tasks: needle, passkey, kv.
set -euo pipefail
phase=$1 out=$2
gguf=build/SmolLM2-135M-Instruct.Q4_1.gguf
if [[ ! -f $gguf ]]; then
  mkdir -p build/parts && cp .device-model-*/* build/parts/ 2>/dev/null || true
  cat build/parts/smol.part* > "$gguf"
  echo "$(cat build/parts/gguf.sha256)  $gguf" | sha256sum -c -
fi
case $phase in
  inside) lengths=2k,4k,8k modes=origin,qllm,inf-llm,stream-llm,infinite-lm,quest depths=0,0.25,0.5,0.75,1 ;;
  beyond) lengths=16k,32k,64k modes=qllm,inf-llm,stream-llm,infinite-lm depths=0.1,0.5,0.9 ;;
  *) echo "phase: inside or beyond" >&2; exit 2 ;;
esac
mkdir -p "$out"
for task in ${TASKS:-needle passkey kv}; do
  echo "== $task $phase ($lengths; $modes)"
  timeout "${TASK_TIMEOUT:-3000}" build/device/bin/qread eval "$task" --model "$gguf" --lengths "$lengths" --depths "$depths" --modes "$modes" \
    --config-dir config/smollm2 --device cuda --dtype float32 --seed 1 --out "$out/$task-$phase" 2>&1 | tail -n 30
done
