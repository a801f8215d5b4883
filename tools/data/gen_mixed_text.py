#!/usr/bin/env python3
"""Deterministic mixed-script test text for tokenizer comparisons (python3 stdlib only).

Writes N lines (default 6000) that stress what tokenizers disagree on: accented Latin (both
composed and decomposed), Greek, Cyrillic, CJK, Hangul, Arabic, Hebrew, Devanagari, Thai,
emoji (ZWJ sequences, skin tones, flags), source code, URLs and paths, numbers of every kind
(long digit runs, decimals, Arabic-Indic digits, superscripts, fractions), punctuation and
quotes, contractions in any case, whitespace runs (tabs, NBSP, ideographic space, trailing
spaces, CR), and special-token look-alikes (<s>, <|eot_id|>, <|im_start|>).

The same seed gives the same bytes on every machine and Python version (only random.Random
with integer seeds and explicit lists are used).

    python3 tools/data/gen_mixed_text.py > mixed.txt
    python3 tools/data/gen_mixed_text.py --lines 10000 --seed 7 -o mixed.txt
"""
import argparse
import random
import sys

WORDS = ("the reader opened book page river ferry ledger printer teacher grammar copy copies "
         "seven winter evening chapter letter press town school library map morning question "
         "answer number notebook quarter shilling margin quietly carefully perhaps although "
         "because however therefore nevertheless tokenizer attention memory retrieval block "
         "context window query key value layer model").split()
CAPITALIZED = ["The", "A", "When", "In", "She", "He", "They", "It", "Every", "Nobody", "Q-LLM", "GPU", "NASA", "iPhone"]
CONTRACTIONS = ["don't", "can't", "won't", "it's", "I'm", "they're", "we've", "she'll", "he'd", "YOU'RE",
                "WE'LL", "It'S", "isn't", "o'clock", "rock'n'roll", "'tis", "y'all", "ma'am"]
ACCENTED = ["café", "naïve", "résumé", "Zürich", "São Paulo", "Ångström", "façade", "piñata", "crème brûlée",
            "Dvořák", "Łódź", "Ærøskøbing", "Straße", "smørrebrød", "Þingvellir", "İstanbul", "coöperate"]
# Decomposed forms (letter + combining mark): NFC normalizers (Qwen2) compose these.
DECOMPOSED = ["cafe\u0301", "nai\u0308ve", "re\u0301sume\u0301", "Zu\u0308rich", "A\u030angstro\u0308m", "n\u0303"]
GREEK = ["Καλημέρα κόσμε", "ἐν ἀρχῇ ἦν ὁ λόγος", "Ελληνικά γράμματα", "ΑΒΓΔ αβγδ"]
CYRILLIC = ["Привет, как дела?", "Спасибо, хорошо.", "Съешь же ещё этих мягких французских булок",
            "ЁЛКА ёлка", "Україна, Київ"]
CJK = ["日本語の文章を少しだけ書きます。", "東京は大きな都市です。", "中文句子：今天天气很好，我们去图书馆看书吧。",
       "漢字とひらがなとカタカナ", "「引用」と『二重引用』", "龍龘𠀋𪚥", "繁體中文與简体中文"]
HANGUL = ["안녕하세요, 만나서 반갑습니다.", "한국어 문장입니다", "ㄱㄴㄷ ㅏㅑㅓ"]
RTL = ["مرحبا بالعالم", "السلام عليكم ١٢٣", "שלום עולם", "עברית 2024"]
INDIC = ["नमस्ते दुनिया", "हिन्दी भाषा", "ภาษาไทย สวัสดีครับ", "தமிழ் மொழி"]
EMOJI = ["📚", "🙂", "🚀", "👍🏽", "❤️", "🇫🇷", "🇯🇵", "👨‍👩‍👧", "🧑🏿‍💻", "🏳️‍🌈", "😀😃😄", "✅", "⚠️", "🦊",
         "☕", "🤷‍♀️", "🔥🔥🔥"]
PUNCT = ["!", "?", "...", "…", "—", "–", "-", "--", ";", ":", ",", ".", "!!!", "???", "?!", "(", ")", "[", "]",
         "{", "}", "\"", "'", "“", "”", "‘", "’", "«", "»", "„", "¿", "¡", "·", "•", "§", "¶", "†", "©", "®", "™",
         "°", "±", "×", "÷", "≠", "≤", "∞", "→", "⇒", "@", "#", "$", "%", "&", "*", "_", "~", "^", "|", "\\", "/"]
CODE = [
    "for (int i = 0; i < n; ++i) { total += values[i] * 2; }",
    "def read(path):  return open(path, encoding='utf-8').read().split()",
    "    if x is None:\treturn {'a': [1, 2, 3], \"b\": (4.5, -6e-7)}",
    "std::vector<std::string> lines; lines.reserve(1024);",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%son';",
    "<div class=\"page\" id=\"p-12\"><a href=\"https://example.com/a?b=c&d=e#f\">link</a></div>",
    "{\"key\": \"value\", \"list\": [true, false, null], \"n\": 3.14}",
    "git commit -m \"fix: tokenizer\" && ./build/bin/qread tokenize --model ~/models/x",
    "const f = async (x) => await fetch(`/api/${x}`);",
    "#include <iostream>  // comment\tint main() { return 0; }",
    "C:\\Users\\reader\\Documents\\book.pdf  /usr/local/lib/qread/libqread_spm.so",
    "x_1 = a**2 + b**2; y += 0x1F; z = ~mask >> 3 | 1 << 7;",
    "```python", "```", "| col1 | col2 |", "|------|------|", "# Heading", "## Sub-heading", "- item", "* bullet", "> quote",
]
SPECIALS = ["<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>user<|end_header_id|>",
            "<|im_start|>", "<|im_end|>", "<|endoftext|>", "[INST]", "[/INST]", "<用户>", "<AI>", "<pad>", "<|"]
SPACES = [" ", "  ", "   ", "    ", "        ", "\t", "\t\t", " \t ", "\u00a0", "\u3000", "\u2009", "\u200b", "\u2028",
          "\u0085", "\u2003", "\u202f", " \r"]


def number(r):
    kind = r.randrange(12)
    if kind == 0:
        return str(r.randrange(10))
    if kind == 1:
        return str(r.randrange(10 ** r.randrange(2, 19)))
    if kind == 2:
        return "%d.%0*d" % (r.randrange(1000), r.randrange(1, 6), r.randrange(100000))
    if kind == 3:
        return "-" + str(r.randrange(1, 100000))
    if kind == 4:
        return "{:,}".format(r.randrange(10 ** 9))
    if kind == 5:
        return "%de-%d" % (r.randrange(1, 10), r.randrange(1, 30))
    if kind == 6:
        return "%04d-%02d-%02d" % (r.randrange(1800, 2100), r.randrange(1, 13), r.randrange(1, 29))
    if kind == 7:
        return "%d:%02d" % (r.randrange(24), r.randrange(60))
    if kind == 8:
        return "".join(r.choice("٠١٢٣٤٥٦٧٨٩") for _ in range(r.randrange(1, 6)))
    if kind == 9:
        return r.choice(["²", "³", "½", "¾", "Ⅻ", "⑦", "१२३", "１２３", "𝟙𝟚"])
    if kind == 10:
        return "$%d.%02d" % (r.randrange(10000), r.randrange(100))
    return "%d%%" % r.randrange(101)


def word(r):
    kind = r.randrange(20)
    if kind < 9:
        return r.choice(WORDS)
    if kind < 11:
        return r.choice(CAPITALIZED)
    if kind == 11:
        return r.choice(CONTRACTIONS)
    if kind == 12:
        return r.choice(ACCENTED)
    if kind == 13:
        return number(r)
    if kind == 14:
        return r.choice(EMOJI)
    if kind == 15:
        return r.choice(PUNCT)
    if kind == 16:
        return r.choice(CJK + HANGUL)
    if kind == 17:
        return r.choice(GREEK + CYRILLIC + RTL + INDIC)
    if kind == 18:
        return r.choice(SPECIALS)
    return r.choice(DECOMPOSED)


def sentence(r):
    parts = [word(r) for _ in range(r.randrange(1, 16))]
    out = parts[0]
    for p in parts[1:]:
        out += (r.choice(SPACES) if r.randrange(8) == 0 else ("" if r.randrange(10) == 0 else " ")) + p
    if r.randrange(3) == 0:
        out += r.choice([".", "!", "?", "…", "。", "!!", ".\"", ")"])
    return out


def line(r):
    kind = r.randrange(14)
    if kind < 6:
        text = sentence(r)
    elif kind == 6:
        text = r.choice(CODE)
    elif kind == 7:
        text = r.choice(CJK) + r.choice(["", " ", "，"]) + r.choice(CJK)
    elif kind == 8:
        text = " ".join(r.choice(EMOJI) for _ in range(r.randrange(1, 6)))
    elif kind == 9:
        text = " ".join(number(r) for _ in range(r.randrange(1, 8)))
    elif kind == 10:
        text = r.choice(SPACES) * r.randrange(1, 4) + sentence(r) + r.choice(SPACES) * r.randrange(0, 3)
    elif kind == 11:
        text = r.choice(SPECIALS) + sentence(r) + r.choice(SPECIALS)
    elif kind == 12:
        text = "".join(r.choice(PUNCT) for _ in range(r.randrange(1, 12)))
    else:
        text = ""  # empty lines matter too
    return text.replace("\n", " ")


def generate(lines=6000, seed=20240517):
    r = random.Random(seed)
    return [line(r) for _ in range(lines)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=20240517)
    ap.add_argument("-o", "--output", help="file to write (default: stdout)")
    a = ap.parse_args()
    data = ("\n".join(generate(a.lines, a.seed)) + "\n").encode("utf-8")
    if a.output:
        with open(a.output, "wb") as f:
            f.write(data)
    else:
        sys.stdout.buffer.write(data)


if __name__ == "__main__":
    main()
