#!/usr/bin/env python3
"""
dora_oracle.py — lorac's DoRA against PEFT's (use_dora=True) on a whole model
(ctest oracle_dora_*): logits, loss, every lora_A / lora_B / magnitude
gradient, then 3 AdamW steps (loss and pre-clip grad norm before each, every
parameter after).

The model is the committed tiny-qwen2 fixture (Qwen2: GQA, q/k/v biases —
PEFT subtracts the bias from the base result, so the bias path is checked).
With QTYPE q8_0 / q4_1 every projection weight is first quantised with
gguf-python (bit-identical to lc_quantize: tests/quant) and dequantised to
float32; that is the weight PEFT's DoRA sees (dequantize_module_weight), and
test_dora_oracle quantises the same weights with lc_quantize, so lorac's
engine runs its quantised path against the same numbers.

The adapter: r 4, alpha 8, all seven projections, no dropout; A kaiming-like,
B = 0.05·N(0,1) (non-zero so that ‖W + sBA‖ differs from ‖W‖), magnitude =
‖W + sBA‖ per row × U(0.8, 1.2) (so m/‖…‖ ≠ 1 and every term of PEFT's
formula is exercised). The case is also run in float64: the float32 noise is
printed and sets the after-3-steps tolerance like make_refs.f64_check.

Usage: dora_oracle.py <test_dora_oracle binary> <f32|q8_0|q4_1>
Fails (never skips) when torch / transformers / peft / gguf are missing.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from gguf import GGMLQuantizationType as QT
from gguf import quants
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_refs  # noqa: E402  (batch, loss and writer of the oracle cases)

MODEL = os.path.join(make_refs.FIXTURES, "tiny-qwen2")
R, ALPHA, STEPS = 4, 8, 3
QTYPES = {"f32": None, "q8_0": QT.Q8_0, "q4_1": QT.Q4_1}


def ref_name(n):
    """PEFT parameter name -> the name PEFT saves (adapter name dropped)."""
    return n.replace(".default.weight", ".weight").replace("lora_magnitude_vector.weight", "lora_magnitude_vector")


def run(qtype, dtype):
    model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32, attn_implementation="eager").eval()
    if QTYPES[qtype] is not None:
        with torch.no_grad():
            for n, mod in model.named_modules():
                if n.split(".")[-1] in make_refs.TARGETS:
                    w = mod.weight.detach().numpy().astype(np.float32)
                    q = quants.quantize(w, QTYPES[qtype])
                    mod.weight.copy_(torch.from_numpy(quants.dequantize(q, QTYPES[qtype]).reshape(w.shape)))
    model.to(dtype)
    cfg = LoraConfig(r=R, lora_alpha=ALPHA, target_modules=make_refs.TARGETS, lora_dropout=0.0, bias="none",
                     use_dora=True)
    pm = get_peft_model(model, cfg)
    pm.eval()
    params = [(n, p) for n, p in pm.named_parameters() if p.requires_grad]
    assert len(params) == model.config.num_hidden_layers * 7 * 3, len(params)
    g = torch.Generator().manual_seed(515)
    s = ALPHA / R
    with torch.no_grad():
        for n, p in params:  # A and B first (sorted: lora_A < lora_B < lora_magnitude_vector per module)
            if ".lora_A." in n:
                p.copy_(((torch.rand(p.shape, generator=g) * 2 - 1) / p.shape[1] ** 0.5).to(dtype))
            elif ".lora_B." in n:
                p.copy_((0.05 * torch.randn(p.shape, generator=g)).to(dtype))
        mods = dict(pm.named_modules())
        for n, p in params:
            if "lora_magnitude_vector" in n:
                mod = mods[n.split(".lora_magnitude_vector")[0]]
                W = mod.base_layer.weight
                BA = mod.lora_B["default"].weight @ mod.lora_A["default"].weight
                norm = torch.linalg.norm(W + s * BA, dim=1)
                p.copy_(norm * (0.8 + 0.4 * torch.rand(p.shape, generator=g)).to(dtype))
    V = model.config.vocab_size
    tokens, targets = make_refs.make_batch(V, 2, 16, 7, 5)
    out = {"tokens": tokens.to(torch.int32), "targets": targets.to(torch.int32)}
    for n, p in params:
        out[ref_name(n)] = p.detach().clone()
    logits = pm(input_ids=tokens).logits
    loss, n_targets = make_refs.loss_fn(logits, targets)
    loss.backward()
    out["logits"], out["loss"] = logits.detach().clone(), loss.detach().reshape(1).clone()
    out["n_targets"] = torch.tensor([n_targets], dtype=torch.int32)
    for n, p in params:
        out[ref_name(n) + ".grad"] = p.grad.detach().clone()
    make_refs.adamw_steps(pm, params, tokens, targets, STEPS, make_refs.ADAMW, dtype, out, ref_name)
    out["meta.r"] = torch.tensor([R], dtype=torch.int32)
    out["meta.alpha"] = torch.tensor([ALPHA], dtype=torch.float32)
    out["meta.scaling"] = torch.tensor([s], dtype=torch.float32)
    return {k: v.contiguous() for k, v in out.items()}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in QTYPES:
        sys.exit("usage: dora_oracle.py <test_dora_oracle binary> <f32|q8_0|q4_1>")
    make_refs.quiet_torch(1)
    qtype = sys.argv[2]
    out = run(qtype, torch.float32)
    f64 = run(qtype, torch.float64)
    worst = {}
    for k, v in list(out.items()):
        if not v.is_floating_point() or k.startswith("meta."):
            continue
        w = f64[k]
        err = (v.double() - w).abs().max().item()
        scale = w.abs().max().item()
        kind = k.rsplit(".", 1)[-1] if k.endswith((".grad", ".after3")) else k.split(".")[-1]
        worst[kind] = max(worst.get(kind, 0.0), err / scale if scale > 0 else err)
        if k.endswith(".after3"):  # as make_refs.f64_check: 1e-4 max|ref| unless float32 noise is larger
            out[k + "_atol"] = torch.tensor([max(1e-4 * v.abs().max().item(), 4 * err)], dtype=torch.float32)
    print(f"DoRA oracle {qtype}: loss {out['loss'].item():.6f}, losses_3 "
          + " ".join(f"{x:.5f}" for x in out["losses_3"].tolist()))
    for kind, rel in sorted(worst.items()):
        print(f"  f32 vs f64  {kind:22s} worst max_abs/max|ref| = {rel:.3e}")
    out = {k: (v.float() if v.is_floating_point() else v) for k, v in out.items()}
    with tempfile.TemporaryDirectory(prefix="lorac_dora_") as tmp:
        ref = os.path.join(tmp, f"dora_{qtype}_ref.safetensors")
        make_refs.save_sorted(out, ref, {"case": f"dora-{qtype}", "generator": "tests/oracle/dora_oracle.py"})
        sys.stdout.flush()
        sys.exit(subprocess.run([sys.argv[1], MODEL, ref, qtype]).returncode)


if __name__ == "__main__":
    main()
