#!/usr/bin/env python3
"""make_cases.py — oracle for lorac's tokenizer tests.

Builds >= 2000 test strings (real Q&A text from shared/data, code, numbers,
whitespace runs, emoji, CJK/Korean, accented text, special-token strings and
invalid UTF-8 byte strings) and writes, for each tokenizer.json, the ids that
Hugging Face `tokenizers` gives with add_special_tokens False and True plus
HF's decode of those ids. Invalid UTF-8 is given to HF as
bytes.decode("utf-8", "replace"), which is what lorac's encoder does too.
Also dumps the SmolLM2 GGUF's tokenizer.ggml.* arrays for the GGUF test.

Usage: make_cases.py SHARED_DIR OUT_DIR [GGUF]

Case file (little-endian): b"LCTKCAS1", u32 n, then per case:
  bytes text; ids plain; ids special; bytes decode(plain); bytes decode(special, skip)
where bytes = u32 len + data, ids = u32 n + n*i32.
Vocab file: b"LCTKVOC1", str model, str pre, i32 bos, eos, unk, add_bos,
  u32 n_tokens, n*(str token, i32 type, f32 score), u32 n_merges, n*str.
"""
import csv
import json
import os
import random
import struct
import sys

from tokenizers import Tokenizer


def real_texts(shared):
    d = os.path.join(shared, "data")
    out = []
    pq = json.load(open(os.path.join(d, "pubmedqa/ori_pqal.json")))
    for i, (k, v) in enumerate(sorted(pq.items())):
        if i >= 250:
            break
        out.append(v["QUESTION"])
        if i % 2 == 0:
            out.append(" ".join(v["CONTEXTS"]))
        if i % 3 == 0:
            out.append(v["LONG_ANSWER"])
    for name in ("train.jsonl", "test.jsonl"):
        with open(os.path.join(d, "gsm8k", name)) as f:
            for i, line in enumerate(f):
                if i >= 300:
                    break
                r = json.loads(line)
                out.append(r["question"])
                out.append(r["answer"])
    with open(os.path.join(d, "mental-health-faq/Mental_Health_FAQ.csv"), newline="",
              encoding="utf-8") as f:
        for r in csv.DictReader(f):
            out.append(r["prompt"])
            out.append(r["response"])
    sq = json.load(open(os.path.join(d, "squad-sample/squad_sample.json")))
    for r in sq:
        out.append(r["question"])
        out.append(r["context"])
        a = r["answer"]
        out.append(a if isinstance(a, str) else json.dumps(a, ensure_ascii=False))
    return out


CODE = [
    "def f(x):\n    return x * 2\n",
    "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}\n",
    "#include <stdio.h>\nint main(void) { printf(\"hi\\n\"); return 0; }",
    "class Foo(Bar):\n    def __init__(self, *args, **kwargs):\n        super().__init__()\n",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "const x = {a: 1, 'b': [2, 3], \"c\": null}; // comment",
    "if x != y && z <= 3 || !w { panic!(\"oops\") }",
    "    indented\n        more\n\t\ttabs\n",
    "lambda s: s.strip().split('\\t')",
    "<html><body><p class=\"x\">Hello &amp; bye</p></body></html>",
    "x = [i**2 for i in range(10) if i % 2 == 0]",
    "git commit -m 'fix: don't crash'  # it's",
    "I'm you're he's we've they'll she'd IT'S WE'VE THEY'LL",
    "$ ls -la /usr/local/bin | grep -v '^d' > out.txt 2>&1",
    "{\"key\": \"value\", \"list\": [1, 2.5, -3e10, true, false]}",
]

MISC = [
    "", " ", "  ", "\n", "\t", "\r\n", " \n ", "a", "A", "hello", " hello", "hello ",
    "Hello world", "Hello  world", "Hello   world  ", "   leading", "trailing   ",
    "tab\tseparated\tvalues", "new\nline\n\nparagraph\n\n\n", "mixed \t \n \r\n whitespace",
    "12345", "3.14159", "1,234,567.89", "-42", "+7", "2024-01-15", "10:30:45", "0x1F",
    "1e-10", "99 bottles", "Room 101b", "phone: +1 (555) 123-4567", "v1.2.3-rc.4",
    "Café naïve résumé façade", "Ångström Øresund Ærø", "straße Größe", "Ελληνικά κείμενα",
    "Русский текст с пробелами", "日本語のテキストです。", "中文文本，包括标点。", "한국어 텍스트입니다",
    "안녕하세요 세계", "مرحبا بالعالم", "नमस्ते दुनिया", "ภาษาไทย", "עברית",
    "emoji 😀😃😄 end", "👨‍👩‍👧‍👦 family", "🇺🇸🇯🇵 flags", "♥ ★ ☺ ✓ ✗", "∑ ∫ √ ∞ ≠ ≤ ≥",
    "“smart quotes” and ‘single’ — dash – en", "…ellipsis", "non\u00a0breaking\u00a0space",
    "zero\u200bwidth", "ideographic\u3000space", "line\u2028separator", "em\u2003space",
    "combining e\u0301 accent", "A\u030a ring", "ｆｕｌｌｗｉｄｔｈ", "Ⅻ roman", "½ ¾ ²³",
    "▁already▁has▁metaspace", "<s> literal", "</s>", "<unk>", "a<s>b</s>c",
    "<|endoftext|>", "text<|endoftext|>more", "<|im_start|>user\nHi!<|im_end|>\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_end|><|im_end|>", "<|im_start", "<|endoftext|", " <|endoftext|> ", "[PAD]",
    "<repo_name>x<file_sep>", "< s >", "<<SYS>>", "[INST] hi [/INST]",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ababababababababababababababababab", "!!!!!!!!????????", "........", "-----",
    "=====", "_____", "#### 72", "<<48/2=24>>24", "a\x00b", "\x01\x02\x03\x7f",
    "mañana", "Ünïcödé", "x" * 300, " " * 50, "\n" * 20, "\t \t \t", "ok.\n\n\nNext",
]

INVALID = [
    b"\xff", b"\xfe\xff", b"abc\x80def", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xe2\x82(x",
    b"\xf0\x9f\x98", b"\xf0\x9f\x98 tail", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf",
    b"\xf5\x80\x80\x80", b"\xf4\x90\x80\x80", b"\x80\x80\x80", b"ok \xc3\xa9 \xa9 bad",
    b"hello \xf0\x28\x8c\x28 world", b"\xe1\x80\xe1\x80\xe1", b"<|im_end\xff|>",
    b"\xc3\xa9\xc3", b"mixed \xe4\xb8\xad\xe6\x96 text",
]


def fuzz_texts(rng, n):
    ranges = [(0x20, 0x7e), (0x09, 0x0d), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff),
              (0x600, 0x6ff), (0x900, 0x97f), (0x1100, 0x11ff), (0x2000, 0x206f),
              (0x3040, 0x30ff), (0x4e00, 0x4fff), (0xac00, 0xad00), (0x1f300, 0x1f64f),
              (0xff00, 0xffef), (0x300, 0x36f)]
    out = []
    for _ in range(n):
        k = rng.randint(1, 40)
        s = []
        for _ in range(k):
            lo, hi = ranges[rng.randrange(len(ranges))] if rng.random() < 0.5 else ranges[0]
            s.append(chr(rng.randint(lo, hi)))
            if rng.random() < 0.2:
                s.append(rng.choice([" ", "  ", "\n", "\t", " \n", "1", "42", "'s", "'ll"]))
        out.append("".join(s))
    return out


def invalid_fuzz(rng, n):
    out = []
    for _ in range(n):
        b = bytearray()
        for _ in range(rng.randint(1, 24)):
            r = rng.random()
            if r < 0.5:
                b += bytes([rng.randint(0x20, 0x7e)])
            elif r < 0.8:
                b += bytes([rng.randint(0x80, 0xff)])
            else:
                b += rng.choice(["é", "中", "😀", " ", "\n"]).encode()
        out.append(bytes(b))
    return out


# Added tokens with HF's lstrip/rstrip/single_word/normalized flags, inserted
# into copies of two fixtures to exercise AddedVocabulary's matching rules.
FLAG_TOKENS = [
    {"content": "<mask>", "lstrip": True, "rstrip": False, "single_word": False,
     "normalized": False, "special": True},
    {"content": "[SEP]", "lstrip": False, "rstrip": True, "single_word": False,
     "normalized": False, "special": True},
    {"content": "cat", "lstrip": False, "rstrip": False, "single_word": True,
     "normalized": True, "special": False},
    {"content": "dog", "lstrip": False, "rstrip": False, "single_word": False,
     "normalized": True, "special": False},
    {"content": "<|user|>", "lstrip": True, "rstrip": True, "single_word": False,
     "normalized": False, "special": False},
]
FLAG_TEXTS = [
    "a <mask> b", "a   <mask>b", "<mask>", "  <mask>  ", "x<mask>y", "a [SEP]   b", "[SEP]\n\nz",
    "[SEP][SEP]  [SEP]", "cat", "a cat sat", "concatenate cats", "cat's", "(cat)", "bobcat cat",
    "dog", "a dog", "hotdog dogma", "dog dog  dog", " dog", "<|user|>  hi  <|user|>",
    "x <|user|> y", "cat<mask>dog[SEP]cat", "the caT and CAT", "über cat über", "é cat é",
    "\tcat\t", "cat\ncat", "<mask> <mask>", "a\u3000<mask>", "a\u00a0[SEP]\u00a0b",
]


def write_flag_tokenizer(src, dst):
    j = json.load(open(src, encoding="utf-8"))
    next_id = max([v for v in j["model"]["vocab"].values()] +
                  [a["id"] for a in j["added_tokens"]]) + 1
    for k, tok in enumerate(FLAG_TOKENS):
        j["added_tokens"].append(dict(tok, id=next_id + k))
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)


def build_cases(shared):
    rng = random.Random(1234)
    texts = [t.encode("utf-8") for t in real_texts(shared)]
    texts += [t.encode("utf-8") for t in FLAG_TEXTS]
    texts += [t.encode("utf-8") for t in CODE + MISC + UNICODE_NORM]
    for _ in range(100):  # normalization-sensitive text inside ordinary words
        texts.append(" ".join(rng.choice(UNICODE_NORM).split()[:2] + rng.sample(
            ["the", "caf\u00e9", "r\u00e9sum\u00e9", "42", "\u212bx", "\uac00\ub098"], 2)).encode("utf-8"))
    # whitespace runs around words
    ws = [" ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\r\n", "\t\t", "    "]
    for _ in range(150):
        words = rng.sample(["the", "cat", "42", "sat", "on", "mat", "x=1", "(y)", "'s", "Ünï",
                            "한국", "😀", "3.5", "end."], 4)
        s = ""
        for w in words:
            s += rng.choice(ws) + w
        s += rng.choice(ws + [""])
        texts.append(s.encode("utf-8"))
    # numbers
    for _ in range(100):
        texts.append(" ".join(str(rng.randint(0, 10 ** rng.randint(1, 12)))
                              for _ in range(rng.randint(1, 5))).encode())
    texts += [t.encode("utf-8") for t in fuzz_texts(rng, 250)]
    texts += INVALID + invalid_fuzz(rng, 60)
    # short slices of real text starting/ending mid-word
    real = [t for t in texts[:400] if len(t) > 40]
    for _ in range(150):
        t = real[rng.randrange(len(real))].decode("utf-8")
        a = rng.randrange(len(t) - 10)
        texts.append(t[a:a + rng.randint(1, 60)].encode("utf-8"))
    return texts


# Strings whose NFC (and NFKC) form differs from themselves, and some that are
# already normalized: decomposed accents, singletons that NFC maps (U+2000,
# U+2001, U+2126, U+212A, U+212B, U+2329, U+232A), U+2ADC (composition
# exclusion), conjoining Hangul jamo, compatibility characters (ﬁ, ①, ｶ, ²).
UNICODE_NORM = [
    "cafe\u0301 re\u0301sume\u0301 nai\u0308ve", "\u212b \u2126 \u212a Kelvin \u212bngstr\u00f6m",
    "a\u2000b\u2001c \u2329x\u232a \u2adc", "\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af",
    "o\u0308\u0304 a\u0328\u0301 q\u0307\u0323 e\u0301\u0301", "\ufb01le \u2460 \uff76\uff9e x\u00b2 \u2167",
    "\u00c5 vs A\u030a vs \u212b", "Zu\u0308rich Malmo\u0308 S\u00e3o Paulo Sa\u0303o",
    "\u0915\u093c \u0958 \u09a1\u09bc", "\u03d3 \u03d2\u0301 \u1e9b\u0323",
]


def qwen2_style_tokenizer(dst, texts, normalizer):
    """A byte-level BPE tokenizer laid out like Qwen2's tokenizer.json (Unicode
    normalizer, Split on Qwen2's regex, ByteLevel without regex), trained by
    `tokenizers` on the test strings; no real Qwen2 tokenizer ships in a
    package we can install."""
    from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, trainers
    pat = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")
    tok = Tokenizer(models.BPE())
    tok.normalizer = getattr(normalizers, normalizer)()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pat), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok.train_from_iterator([t.decode("utf-8", "replace") for t in texts], trainer)
    tok.save(dst)


def put_bytes(f, b):
    f.write(struct.pack("<I", len(b)))
    f.write(b)


def put_ids(f, ids):
    f.write(struct.pack("<I", len(ids)))
    f.write(struct.pack("<%di" % len(ids), *ids))


def write_cases(path, tok_path, texts):
    tok = Tokenizer.from_file(tok_path)
    tok.no_truncation()
    tok.no_padding()
    strs = [t.decode("utf-8", "replace") for t in texts]
    plain = tok.encode_batch(strs, add_special_tokens=False)
    special = tok.encode_batch(strs, add_special_tokens=True)
    with open(path + ".tmp", "wb") as f:
        f.write(b"LCTKCAS1")
        f.write(struct.pack("<I", len(texts)))
        for t, p, s in zip(texts, plain, special):
            put_bytes(f, t)
            put_ids(f, p.ids)
            put_ids(f, s.ids)
            put_bytes(f, tok.decode(p.ids, skip_special_tokens=False).encode("utf-8"))
            put_bytes(f, tok.decode(s.ids, skip_special_tokens=True).encode("utf-8"))
    os.replace(path + ".tmp", path)


def write_gguf_vocab(path, gguf_path):
    import gguf
    r = gguf.GGUFReader(gguf_path)

    def val(k, default=None):
        f = r.fields.get(k)
        return f.contents() if f is not None else default

    tokens = val("tokenizer.ggml.tokens")
    types = val("tokenizer.ggml.token_type", [1] * len(tokens))
    scores = val("tokenizer.ggml.scores", [0.0] * len(tokens))
    merges = val("tokenizer.ggml.merges", [])
    with open(path + ".tmp", "wb") as f:
        f.write(b"LCTKVOC1")
        put_bytes(f, val("tokenizer.ggml.model").encode())
        put_bytes(f, (val("tokenizer.ggml.pre") or "default").encode())
        f.write(struct.pack("<4i", val("tokenizer.ggml.bos_token_id", -1),
                            val("tokenizer.ggml.eos_token_id", -1),
                            val("tokenizer.ggml.unknown_token_id", -1),
                            int(bool(val("tokenizer.ggml.add_bos_token", False)))))
        f.write(struct.pack("<I", len(tokens)))
        for t, ty, sc in zip(tokens, types, scores):
            put_bytes(f, t.encode("utf-8"))
            f.write(struct.pack("<if", ty, sc))
        f.write(struct.pack("<I", len(merges)))
        for m in merges:
            put_bytes(f, m.encode("utf-8"))
        put_bytes(f, (val("tokenizer.chat_template") or "").encode("utf-8"))
    os.replace(path + ".tmp", path)


def main():
    shared, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    texts = build_cases(shared)
    assert len(texts) >= 2000, len(texts)
    fx = os.path.join(shared, "fixtures")
    for name, rel in (("smollm", "tokenizers/smollm/tokenizer.json"),
                      ("gpt2", "tokenizers/gpt2/tokenizer.json"),
                      ("stories", "models/stories260K-hf/tokenizer.json")):
        write_cases(os.path.join(out, "cases_%s.bin" % name), os.path.join(fx, rel), texts)
        if name != "smollm":
            flag_json = os.path.join(out, "%s_flags.json" % name)
            write_flag_tokenizer(os.path.join(fx, rel), flag_json)
            write_cases(os.path.join(out, "cases_%s_flags.bin" % name), flag_json, texts)
    for norm in ("NFC", "NFKC"):
        path = os.path.join(out, "qwen2_style_%s.json" % norm.lower())
        qwen2_style_tokenizer(path, texts, norm)
        write_cases(os.path.join(out, "cases_qwen2_%s.bin" % norm.lower()), path, texts)
    if len(sys.argv) > 3 and os.path.exists(sys.argv[3]):
        write_gguf_vocab(os.path.join(out, "smollm_gguf_vocab.bin"), sys.argv[3])
    print("make_cases: %d strings -> %s" % (len(texts), out))


if __name__ == "__main__":
    main()
