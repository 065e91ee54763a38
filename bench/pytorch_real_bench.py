#!/usr/bin/env python3
"""
pytorch_real_bench.py — the PyTorch + PEFT side of lorac's real-data training
benchmark (bench/bench_real_jobs.py): SmolLM2-135M-Instruct from the GGUF
lorac trains (every tensor dequantised to fp32 with the `gguf` package, q/k
rows un-permuted, as tests/infer/smollm2_ref.py does), LoRA r=8 alpha=16
dropout 0.05 on all seven projections, AdamW lr 1e-3, on the rows of a
prompt/completion jsonl file rendered as SmolLM2's ChatML (default system
message, as `chat_template: auto` renders it) and tokenised with the shared
SmolLM tokenizer.json, cut at --max-len tokens. Loss on the answer tokens
only (labels -100 elsewhere).

Batches as `transformers` builds them by default: rows shuffled (seed 42),
--batch rows per micro-batch, padded to the longest row of the batch
(DataCollatorForSeq2Seq's padding=True: pad id, attention_mask 0, label
-100). A step is forward, loss, backward, clip_grad_norm 1.0 and AdamW.

Prints ONE JSON line:
  {"impl":"pytorch","real_tokens_per_s":..,"padded_tokens_per_s":..,
   "real_tokens":..,"padded_tokens":..,"timed_s":..,"peak_rss_mb":..,...}
over the --steps steps after --warmup untimed ones; real tokens are the
non-pad tokens of the timed batches.

usage: python3 bench/pytorch_real_bench.py --data train.jsonl [--gguf MODEL] [--tokenizer tokenizer.json]
       [--threads 2] [--steps 3] [--warmup 1] [--batch 8] [--max-len 512]
"""
import argparse
import json
import os
import random
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml_parts(prompt, completion):
    """(text without loss, text with loss) of one row, as lorac renders it."""
    head = (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{prompt}<|im_end|>\n"
            f"<|im_start|>assistant\n")
    return head, f"{completion}<|im_end|>\n"


def load_rows(path, tok, max_len):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            ex = json.loads(line)
            head, tail = chatml_parts(ex["prompt"], ex["completion"])
            a = tok.encode(head, add_special_tokens=False).ids
            b = tok.encode(tail, add_special_tokens=False).ids
            ids = (a + b)[:max_len]
            labels = ([-100] * len(a) + b)[:max_len]
            if any(x != -100 for x in labels[1:]):
                rows.append((ids, labels))
    return rows


def load_model(gguf_path):
    sys.path.insert(0, os.path.join(ROOT, "tests", "infer"))
    import gguf
    import numpy as np
    import torch
    from smollm2_ref import field, unpermute
    from transformers import LlamaConfig, LlamaForCausalLM
    r = gguf.GGUFReader(gguf_path)
    n_head, n_kv = int(field(r, "llama.attention.head_count")), int(field(r, "llama.attention.head_count_kv"))
    cfg = LlamaConfig(
        vocab_size=int(field(r, "llama.vocab_size")), hidden_size=int(field(r, "llama.embedding_length")),
        intermediate_size=int(field(r, "llama.feed_forward_length")),
        num_hidden_layers=int(field(r, "llama.block_count")), num_attention_heads=n_head,
        num_key_value_heads=n_kv, max_position_embeddings=int(field(r, "llama.context_length")),
        rms_norm_eps=float(field(r, "llama.attention.layer_norm_rms_epsilon")),
        rope_theta=float(field(r, "llama.rope.freq_base")), tie_word_embeddings=True)
    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight"}
    per_layer = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                 "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                 "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
                 "ffn_norm": "post_attention_layernorm"}
    state = {}
    for t in r.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(d) for d in reversed(t.shape)]) if len(t.shape) > 1 else w.reshape(-1)
        if t.name in names:
            hf = names[t.name]
        else:
            _, layer, kind, _ = t.name.split(".")
            hf = f"model.layers.{layer}.{per_layer[kind]}.weight"
            w = unpermute(w, n_head) if kind == "attn_q" else unpermute(w, n_kv) if kind == "attn_k" else w
        state[hf] = torch.from_numpy(np.ascontiguousarray(w))
    state["lm_head.weight"] = state["model.embed_tokens.weight"]
    model = LlamaForCausalLM(cfg).float()
    _, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    return model


def collate(rows, pad_id):
    """Pad to the longest row, as DataCollatorForSeq2Seq(padding=True) does."""
    import torch
    T = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    att = torch.zeros((len(rows), T), dtype=torch.long)
    lab = torch.full((len(rows), T), -100, dtype=torch.long)
    for i, (x, y) in enumerate(rows):
        ids[i, :len(x)], att[i, :len(x)], lab[i, :len(y)] = torch.tensor(x), 1, torch.tensor(y)
    return ids, att, lab


def main():
    ap = argparse.ArgumentParser(description="PyTorch+PEFT LoRA training on real variable-length rows")
    ap.add_argument("--data", required=True)
    ap.add_argument("--gguf", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "..", "shared", "fixtures", "tokenizers", "smollm",
                                                        "tokenizer.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-len", type=int, default=512)
    args = ap.parse_args()
    import torch
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    tok = Tokenizer.from_file(args.tokenizer)
    tok.no_padding()
    tok.no_truncation()
    rows = load_rows(args.data, tok, args.max_len)
    random.Random(42).shuffle(rows)
    need = (args.steps + args.warmup) * args.batch
    if len(rows) < need:
        sys.exit(f"pytorch_real_bench: {args.data} has {len(rows)} usable rows, {need} needed")
    pad_id = tok.token_to_id("<|im_end|>")
    model = get_peft_model(load_model(args.gguf), LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                                               "gate_proj", "up_proj", "down_proj"]))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
    real = padded = 0
    timed = 0.0
    for step in range(args.warmup + args.steps):
        batch = rows[step * args.batch:(step + 1) * args.batch]
        ids, att, lab = collate(batch, pad_id)
        t0 = time.perf_counter()
        loss = model(input_ids=ids, attention_mask=att, labels=lab).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            timed += dt
            real += int(att.sum())
            padded += ids.numel()
    print(json.dumps({
        "impl": "pytorch", "data": os.path.basename(os.path.dirname(os.path.abspath(args.data))),
        "real_tokens_per_s": round(real / timed, 1), "padded_tokens_per_s": round(padded / timed, 1),
        "real_tokens": real, "padded_tokens": padded, "timed_s": round(timed, 2), "steps": args.steps,
        "batch": args.batch, "threads": args.threads, "torch": torch.__version__,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 0)}))


if __name__ == "__main__":
    main()
