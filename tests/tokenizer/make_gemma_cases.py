#!/usr/bin/env python3
"""make_gemma_cases.py — oracles for lorac's Gemma 3 tokenizer (262,144-token
SentencePiece vocabulary from the GGUF of google/gemma-3-270m).

Strings: make_cases.build_cases (the shared Q&A sets, code, CJK/Korean, emoji,
whitespace runs, invalid UTF-8, fuzz) plus Gemma-specific ones: runs of spaces,
tabs and newlines around the lengths of Gemma's whitespace-run tokens (1..31),
its control and user-defined tokens in text (<start_of_turn>, <bos>, HTML
tags, <start_of_image>, [multimodal]), leading spaces, U+2581, rendered chats.

Writes into OUT_DIR (case format: see make_cases.py):
  cases_gemma3_llamacpp.bin  ids from llama.cpp (llama-cpp-python,
        vocab_only=True; tokenize(add_bos, special=True)) and its detokenize
        (for skip_special: of the ids without the GGUF's control tokens, since
        llama.cpp turns the user-defined "</s>" into a control token as an
        end-of-generation marker while transformers keeps it as text);
  cases_gemma3_hf.bin        ids from transformers' AutoTokenizer built from
        the GGUF (gguf_file=...), via the tokenizer.json it saves;
  gemma3_hf/tokenizer.json   that tokenizer (lorac's tokenizer.json path);
  gemma3_oracles.txt         where the two oracles disagree, and their speed.
Invalid UTF-8 is given to both as bytes.decode("utf-8", "replace"), as lorac does.

The two oracles differ by design on two kinds of text, and the script fails on
any other disagreement: (1) runs of 32 or more spaces: llama.cpp matches the
user-defined space-run tokens (2..31 spaces, stored as real spaces) in the raw
text, longest first (31 + the rest, as SentencePiece's user-defined symbols),
while transformers respells them "▁▁..." and reaches them through merges
(16 + 16); (2) text with U+2581: transformers turns spaces into "▁" and spells
the space-run tokens with "▁", so "▁▁x" and "   ▁" give ▁-run tokens, while for
llama.cpp "▁" is only ever a single space ("   ▁" = "   " + "▁"). lorac's
GGUF path follows llama.cpp, its tokenizer.json path transformers.

Usage: make_gemma_cases.py SHARED_DIR OUT_DIR GGUF
"""
import os
import re
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_cases  # noqa: E402

CONTROL = ["<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>",
           "<start_of_image>", "<end_of_image>", "<unused0>", "<unused98>", "[multimodal]"]
HTML = ["<table>", "</table>", "<tr>", "<td>", "</td>", "<h1>", "</h1>", "<b>", "</b>", "<i>",
        "<s>", "</s>", "<code>", "</code>", "<a>", "<div>", "</div>", "<blockquote>", "<li>"]


def gemma_texts(rng):
    out = []
    for ch in (" ", "\t", "\n"):
        for k in list(range(1, 36)) + [40, 62, 63, 64, 100]:
            out += [ch * k, "a" + ch * k + "b", ch * k + "x", "x" + ch * k]
    for _ in range(200):  # mixed whitespace runs between words
        s = ""
        for _ in range(rng.randint(1, 6)):
            s += rng.choice(["", " ", "\t", "\n"]) * rng.randint(0, 34)
            s += rng.choice(["def", "x", "ñ", "중", "😀", "{", "}", "return", "1", "▁", "\r\n"])
        out.append(s)
    for _ in range(150):  # special / user-defined tokens inside text
        parts = [rng.choice(CONTROL + HTML + ["hello", " world", "  ", "\n", " ", "42", "한국어",
                                              "<start_of", "turn>", "<", ">", "</"])
                 for _ in range(rng.randint(1, 8))]
        out.append("".join(parts))
    out += [
        "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n",
        "<start_of_turn>user\nTranslate: 안녕하세요<end_of_turn>\n<start_of_turn>model\n",
        " leading space", "  two leading", "\u2581", "\u2581\u2581x", " \u2581 ", "x\u2581",
        "<table><tr><td>1</td><td>2</td></tr></table>", "<h1>Title</h1>\n\n<b>bold</b> <i>it</i>",
        "if (x) {\n\treturn y;\n\t\t}\n", "    def f(self):\n        pass\n", "\r\n\r\n",
        "a\u00a0b\u3000c", "<start_of_image>", "[multimodal] x", "<unused42>", "<bos>hi<eos>",
        "\u200b\u200d", "\ufeffBOM", "e\u0301", "\U0001F600\U0001F600", "\U0001F9D1\u200d\U0001F4BB",
    ]
    return out


def build_texts(shared):
    import random
    rng = random.Random(20250805)
    texts = make_cases.build_cases(shared)
    texts += [t.encode("utf-8") for t in gemma_texts(rng)]
    return texts


def write_case_file(path, texts, plain, special, dec_plain, dec_skip):
    with open(path + ".tmp", "wb") as f:
        f.write(b"LCTKCAS1")
        f.write(struct.pack("<I", len(texts)))
        for t, p, s, d, k in zip(texts, plain, special, dec_plain, dec_skip):
            make_cases.put_bytes(f, t)
            make_cases.put_ids(f, p)
            make_cases.put_ids(f, s)
            make_cases.put_bytes(f, d)
            make_cases.put_bytes(f, k)
    os.replace(path + ".tmp", path)


def llama_detokenize(vocab, ids, special):
    """llama.cpp's llama_detokenize (remove_special false; special: render control
    tokens). Not Llama.detokenize: that one reads each piece into 32 bytes and
    drops a leading space after BOS."""
    import ctypes
    import llama_cpp
    arr = (llama_cpp.llama_token * max(len(ids), 1))(*ids)
    cap = 64 + 8 * len(ids)
    while True:
        buf = ctypes.create_string_buffer(cap)
        n = llama_cpp.llama_detokenize(vocab, arr, len(ids), buf, cap, False, special)
        if n >= 0:
            return buf.raw[:n]
        cap = -n + 1


def gguf_token_types(gguf_path):
    import gguf
    return gguf.GGUFReader(gguf_path).fields["tokenizer.ggml.token_type"].contents()


def llamacpp_cases(gguf_path, strs):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    vocab = llm._model.vocab
    types = gguf_token_types(gguf_path)
    control = {i for i, t in enumerate(types) if t in (2, 3)}
    # user-defined in the GGUF, control in llama.cpp (its end-of-generation list: "</s>")
    promoted = {i for i, t in enumerate(types) if t == 4 and
                llama_cpp.llama_vocab_get_attr(vocab, i) & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL}
    t0 = time.perf_counter()
    plain = [llm.tokenize(s.encode("utf-8"), add_bos=False, special=True) for s in strs]
    dt = time.perf_counter() - t0
    special = [llm.tokenize(s.encode("utf-8"), add_bos=True, special=True) for s in strs]
    dec_plain, dec_skip = [], []
    for p, s in zip(plain, special):
        d = llama_detokenize(vocab, p, True)
        k = llama_detokenize(vocab, [i for i in s if i not in control], True)
        if not promoted & set(s):  # the same as llama.cpp's own skipping
            assert k == llama_detokenize(vocab, s, False), s
        d.decode("utf-8"), k.decode("utf-8")  # valid input text decodes to valid UTF-8
        dec_plain.append(d)
        dec_skip.append(k)
    return plain, special, dec_plain, dec_skip, dt


def hf_tokenizer_json(gguf_path, out_dir):
    """transformers' tokenizer from the GGUF, saved as tokenizer.json; returns its path."""
    from transformers import AutoTokenizer
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(gguf_path)),
                                        gguf_file=os.path.basename(gguf_path))
    build = time.perf_counter() - t0
    d = os.path.join(out_dir, "gemma3_hf")
    tok.save_pretrained(d)
    return tok, os.path.join(d, "tokenizer.json"), build


def main():
    shared, out, gguf_path = sys.argv[1], sys.argv[2], sys.argv[3]
    if not os.path.exists(gguf_path):
        sys.exit("make_gemma_cases: %s is missing (run scripts/fetch_gemma3.sh)" % gguf_path)
    os.makedirs(out, exist_ok=True)
    texts = build_texts(shared)
    assert len(texts) >= 2000, len(texts)
    strs = [t.decode("utf-8", "replace") for t in texts]

    plain, special, dp, ds, dt_llama = llamacpp_cases(gguf_path, strs)
    write_case_file(os.path.join(out, "cases_gemma3_llamacpp.bin"), texts, plain, special, dp, ds)

    tok, tok_json, build = hf_tokenizer_json(gguf_path, out)
    t0 = time.perf_counter()
    auto_ids = [tok.encode(s, add_special_tokens=False) for s in strs]
    dt_hf = time.perf_counter() - t0
    make_cases.write_cases(os.path.join(out, "cases_gemma3_hf.bin"), tok_json, texts)
    # the saved tokenizer.json must be the tokenizer AutoTokenizer built
    from tokenizers import Tokenizer
    saved = Tokenizer.from_file(tok_json)
    same = sum(saved.encode(s, add_special_tokens=False).ids == a for s, a in zip(strs, auto_ids))
    assert same == len(strs), "tokenizer.json differs from AutoTokenizer on %d strings" % (len(strs) - same)

    differ = [i for i, a in enumerate(auto_ids) if a != plain[i]]
    kinds = {"space run >= 32": 0, "U+2581 in the text": 0}
    for i in differ:
        if re.search(" {32,}", strs[i]):
            kinds["space run >= 32"] += 1
        elif "\u2581" in strs[i]:
            kinds["U+2581 in the text"] += 1
        else:
            sys.exit("make_gemma_cases: llama.cpp and transformers disagree on %r: %s vs %s"
                     % (strs[i], plain[i], auto_ids[i]))
    n_bytes = sum(len(s.encode("utf-8")) for s in strs)
    n_tok = sum(len(p) for p in plain)
    with open(os.path.join(out, "gemma3_oracles.txt"), "w") as f:
        f.write("strings %d, bytes %d, llama.cpp tokens %d\n" % (len(strs), n_bytes, n_tok))
        f.write("llama.cpp vs transformers: %d strings differ (%s)\n"
                % (len(differ), ", ".join("%s: %d" % kv for kv in kinds.items())))
        for i in differ[:40]:
            f.write("  %r\n    llama.cpp    %s\n    transformers %s\n" % (strs[i][:80], plain[i][:20], auto_ids[i][:20]))
        f.write("speed: llama.cpp tokenize %.3f s (%.2f MB/s), transformers encode %.3f s (%.2f MB/s), "
                "transformers tokenizer build from GGUF %.1f s\n"
                % (dt_llama, n_bytes / dt_llama / 1e6, dt_hf, n_bytes / dt_hf / 1e6, build))
    print("make_gemma_cases: %d strings; llama.cpp and transformers differ on %d (%s) -> %s"
          % (len(strs), len(differ), kinds, out))


if __name__ == "__main__":
    main()
