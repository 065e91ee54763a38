#!/usr/bin/env python3
"""
make_refs_gpt2.py — PyTorch/PEFT oracle for lorac's GPT-2 forward, backward
and AdamW (the GPT-2 twin of tests/oracle/make_refs.py, whose batch, loss,
file-writing and float64 noise-floor helpers it reuses).

Writes
  tests/fixtures/oracle_gpt2/tiny-gpt2/          a random GPT2LMHeadModel (n_embd 64,
                                                 n_layer 2, n_head 4, n_inner 256, vocab 97,
                                                 n_positions 64), saved with save_pretrained
                                                 in float16 (half the bytes; lorac and torch
                                                 both widen it to float32 exactly)
  tests/fixtures/oracle_gpt2/tiny-gpt2_ref.safetensors
with the tensors of tests/oracle/README.md (tokens, targets, n_targets, meta.*,
initial lora_A/lora_B under their PEFT names, logits, base_logits, loss,
<name>.grad, losses_10, grad_norms_10, <name>.after10, <name>.after10_atol)
plus meta.n_params (model.num_parameters()).

LoRA: LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj", "c_fc"],
fan_in_fan_out=True) — "c_proj" matches attn.c_proj and mlp.c_proj — with
random non-zero A and B. CPU, float32, one thread, fixed seeds: a rerun
reproduces the files byte for byte on the same torch build.
Usage:  python3 tests/oracle_gpt2/make_refs_gpt2.py
"""
import json
import os
import sys
import warnings

import torch
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "oracle"))
import make_refs as base  # noqa: E402  (shared helpers of the Llama-family oracle)

FIXTURES = os.path.join(REPO, "tests", "fixtures", "oracle_gpt2")
CASE = "tiny-gpt2"
MAX_FILE_BYTES = 400 * 1024


def build_tiny_gpt2(out_dir):
    """Random GPT-2 with non-trivial LayerNorm weights/biases and biases on
    every Conv1D; saved as an HF directory in float16."""
    cfg = GPT2Config(vocab_size=97, n_embd=64, n_layer=2, n_head=4, n_inner=None, n_positions=64,
                     activation_function="gelu_new", layer_norm_epsilon=1e-5, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    cfg._attn_implementation = "eager"
    model = GPT2LMHeadModel(cfg).float().eval()
    g = torch.Generator().manual_seed(4321)
    with torch.no_grad():
        for name, p in model.named_parameters():  # fixed order: module registration
            if ".ln_" in name or name.startswith("transformer.ln_f"):
                if name.endswith(".weight"):
                    p.copy_(0.5 + torch.rand(p.shape, generator=g))  # U(0.5, 1.5)
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("wte.weight"):
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith("wpe.weight"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            else:  # Conv1D weights (in, out)
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[0] ** 0.5)
    os.makedirs(out_dir, exist_ok=True)
    model.half().save_pretrained(out_dir)
    gen = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    with open(os.path.join(out_dir, "config.json")) as f:  # stable key order
        c = json.load(f)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    return out_dir


def run_case(model_dir, B, T, pad_tail, seed, dtype=torch.float32):
    from peft import LoraConfig, get_peft_model
    model = GPT2LMHeadModel.from_pretrained(model_dir, dtype=torch.float32,
                                            attn_implementation="eager").eval()
    n_params = model.num_parameters()
    model.to(dtype)
    lcfg = LoraConfig(r=base.LORA_R, lora_alpha=base.LORA_ALPHA, target_modules=["c_attn", "c_proj", "c_fc"],
                      fan_in_fan_out=True, lora_dropout=0.0, bias="none")
    pm = get_peft_model(model, lcfg)
    pm.eval()
    lora = [(n, p) for n, p in pm.named_parameters() if p.requires_grad]
    assert all(".lora_A." in n or ".lora_B." in n for n, _ in lora), "unexpected trainable params"
    assert len(lora) == model.config.n_layer * 4 * 2, len(lora)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for n, p in lora:
            if ".lora_A." in n:
                bound = 1.0 / p.shape[1] ** 0.5
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    V = model.config.vocab_size
    tokens, targets = base.make_batch(V, B, T, seed, pad_tail)
    out = {"tokens": tokens.to(torch.int32), "targets": targets.to(torch.int32)}
    for n, p in lora:
        out[base.ref_name(n)] = p.detach().clone()
    pm.zero_grad(set_to_none=True)
    logits = pm(input_ids=tokens).logits.to(dtype)
    loss, n_targets = base.loss_fn(logits, targets)
    loss.backward()
    out["logits"] = logits.detach().clone()
    out["loss"] = loss.detach().reshape(1).clone()
    out["n_targets"] = torch.tensor([n_targets], dtype=torch.int32)
    for n, p in lora:
        out[base.ref_name(n) + ".grad"] = p.grad.detach().clone()
    with torch.no_grad(), pm.disable_adapter():
        out["base_logits"] = pm(input_ids=tokens).logits.to(dtype).clone()
    params = [p for _, p in lora]
    opt = torch.optim.AdamW(params, **base.ADAMW)
    losses, norms = [], []
    for _ in range(base.N_STEPS):
        opt.zero_grad(set_to_none=True)
        lo, _ = base.loss_fn(pm(input_ids=tokens).logits, targets)
        lo.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, base.MAX_GRAD_NORM, foreach=False)
        opt.step()
        losses.append(lo.item())
        norms.append(gn.item())
    out["losses_10"] = torch.tensor(losses, dtype=dtype)
    out["grad_norms_10"] = torch.tensor(norms, dtype=dtype)
    for n, p in lora:
        out[base.ref_name(n) + ".after10"] = p.detach().clone()
    scaling = base.LORA_ALPHA / base.LORA_R
    out["meta.r"] = torch.tensor([base.LORA_R], dtype=torch.int32)
    out["meta.alpha"] = torch.tensor([base.LORA_ALPHA], dtype=torch.float32)
    out["meta.scaling"] = torch.tensor([scaling], dtype=torch.float32)
    out["meta.n_params"] = torch.tensor([n_params], dtype=torch.int32)
    meta = {"case": CASE, "r": str(base.LORA_R), "alpha": str(base.LORA_ALPHA), "scaling": str(scaling),
            "B": str(B), "T": str(T), "n_targets": str(n_targets), "target_modules": "c_attn,c_proj,c_fc",
            "fan_in_fan_out": "true", "lr": "1e-2", "betas": "0.9,0.999", "eps": "1e-8",
            "weight_decay": "0.01", "max_grad_norm": "1.0", "torch": torch.__version__,
            "generator": "tests/oracle_gpt2/make_refs_gpt2.py"}
    out = {k: v.contiguous() for k, v in out.items()}
    diff = (out["logits"] - out["base_logits"]).abs().max().item()
    print(f"{CASE} ({dtype}): B={B} T={T} n_targets={n_targets} loss={loss.item():.6f} "
          f"max|logits-base|={diff:.3e} params={n_params}")
    print(f"  losses_10: {' '.join(f'{x:.5f}' for x in losses)}")
    print(f"  grad_norms_10: {' '.join(f'{x:.4f}' for x in norms)}")
    return out, meta


def main():
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    d = build_tiny_gpt2(os.path.join(FIXTURES, CASE))
    kw = dict(B=2, T=24, pad_tail=5, seed=11)
    out, meta = run_case(d, **kw)
    f64, _ = run_case(d, dtype=torch.float64, **kw)
    base.f64_check(out, f64)
    path = os.path.join(FIXTURES, f"{CASE}_ref.safetensors")
    base.save_sorted(out, path, meta)
    check = base.load_file(path)
    assert all(torch.equal(check[k], out[k]) for k in out), path
    size = os.path.getsize(path)
    print(f"  wrote {path} ({size} bytes)")
    if size > MAX_FILE_BYTES:
        sys.exit(f"{path}: {size} bytes, over the {MAX_FILE_BYTES} byte budget")


if __name__ == "__main__":
    main()
