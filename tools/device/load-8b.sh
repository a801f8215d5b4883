#!/usr/bin/env bash
# Run on the GPU machine after tools/device/build-and-test.sh (same environment): writes an
# 8B-shaped random model in Hugging Face layout (Llama-3-8B config, bf16, 4 safetensors shards
# with an index, ~16 GB; made with the machine's PyTorch on the GPU, since making it with
# `qread mkmodel` on the CPU takes over 200 s there), loads it on CUDA with `qread generate`
# and samples the process's anonymous and file-backed resident memory every 20 ms: the peak
# host RAM while loading, above the mapped files, is the peak of RssAnon.
set -uo pipefail
q=build/device/bin/qread
dir=${1:-/tmp/m8b}
start=$(date +%s)
python3 - "$dir" <<'PY' || { echo "making the model failed"; exit 1; }
import json, os, sys, torch
from safetensors.torch import save_file
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
H, I, L, V, Hq, Hkv = 4096, 14336, 32, 128256, 32, 8
D = H // Hq
config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H,
          "intermediate_size": I, "num_hidden_layers": L, "num_attention_heads": Hq,
          "num_key_value_heads": Hkv, "vocab_size": V, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
          "max_position_embeddings": 8192, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
          "bos_token_id": 128000, "eos_token_id": 128001}
json.dump(config, open(f"{out}/config.json", "w"))
g = torch.Generator(device="cuda").manual_seed(0)
def rnd(*shape):
    return (torch.randn(*shape, generator=g, device="cuda", dtype=torch.bfloat16) * 0.02).cpu()
shapes = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,), "lm_head.weight": (V, H)}
for i in range(L):
    p = f"model.layers.{i}."
    shapes.update({p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
                   p + "self_attn.q_proj.weight": (Hq * D, H), p + "self_attn.k_proj.weight": (Hkv * D, H),
                   p + "self_attn.v_proj.weight": (Hkv * D, H), p + "self_attn.o_proj.weight": (H, Hq * D),
                   p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H), p + "mlp.down_proj.weight": (H, I)})
names = list(shapes)
shards = [names[k::4] for k in range(4)]
weight_map = {}
for k, part in enumerate(shards):
    fname = f"model-{k + 1:05d}-of-00004.safetensors"
    save_file({n: rnd(*shapes[n]) for n in part}, f"{out}/{fname}", metadata={"format": "pt"})
    weight_map.update({n: fname for n in part})
json.dump({"metadata": {}, "weight_map": weight_map}, open(f"{out}/model.safetensors.index.json", "w"))
PY
echo "made the model: $(( $(date +%s) - start )) s, $(du -sh "$dir" | cut -f1)"
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
echo '[128000, 2, 3, 4]' > /tmp/ids.json
start=$(date +%s.%N)
"$q" generate --model "$dir" --input-ids /tmp/ids.json --device cuda --max-new-tokens 2 --json > /tmp/gen.json &
pid=$!
anon=0 file=0
while kill -0 "$pid" 2>/dev/null; do
  read -r a f < <(awk '/^RssAnon/{a=$2} /^RssFile/{f=$2} END{print a+0, f+0}' "/proc/$pid/status" 2>/dev/null || echo "0 0")
  ((a > anon)) && anon=$a
  ((f > file)) && file=$f
  sleep 0.02
done
wait "$pid"; rc=$?
echo "generate rc=$rc in $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
python3 -c "import json; d=json.load(open('/tmp/gen.json')); print({k: d[k] for k in d if k not in ('last_logits',)})" 2>/dev/null | cut -c1-400
echo "peak RssAnon $((anon / 1024)) MiB (host RAM above the mapped files), peak RssFile $((file / 1024)) MiB"
