#!/usr/bin/env python3
"""gen_fixtures.py — reference data for the loader tests (test oracle only).

  gen_fixtures.py gen <out_dir> <stories260K-hf dir>
      stories_ref/    selected stories260K tensors as read by Python's safetensors
      llama_f16/      tiny random LlamaForCausalLM saved by transformers in float16
      qwen2_bf16/     tiny random Qwen2ForCausalLM (q/k/v biases) in bfloat16
      llama_sharded/  tiny tied-embedding Llama in float32, split into shards + index
      mistral_sw/     tiny MistralForCausalLM (float32) with sliding_window 16
      dtypes.safetensors  one tensor of every dtype, scalar, empty, metadata
    Each <name>/ model dir has a <name>_ref/ dir: one raw little-endian float32
    file per tensor (<tensor name>.f32), values as torch converts them.
  gen_fixtures.py verify-written <file>
      check the file lorac's writer produced loads in Python's safetensors.
"""
import json
import os
import sys

import numpy as np


def dump_ref(ref_dir, tensors):
    os.makedirs(ref_dir, exist_ok=True)
    for name, arr in tensors.items():
        np.ascontiguousarray(arr, dtype="<f4").tofile(os.path.join(ref_dir, name + ".f32"))


def stories_refs(out, stories):
    from safetensors.numpy import load_file
    sd = load_file(os.path.join(stories, "model.safetensors"))
    names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
             "model.layers.2.self_attn.k_proj.weight", "model.layers.4.mlp.down_proj.weight",
             "model.layers.3.input_layernorm.weight", "model.norm.weight"]
    dump_ref(os.path.join(out, "stories_ref"), {n: sd[n] for n in names})


def randomize(model, torch, seed):
    """Weights with a spread of magnitudes (incl. values that are subnormal in f16)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for i, (name, p) in enumerate(sorted(model.named_parameters())):
            scale = [1e-6, 0.02, 1.0, 30.0][i % 4]
            p.copy_(torch.randn(p.shape, generator=g) * scale)


def save_model(out, name, model, torch, dtype, **kw):
    d = os.path.join(out, name)
    model = model.to(dtype)
    model.save_pretrained(d, **kw)
    ref = {k: v.to(torch.float32).numpy() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        ref.pop("lm_head.weight", None)
    dump_ref(os.path.join(out, name + "_ref"), ref)


def tiny_models(out):
    import torch
    from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                              Qwen2Config, Qwen2ForCausalLM)
    torch.manual_seed(0)
    common = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=96, max_position_embeddings=128)
    m = LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=False, rope_theta=50000.0,
                                     rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=[2, 3]))
    randomize(m, torch, 1)
    save_model(out, "llama_f16", m, torch, torch.float16)
    m = Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=False))
    randomize(m, torch, 2)
    save_model(out, "qwen2_bf16", m, torch, torch.bfloat16)
    m = LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=True))
    randomize(m, torch, 3)
    save_model(out, "llama_sharded", m, torch, torch.float32, max_shard_size="20KB")
    m = MistralForCausalLM(MistralConfig(**common, sliding_window=16, tie_word_embeddings=False))
    randomize(m, torch, 4)
    save_model(out, "mistral_sw", m, torch, torch.float32)


def dtypes_file(out):
    from safetensors.numpy import save_file
    t = {
        "f64": np.arange(6, dtype=np.float64).reshape(2, 3) * 0.5,
        "f32": np.arange(4, dtype=np.float32) - 1.5,
        "f16": np.array([1.0, -2.5, 65504.0], dtype=np.float16),
        "i64": np.array([-(2 ** 40), 7], dtype=np.int64),
        "i32": np.array([[-3, 4]], dtype=np.int32),
        "i16": np.array([-300, 301, 302], dtype=np.int16),
        "i8": np.arange(-5, 5, dtype=np.int8),
        "u8": np.array([0, 255, 17], dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "scalar": np.array(3.25, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }
    save_file(t, os.path.join(out, "dtypes.safetensors"), metadata={"format": "pt", "note": "lorac"})


def verify_written(path):
    from safetensors import safe_open
    from safetensors.numpy import load_file
    sd = load_file(path)
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    want = {
        "a.u8": np.array([1, 2, 3], dtype=np.uint8),
        "b.f32": (np.arange(6, dtype=np.float32) * 0.25).reshape(2, 3),
        "c.i16": np.array([-7, 8, 9, 10, 11], dtype=np.int16),
        "d.f64": np.array([1.5, -2.0], dtype=np.float64),
        "e.scalar": np.array(42, dtype=np.int64),
    }
    bad = 0
    for k, v in want.items():
        ok = k in sd and sd[k].dtype == v.dtype and sd[k].shape == v.shape and np.array_equal(sd[k], v)
        print(f"{k}: {'ok' if ok else 'MISMATCH'} {sd.get(k)!r}")
        bad += not ok
    if set(sd) != set(want):
        print("unexpected tensor set:", sorted(sd))
        bad += 1
    if meta != {"format": "pt", "lorac": "writer test"}:
        print("metadata mismatch:", meta)
        bad += 1
    print("verify-written:", "FAIL" if bad else "PASS")
    return 1 if bad else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "gen":
        out = sys.argv[2]
        os.makedirs(out, exist_ok=True)
        stories_refs(out, sys.argv[3])
        dtypes_file(out)
        tiny_models(out)
        with open(os.path.join(out, "DONE"), "w") as f:
            json.dump({"ok": True}, f)
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "verify-written":
        return verify_written(sys.argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
