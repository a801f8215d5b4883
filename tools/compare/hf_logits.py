#!/usr/bin/env python3
"""Compare qread's dense forward with Hugging Face transformers on the same model folders.

Run on the GPU machine (python3 with torch + transformers), after building qread:
    python3 tools/compare/hf_logits.py --qread build/device/bin/qread [--device cuda]

For each architecture (Llama with llama3 RoPE scaling, Mistral, Qwen2) it writes a random
model folder with `qread mkmodel`, feeds the same random ids to both implementations, and
compares the logits after the last prompt token, in float32 and bfloat16:
    relative error = max |qread - hf| / max |hf|
Targets: float32 <= 1e-4, bfloat16 <= 2e-2. Also compares 8 greedy ids in float32.
Exits non-zero when a target is missed. Prints one JSON line per case.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

CASES = {
    "llama-llama3-rope": ["--arch", "llama", "--rope-scaling", "llama3", "--rope-factor", "8",
                          "--max-positions", "8192", "--rope-theta", "500000"],
    "mistral": ["--arch", "mistral"],
    "qwen2": ["--arch", "qwen2", "--tie-embeddings"],
}
SHAPE = ["--layers", "4", "--hidden", "256", "--intermediate", "688", "--heads", "8",
         "--kv-heads", "2", "--vocab", "1000"]


def qread_logits(qread, model_dir, ids_file, device, dtype, greedy):
    out = subprocess.run([qread, "generate", "--model", str(model_dir), "--input-ids", str(ids_file),
                          "--max-new-tokens", str(greedy), "--device", device, "--dtype", dtype,
                          "--json", "--logits"], check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    return torch.tensor(result["last_logits"], dtype=torch.float64), result["tokens"]


def hf_logits(model_dir, ids, device, dtype, greedy):
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch_dtype).to(device).eval()
    with torch.no_grad():
        x = torch.tensor([ids], device=device)
        logits = model(x).logits[0, -1].double().cpu()
        tokens = []
        if greedy:
            out = model.generate(x, max_new_tokens=greedy, do_sample=False, eos_token_id=None,
                                 pad_token_id=0)
            tokens = out[0, len(ids):].tolist()
    return logits, tokens


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--qread", default="build/device/bin/qread")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--length", type=int, default=1000)
    args = parser.parse_args()
    failed = False
    gen = torch.Generator().manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in CASES.items():
            model_dir = Path(tmp) / name
            subprocess.run([args.qread, "mkmodel", "--out", str(model_dir), *SHAPE, *extra], check=True,
                           capture_output=True)
            ids = torch.randint(0, 1000, (args.length,), generator=gen).tolist()
            ids_file = Path(tmp) / f"{name}.json"
            ids_file.write_text(json.dumps(ids))
            for dtype, limit in (("float32", 1e-4), ("bfloat16", 2e-2)):
                greedy = 8 if dtype == "float32" else 0
                ours, our_tokens = qread_logits(args.qread, model_dir, ids_file, args.device, dtype, greedy)
                theirs, their_tokens = hf_logits(model_dir, ids, args.device, dtype, greedy)
                rel = ((ours - theirs).abs().max() / theirs.abs().max()).item()
                ok = rel <= limit and our_tokens == their_tokens
                failed |= not ok
                print(json.dumps({"case": name, "dtype": dtype, "length": args.length,
                                  "relative_error": rel, "limit": limit,
                                  "greedy_equal": our_tokens == their_tokens, "ok": ok}), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
