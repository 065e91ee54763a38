#!/usr/bin/env python3
"""
make_refs_bf16.py — PyTorch references for lorac's `precision: bf16`.

For each oracle case (same model, batch and initial A/B as make_refs.py's
committed <case>_ref.safetensors), writes tests/fixtures/oracle/<case>_bf16_ref.safetensors:

  bf16def.logits (B,T,V), bf16def.loss (1), <peft name>.grad.bf16def
      lorac's bf16 definition computed exactly (float64): every frozen
      projection (q, k, v, o, gate, up, down) is y = bf16(x) · bf16(W)^T (+ b)
      and its backward to the input dx = bf16(dy) · bf16(W) (bf16() = round to
      nearest even, as torch's .to(torch.bfloat16)); LoRA A/B, norms,
      attention, the LM head and the loss unrounded. lorac's fp32 evaluation
      of the same definition differs only by fp32 rounding (and the rare bf16
      rounding flip of an input that fp32 puts on the other side of a bf16
      rounding midpoint).
  autocast.logits, autocast.loss, <peft name>.grad.autocast
      the usual PyTorch mixed precision: fp32 model + PEFT under
      torch.autocast("cpu", dtype=torch.bfloat16) (Trainer's bf16=True): every
      linear (also LoRA and the LM head) and attention's matmuls in bf16 with
      bf16 outputs; loss from the logits in fp32.

Usage:  python3 tests/oracle/make_refs_bf16.py   (needs the fp32 refs of make_refs.py)
"""
import os
import sys
import warnings

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_refs import (FIXTURES, LORA_ALPHA, LORA_R, STORIES, TARGETS,  # noqa: E402
                       loss_fn, ref_name, save_sorted)


def rb(t):
    """Round to bf16 (nearest even) and back to t's dtype."""
    return t.to(torch.bfloat16).to(t.dtype)


class Bf16Linear(torch.autograd.Function):
    """y = bf16(x) · bf16(W)^T + b; dx = bf16(dy) · bf16(W); W, b frozen."""

    @staticmethod
    def forward(ctx, x, w, b):
        wr = rb(w)
        ctx.save_for_backward(wr)
        y = F.linear(rb(x), wr)
        return y + b if b is not None else y

    @staticmethod
    def backward(ctx, dy):
        (wr,) = ctx.saved_tensors
        return rb(dy) @ wr, None, None


def patch_base_layers(pm):
    """Route every LoRA-wrapped base Linear through Bf16Linear."""
    n = 0
    for mod in pm.modules():
        base = getattr(mod, "base_layer", None)
        if isinstance(base, torch.nn.Linear):
            base.forward = (lambda lin: lambda x: Bf16Linear.apply(x, lin.weight, lin.bias))(base)
            n += 1
    return n


def peft_model(model_dir, ref, dtype):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    model.to(dtype)
    lcfg = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, target_modules=TARGETS, lora_dropout=0.0, bias="none")
    pm = get_peft_model(model, lcfg).eval()
    lora = [(n, p) for n, p in pm.named_parameters() if p.requires_grad]
    with torch.no_grad():
        for n, p in lora:
            p.copy_(ref[ref_name(n)].to(dtype))
    return pm, lora


def run(pm, lora, tokens, targets, autocast):
    """logits, loss, {peft name: grad}; float64 stays float64."""
    pm.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = pm(input_ids=tokens).logits
    logits = logits.float() if autocast else logits
    loss, _ = loss_fn(logits, targets)
    loss.backward()
    grads = {ref_name(n): p.grad.detach().clone() for n, p in lora}
    return logits.detach(), loss.detach().reshape(1), grads


def bf16def(model_dir, ref, tokens, targets, dtype):
    pm, lora = peft_model(model_dir, ref, dtype)
    assert patch_base_layers(pm) == len(lora) // 2
    return run(pm, lora, tokens, targets, autocast=False)


def flip_atol(out, key, f64, f32, rtol):
    """key's tolerance: rtol * max|ref| (the fp32 oracle's), or 4x the distance
    between fp32 and float64 evaluations of the same bf16 definition where
    that is larger. Both round the same values to bf16, except an input that
    fp32 puts on the other side of a bf16 rounding midpoint: it moves by a
    whole bf16 step (2^-8 relative) instead of fp32's 2^-24, and a model with
    sharp logits amplifies such flips (stories260K: 3e-3 of max|logits|)."""
    atol = max(rtol * f64.abs().max().item(), 4 * (f64 - f32.double()).abs().max().item())
    out[key + "_atol"] = torch.tensor([atol], dtype=torch.float32)
    return atol / max(f64.abs().max().item(), 1e-30)


def make_case(case, model_dir):
    ref = load_file(os.path.join(FIXTURES, f"{case}_ref.safetensors"))
    tokens, targets = ref["tokens"].long(), ref["targets"].long()
    out = {}
    logits, loss, grads = bf16def(model_dir, ref, tokens, targets, torch.float64)
    l32, s32, g32 = bf16def(model_dir, ref, tokens, targets, torch.float32)
    out["bf16def.logits"], out["bf16def.loss"] = logits, loss
    out.update({k + ".grad.bf16def": v for k, v in grads.items()})
    worst = [flip_atol(out, "bf16def.logits", logits, l32, 1e-5), flip_atol(out, "bf16def.loss", loss, s32, 1e-5)]
    worst += [max(flip_atol(out, k + ".grad.bf16def", grads[k], g32[k], 1e-4) for k in grads)]
    print(f"{case}: bf16def tolerances (of max|ref|): logits {worst[0]:.2e} loss {worst[1]:.2e} grads {worst[2]:.2e}")
    pm, lora = peft_model(model_dir, ref, torch.float32)
    logits_a, loss_a, grads_a = run(pm, lora, tokens, targets, autocast=True)
    out["autocast.logits"], out["autocast.loss"] = logits_a, loss_a
    out.update({k + ".grad.autocast": v for k, v in grads_a.items()})
    # how far each is from the fp32 reference, relative to max|fp32|
    def rel(a, b):
        return ((a - b).abs().max() / b.abs().max()).item()
    gworst = lambda g: max(rel(g[k], ref[k + ".grad"]) for k in g)  # noqa: E731
    print(f"{case}: loss fp32 {ref['loss'].item():.6f} bf16def {loss.item():.6f} autocast {loss_a.item():.6f}")
    print(f"  vs fp32: logits bf16def {rel(logits, ref['logits']):.3e} autocast {rel(logits_a, ref['logits']):.3e}; "
          f"grads bf16def {gworst(grads):.3e} autocast {gworst(grads_a):.3e}")
    meta = {"case": case, "torch": torch.__version__, "generator": "tests/oracle/make_refs_bf16.py"}
    path = os.path.join(FIXTURES, f"{case}_bf16_ref.safetensors")
    save_sorted({k: v.float().contiguous() for k, v in out.items()}, path, meta)
    print(f"  wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    make_case("tiny-qwen2", os.path.join(FIXTURES, "tiny-qwen2"))
    if not os.path.isdir(STORIES):
        sys.exit(f"{STORIES}: not found (the stories260K-hf fixture lives in ../shared)")
    make_case("stories260K", STORIES)


if __name__ == "__main__":
    main()
