#!/usr/bin/env python3
"""
pytorch_lora_bench.py — the PyTorch + PEFT side of lorac's training benchmark.

The same job as bench/bench_train.c: random fp32 weights at the SmolLM2-135M
shape (LlamaForCausalLM: hidden 576, intermediate 1536, 30 layers, 9 heads,
3 KV heads, head_dim 64, vocab 49152, tied embeddings, rope_theta 1e5,
rms_norm_eps 1e-5), PEFT LoRA r=8 alpha=16 on q,k,v,o,gate,up,down, AdamW
(lr 2e-4, betas 0.9/0.999, eps 1e-8, no weight decay, clip_grad_norm 1.0),
B=4 x T=256 random tokens, next-token targets at every position but the last
of each row (B*(T-1) targets, mean CE), on CPU.

Times --steps full steps (forward, loss, backward, clip, optimizer step) after
--warmup untimed ones and prints ONE JSON line:
  {"impl":"pytorch","tokens_per_s":..,"peak_rss_mb":..,"step_s":..,"threads":..,"torch":..}
tokens_per_s = B*T / mean step time, as bench_train reports it.
peak_rss_mb is the process's peak resident set (getrusage ru_maxrss).

--mode picks PyTorch's precision (issue 11's three modes):
  fp32          everything fp32
  autocast      fp32 weights, forward under torch.autocast("cpu", bfloat16)
                (what Trainer's bf16=True does)
  bf16-weights  base weights stored in bf16 (torch_dtype=bfloat16), LoRA A/B in
                fp32, forward under autocast

--gguf X.gguf replaces the random SmolLM2-shape model by a real one on its
dequantised fp32 weights: a gemma3 GGUF (e.g. models/gemma-3-270m-q4_k_m.gguf)
through tests/gemma3/gemma3_torch.py, a llama GGUF through
bench/pytorch_real_bench.py's loader. bench_train --model X.gguf is lorac's side
(its base stays quantised; PyTorch has no Q4_K matmul, so fp32 is its closest).

usage: python3 bench/pytorch_lora_bench.py [--threads 2] [--steps 3] [--warmup 1]
       [--batch 4] [--seq 256] [--r 8] [--attn sdpa|eager] [--mode fp32|autocast|bf16-weights]
       [--gguf X.gguf]
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F


def main():
    ap = argparse.ArgumentParser(description="PyTorch+PEFT LoRA training throughput (SmolLM2-135M shape)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"],
                    help="attention implementation (sdpa is transformers' default)")
    ap.add_argument("--mode", default="fp32", choices=["fp32", "autocast", "bf16-weights"])
    ap.add_argument("--gguf", help="a real model (gemma3 or llama GGUF), dequantised to fp32")
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0 or args.batch < 1 or args.seq < 2 or args.r < 1:
        sys.exit("pytorch_lora_bench: --steps, --batch, --r >= 1, --seq >= 2, --warmup >= 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()

    if args.gguf:
        model = load_gguf(args.gguf)
        cfg = model.config
        cfg._attn_implementation = args.attn
    else:
        cfg = LlamaConfig(
            vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
            num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=2048,
            rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, hidden_act="silu",
            attention_bias=False, mlp_bias=False, bos_token_id=1, eos_token_id=2,
        )
        cfg._attn_implementation = args.attn
        model = LlamaForCausalLM(cfg).float()  # random N(0, 0.02) weights
    if args.mode == "bf16-weights":
        model = model.to(torch.bfloat16)
    lcfg = LoraConfig(r=args.r, lora_alpha=2 * args.r, lora_dropout=0.0, bias="none",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                      "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, lcfg)
    if args.mode == "bf16-weights":  # LoRA A/B (and so their grads and AdamW state) in fp32
        for p in model.parameters():
            if p.requires_grad:
                p.data = p.data.float()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)

    B, T, V = args.batch, args.seq, cfg.vocab_size
    tokens = torch.randint(0, V, (B, T))
    targets = tokens[:, 1:]

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.mode != "fp32"):
            logits = model(input_ids=tokens).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V).float(), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    dt = (time.perf_counter() - t0) / args.steps
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({
        "impl": "pytorch", "tokens_per_s": round(B * T / dt, 1), "peak_rss_mb": round(peak_kb / 1024),
        "step_s": round(dt, 3), "threads": args.threads, "torch": torch.__version__,
        "B": B, "T": T, "r": args.r, "attn": args.attn, "loss": round(loss, 4), "mode": args.mode,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "model": args.gguf or "random-smollm2-shape",
    }))


def load_gguf(path):
    """transformers model (fp32) on the dequantised weights of a gemma3 or llama GGUF."""
    import gguf
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    arch = gguf.GGUFReader(path).fields["general.architecture"].contents()
    if arch == "gemma3":
        sys.path.insert(0, os.path.join(root, "tests", "gemma3"))
        from gemma3_torch import reference_model
        return reference_model(path, threads=torch.get_num_threads())[0]
    sys.path.insert(0, os.path.join(root, "bench"))
    from pytorch_real_bench import load_model
    return load_model(path)


if __name__ == "__main__":
    main()
