#!/usr/bin/env python3
"""
long_context.py — lorac against PyTorch + PEFT at T = 2048 (ctest
oracle_long_context): the tiled attention kernel over many query and key
tiles, in a full LoRA forward, backward and 10 AdamW steps.

Builds a random LlamaForCausalLM with transformers in a temporary directory
(hidden 128, 2 layers, 4 query heads over 1 kv head = GQA 4, head_dim 32,
vocab 97, max_position 4096), computes the references with make_refs.py's
run_case (eager attention, float32, and float64 for the after10
tolerances), writes them with make_refs.save_sorted, then runs test_oracle
(path in argv[1]) on the pair and exits with its status. Nothing is
committed; fixed seeds. Fails (not skips) when torch/transformers/peft are
missing: the imports below raise.

Usage: long_context.py <test_oracle binary> [T]
"""
import os
import subprocess
import sys
import tempfile
import warnings

import torch
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.utils import logging as hf_logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_refs  # noqa: E402  (the oracle case machinery)


def build_llama(out_dir):
    cfg = LlamaConfig(vocab_size=97, hidden_size=128, intermediate_size=192,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                      head_dim=32, max_position_embeddings=4096, rms_norm_eps=1e-6,
                      rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu",
                      attention_bias=False, mlp_bias=False, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(cfg).float().eval()
    g = torch.Generator().manual_seed(2048)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:  # (out, in): unit-variance outputs, so attention is not uniform
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    model.save_pretrained(out_dir)
    return out_dir


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: long_context.py <test_oracle binary> [T]")
    T = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="lorac_long_") as tmp:
        d = build_llama(os.path.join(tmp, "llama"))
        kw = dict(B=1, T=T, pad_tail=37, seed=11)
        out, meta = make_refs.run_case("long-llama", d, **kw)
        f64, _ = make_refs.run_case("long-llama", d, dtype=torch.float64, **kw)
        make_refs.f64_check(out, f64)
        ref = os.path.join(tmp, "long_ref.safetensors")
        make_refs.save_sorted(out, ref, meta)
        r = subprocess.run([sys.argv[1], d, ref])
        sys.exit(r.returncode)


if __name__ == "__main__":
    main()
