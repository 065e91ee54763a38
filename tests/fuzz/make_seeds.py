#!/usr/bin/env python3
"""make_seeds.py — writes the committed seed corpus of the fuzz stage
(tests/fuzz/corpus/<target>/), small valid files of each format lorac
parses. Standard library only; the HDF5 adapter seed comes from
`fuzz_driver make-adapter` (lorac's own writer, for fuzz_driver's tiny model).

Usage: make_seeds.py CORPUS_DIR [FUZZ_DRIVER]
"""
import json
import os
import struct
import subprocess
import sys

out = sys.argv[1]


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# safetensors: u64 header length, JSON header (8-byte padded), data
def safetensors(tensors, meta):
    hdr, blob = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    hdr["__metadata__"] = meta
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


put("safetensors", "two.safetensors", safetensors(
    {"a": ("F32", [2, 3], struct.pack("<6f", *range(6))), "b": ("F16", [4], b"\x00\x3c" * 4),
     "c": ("BF16", [1, 2], b"\x80\x3f" * 2)}, {"format": "pt"}))
put("safetensors", "empty.safetensors", safetensors({"z": ("I64", [0], b"")}, {}))


# GGUF v3: header, KVs, tensor infos, aligned data
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf():
    kv = [gstr("general.architecture") + struct.pack("<I", 8) + gstr("llama"),
          gstr("llama.block_count") + struct.pack("<II", 4, 2),
          gstr("general.alignment") + struct.pack("<II", 4, 32),
          gstr("llama.rope.freq_base") + struct.pack("<If", 6, 10000.0),
          gstr("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + gstr("<s>") + gstr("a") + gstr("b")]
    ti = [gstr("token_embd.weight") + struct.pack("<IQQIQ", 2, 4, 3, 0, 0),
          gstr("output_norm.weight") + struct.pack("<IQIQ", 1, 4, 0, 64)]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(ti), len(kv)) + b"".join(kv) + b"".join(ti)
    head += b"\x00" * ((32 - len(head) % 32) % 32)
    data = struct.pack("<12f", *range(12)) + b"\x00" * 16 + struct.pack("<4f", 1, 1, 1, 1)
    return head + data


put("gguf", "tiny.gguf", gguf())

# tokenizer.json: a byte-level BPE (GPT-2 / Qwen style) and a Metaspace one (Llama / SentencePiece style)
bytes_vocab = {chr(c) if 33 <= c <= 126 else f"<0x{c:02X}>": i for i, c in enumerate(range(256))}
bl = {"version": "1.0", "truncation": None, "padding": None,
      "added_tokens": [{"id": 300, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                        "rstrip": False, "normalized": False, "special": True}],
      "normalizer": None,
      "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
      "post_processor": None, "decoder": {"type": "ByteLevel"},
      "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False, "byte_fallback": False,
                "vocab": {**{k: v for k, v in list(bytes_vocab.items())[:256]}, "Ġ": 256, "he": 257, "ll": 258,
                          "Ġw": 259},
                "merges": ["h e", "l l", "Ġ w"]}}
put("tokenizer", "bytelevel.json", json.dumps(bl))
ms = {"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>", "special": True},
                                         {"id": 1, "content": "<s>", "special": True},
                                         {"id": 2, "content": "</s>", "special": True}],
      "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                         {"type": "Replace", "pattern": {"String": " "},
                                                          "content": "▁"}]},
      "pre_tokenizer": None,
      "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                  {"Sequence": {"id": "A", "type_id": 0}}],
                         "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
      "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                   {"type": "ByteFallback"}, {"type": "Fuse"},
                                                   {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
      "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"<0x{c:02X}>": 3 + c for c in range(256)},
                          "▁": 259, "H": 260, "e": 261, "l": 262, "o": 263, "▁H": 264, "ll": 265},
                "merges": ["▁ H", "l l"]}}
put("tokenizer", "metaspace.json", json.dumps(ms, ensure_ascii=False))

# data
put("jsonl", "pc.jsonl", "".join(json.dumps({"prompt": f"Q{i}?", "completion": f" A{i}."}) + "\n" for i in range(4)))
put("jsonl", "chat.jsonl", json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                                    {"role": "user", "content": "Hi\n\"there\""},
                                                    {"role": "assistant", "content": "Hello ☺"}]}) + "\n")
put("jsonl", "alpaca.jsonl", json.dumps({"instruction": "Add", "input": "1 2", "output": "3"}) + "\n")
put("jsonl", "text.jsonl", json.dumps({"text": "plain text row"}) + "\n")
put("csv", "qa.csv", 'prompt,completion,extra\n"What, exactly?","It ""is"" this.",x\nplain,"multi\nline",\r\n')
# yaml
put("yaml", "run.yaml", "# a run\nmodel: m\ndata: d.jsonl\nr: 8\nalpha: 16\nlr: 3e-4\n"
    "target_modules: [q_proj, v_proj]\nmax_steps: 10\nsplit: 0.1\nchat_template: chatml\nskip_bad_rows: true\n")
put("yaml", "flow.yaml", "{model: m, data: d.csv, lora_r: 4, lr_scheduler_type: cosine, warmup_ratio: 0.1,\n"
    " csv_prompt_column: q, csv_completion_column: a, seed: 7, packing: yes}\n")

if len(sys.argv) > 2:
    os.makedirs(os.path.join(out, "adapter"), exist_ok=True)
    subprocess.run([sys.argv[2], "make-adapter", os.path.join(out, "adapter", "tiny.h5")], check=True)
