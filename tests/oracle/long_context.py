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

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_refs  # noqa: E402  (the oracle case machinery)


def build_llama(out_dir):
    return make_refs.random_llama(out_dir, 2048, vocab_size=97, hidden_size=128, intermediate_size=192,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1,
                                  head_dim=32, max_position_embeddings=4096)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: long_context.py <test_oracle binary> [T]")
    T = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    make_refs.quiet_torch(2)
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
