#!/usr/bin/env python3
"""Compare `qread tokenize --lines` with the Hugging Face reference, line by line.

For a model folder (a Hugging Face download, or one written by qread's tokenizer trainer):
  - with tokenizer.json: the reference is HF `tokenizers` (Tokenizer.from_file), which is what
    transformers' fast tokenizers run;
  - with only tokenizer.model: the reference is `sentencepiece`, with the special-token
    handling of the fast tokenizer transformers (4.x) builds from it: control and unknown
    pieces written in the text ("<s>", "</s>", "<unk>") are split out first and each stretch
    between them is encoded on its own with its "▁" prefix (legacy); with tokenizer_config.json
    "legacy": false only the text's first stretch gets the prefix, and not when it starts with
    a space (Metaspace, prepend_scheme "first").
With --reference transformers the reference is transformers' AutoTokenizer on the folder (what
the Q-LLM reference code itself runs). Prints how many lines are identical and the first mismatches; exits 1 on any mismatch, 2 when
it cannot run. Needs python packages `tokenizers` and/or `sentencepiece` (on the GPU machine).

    python3 tools/compare/tokenizers_vs_hf.py MODEL_DIR [--qread build/device/bin/qread]
        [--input FILE | --lines 6000 --seed N] [--add-bos] [--show 5]

Without --input the text is tools/data/gen_mixed_text.py's output (6000 mixed lines).
"""
import argparse
import glob
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def fail(message):
    print("tokenizers_vs_hf: " + message, file=sys.stderr)
    sys.exit(2)


def find_qread(explicit):
    if explicit:
        return explicit
    if os.environ.get("QREAD_BIN"):
        return os.environ["QREAD_BIN"]
    candidates = sorted(glob.glob(os.path.join(ROOT, "build", "*", "bin", "qread")), key=os.path.getmtime, reverse=True)
    if not candidates:
        fail("no qread binary under build/*/bin; pass --qread")
    return candidates[0]


def generated_text(lines, seed):
    spec = importlib.util.spec_from_file_location("gen_mixed_text", os.path.join(ROOT, "tools", "data", "gen_mixed_text.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return "\n".join(module.generate(lines, seed)) + "\n"


def split_lines(text):
    # As `qread tokenize --lines`: split on "\n" only, no empty line after a final "\n".
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def token_content(value):
    if isinstance(value, dict):
        return value.get("content")
    return value


class TokenizersReference:
    def __init__(self, model_dir):
        from tokenizers import Tokenizer  # noqa: import here so that a sentencepiece-only machine works
        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.name = "HF tokenizers (tokenizer.json)"

    def encode_all(self, lines, add_bos):
        return [e.ids for e in self.tok.encode_batch(lines, add_special_tokens=add_bos)]

    def piece(self, i):
        return self.tok.id_to_token(i)


class TransformersReference:
    def __init__(self, model_dir):
        from transformers import AutoTokenizer
        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.name = f"transformers AutoTokenizer ({type(self.tok).__name__})"

    def encode_all(self, lines, add_bos):
        return [self.tok(line, add_special_tokens=add_bos)["input_ids"] for line in lines]

    def piece(self, i):
        return self.tok.convert_ids_to_tokens(i)


class SentencePieceReference:
    def __init__(self, model_dir):
        import sentencepiece
        self.sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
        config = read_json(os.path.join(model_dir, "tokenizer_config.json"))
        self.add_bos_token = config.get("add_bos_token", True) is not False
        self.legacy = config.get("legacy", True) is not False
        bos = token_content(config.get("bos_token"))
        self.bos = self.sp.piece_to_id(bos) if bos else self.sp.bos_id()
        n = self.sp.get_piece_size()
        specials = [i for i in range(n) if self.sp.is_control(i) or self.sp.is_unknown(i)]
        self.specials = sorted(((self.sp.id_to_piece(i), i) for i in specials if self.sp.id_to_piece(i)),
                               key=lambda p: -len(p[0]))
        unk = self.sp.unk_id()
        self.unk_piece = self.sp.id_to_piece(unk) if unk >= 0 else None
        self.unk_len = len(self.sp.encode(self.unk_piece)) if self.unk_piece else 0
        self.name = "sentencepiece (tokenizer.model, as transformers' LlamaTokenizerFast splits special tokens)"

    def wants_prefix(self, stretch, at_start):
        if self.legacy:
            return True
        return at_start and not (stretch.startswith(" ") or stretch.startswith("\u2581"))

    def encode_stretch(self, text, prefix):
        if not text:
            return []
        if prefix or not self.unk_piece:
            return self.sp.encode(text)
        ids = self.sp.encode(self.unk_piece + text)  # transformers' legacy=False trick
        return ids[self.unk_len:] if len(ids) >= self.unk_len else ids

    def encode(self, text, add_bos):
        out = [self.bos] if add_bos and self.add_bos_token and self.bos is not None and self.bos >= 0 else []
        start = i = 0
        while i < len(text):
            hit = next(((p, t) for p, t in self.specials if text.startswith(p, i)), None)
            if hit is None:
                i += 1
                continue
            out += self.encode_stretch(text[start:i], self.wants_prefix(text[start:i], start == 0))
            out.append(hit[1])
            start = i = i + len(hit[0])
        out += self.encode_stretch(text[start:], self.wants_prefix(text[start:], start == 0))
        return out

    def encode_all(self, lines, add_bos):
        return [self.encode(line, add_bos) for line in lines]

    def piece(self, i):
        return self.sp.id_to_piece(i)


def main():
    ap = argparse.ArgumentParser(description="Compare qread's tokenizers with Hugging Face's, line by line.")
    ap.add_argument("model_dir")
    ap.add_argument("--qread", help="qread binary (default: $QREAD_BIN, else the newest build/*/bin/qread)")
    ap.add_argument("--input", help="UTF-8 text file, one case per line (default: generated mixed text)")
    ap.add_argument("--lines", type=int, default=6000, help="generated lines (without --input)")
    ap.add_argument("--seed", type=int, default=20240517, help="generator seed (without --input)")
    ap.add_argument("--add-bos", action="store_true", help="compare with special tokens added (post-processor BOS)")
    ap.add_argument("--reference", choices=["auto", "tokenizers", "sentencepiece", "transformers"], default="auto")
    ap.add_argument("--show", type=int, default=5, help="mismatches to print")
    a = ap.parse_args()

    model_dir = a.model_dir
    has_json = os.path.isfile(os.path.join(model_dir, "tokenizer.json"))
    has_model = os.path.isfile(os.path.join(model_dir, "tokenizer.model"))
    kind = a.reference if a.reference != "auto" else ("tokenizers" if has_json else "sentencepiece")
    if kind == "tokenizers" and not has_json:
        fail(f"{model_dir}: no tokenizer.json")
    if kind == "sentencepiece" and not has_model:
        fail(f"{model_dir}: no tokenizer.model")
    try:
        reference = {"tokenizers": TokenizersReference, "sentencepiece": SentencePieceReference,
                     "transformers": TransformersReference}[kind](model_dir)
    except ImportError as e:
        fail(f"python package missing for the {kind} reference: {e}")

    with tempfile.TemporaryDirectory() as tmp:
        if a.input:
            with open(a.input, "rb") as f:
                # qread reads bytes and replaces invalid UTF-8 with U+FFFD; so does this.
                text = f.read().decode("utf-8", errors="replace")
            path = os.path.join(tmp, "input.txt")
            with open(path, "wb") as f:
                f.write(text.encode("utf-8"))
        else:
            text = generated_text(a.lines, a.seed)
            path = os.path.join(tmp, "mixed.txt")
            with open(path, "wb") as f:
                f.write(text.encode("utf-8"))
        lines = split_lines(text)
        qread = find_qread(a.qread)
        command = [qread, "tokenize", "--model", model_dir, "--input", path, "--lines"] + (["--add-bos"] if a.add_bos else [])
        run = subprocess.run(command, capture_output=True)
        if run.returncode != 0:
            fail(f"{' '.join(command)} exited {run.returncode}:\n{run.stderr.decode('utf-8', 'replace')}")
        ours = [json.loads(l) for l in run.stdout.decode("utf-8").splitlines()]

    if len(ours) != len(lines):
        fail(f"qread printed {len(ours)} lines for {len(lines)} input lines")
    theirs = reference.encode_all(lines, a.add_bos)

    mismatches = [i for i in range(len(lines)) if ours[i] != theirs[i]]
    print(f"model: {model_dir}")
    print(f"reference: {reference.name}; qread: {qread}")
    print(f"lines: {len(lines)}, identical: {len(lines) - len(mismatches)}, mismatches: {len(mismatches)}")
    for i in mismatches[: a.show]:
        q, h = ours[i], theirs[i]
        first = next((k for k in range(min(len(q), len(h))) if q[k] != h[k]), min(len(q), len(h)))
        lo = max(0, first - 3)
        print(f"--- line {i + 1}: {lines[i]!r}")
        print(f"    first difference at token {first} (qread {len(q)} tokens, reference {len(h)})")
        print(f"    qread:     {q[lo:first + 6]}  {[reference.piece(t) for t in q[lo:first + 6]]}")
        print(f"    reference: {h[lo:first + 6]}  {[reference.piece(t) for t in h[lo:first + 6]]}")
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
