#!/usr/bin/env python3
"""
inits.py — PiSSA and OLoRA initialisations (lc_lora_init_from_weights),
lorac against PEFT (ctest oracle_inits).

For each of init_lora_weights = "pissa" and "olora", on a random 3-layer
Llama (patterns.build_llama) with LoRA r 4, alpha 8, rank_pattern
{"q_proj": 2} on all seven projections, PEFT initialises the adapter and
rewrites each base weight to its residual W - s·B·A. This script saves, per
module, PEFT's lora_A, lora_B and residual weight, and measures how far
PEFT's float32 factorisation is from a float64 one (numpy SVD / QR of the
same float32 weight, signs aligned per component): the float32 noise floor.
test_lora_init (argv[1]) then runs lorac's init (LAPACK, float64) on the
same model and compares, per module:
  - s·B·A (sign-free)        and the residual weight,
  - A and B, each component's sign aligned to PEFT's (singular vectors and
    Householder columns are defined up to sign),
each within max(1e-5 · max|ref|, 4 × the measured float32 noise of that
tensor) (tolerance "<name>.atol" in the file). Fails (not skips) when torch
or peft are missing.

Usage: inits.py <test_lora_init binary>
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_refs  # noqa: E402
import patterns  # noqa: E402  (build_llama)

R, ALPHA, RANK_PATTERN = 4, 8, {"q_proj": 2}


def f64_factors(kind, W, r, s):
    """PEFT's formulas in float64 on the float32 weight W (out, in)."""
    W = W.astype(np.float64)
    if kind == "pissa":
        V, S, Uh = np.linalg.svd(W, full_matrices=False)
        g = np.sqrt(S[:r] / s)
        return g[:, None] * Uh[:r], V[:, :r] * g[None, :]
    Q, Rm = np.linalg.qr(W)
    return Rm[:r], Q[:, :r]


def run(kind, model_dir, tmp):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    W0 = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    cfg = LoraConfig(r=R, lora_alpha=ALPHA, target_modules=make_refs.TARGETS, init_lora_weights=kind,
                     rank_pattern=RANK_PATTERN, lora_dropout=0.0)
    pm = get_peft_model(model, cfg)
    out, worst = {}, 0.0
    for name, mod in pm.named_modules():
        if not hasattr(mod, "lora_A") or "default" not in getattr(mod, "lora_A", {}):
            continue
        A = mod.lora_A["default"].weight.detach().numpy().astype(np.float32)
        B = mod.lora_B["default"].weight.detach().numpy().astype(np.float32)
        Wres = mod.base_layer.weight.detach().numpy().astype(np.float32)
        s, r = mod.scaling["default"], A.shape[0]
        key = name.replace("base_model.model.", "", 1) + ".weight"
        A64, B64 = f64_factors(kind, W0[key], r, s)
        sign = np.sign(np.sum(A64 * A, axis=1))  # align each component to PEFT's
        sign[sign == 0] = 1
        A64, B64 = A64 * sign[:, None], B64 * sign[None, :]
        BA, BA64 = s * (B.astype(np.float64) @ A), s * (B64 @ A64)
        Wres64 = W0[key].astype(np.float64) - BA64
        for tag, ref, ref64 in (("lora_A", A, A64), ("lora_B", B, B64), ("sBA", BA, BA64), ("residual", Wres, Wres64)):
            noise = float(np.max(np.abs(ref - ref64)))
            scale = float(np.max(np.abs(ref)))
            atol = max(1e-5 * scale, 4 * noise)
            worst = max(worst, noise / scale)
            out[f"{name}.{tag}"] = torch.tensor(ref, dtype=torch.float32).contiguous()
            out[f"{name}.{tag}.atol"] = torch.tensor([atol], dtype=torch.float32)
        out[f"{name}.scaling"] = torch.tensor([s], dtype=torch.float32)
    print(f"{kind}: {len(out) // 9} modules; PEFT float32 vs float64 worst noise {worst:.3g} of max|ref|")
    meta = {"init": kind, "r": str(R), "alpha": str(ALPHA), "rank_pattern": json.dumps(RANK_PATTERN)}
    path = os.path.join(tmp, f"{kind}_ref.safetensors")
    make_refs.save_sorted(out, path, meta)
    return path


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: inits.py <test_lora_init binary>")
    make_refs.quiet_torch(2)
    rc = 0
    with tempfile.TemporaryDirectory(prefix="lorac_inits_") as tmp:
        d = patterns.build_llama(os.path.join(tmp, "llama"))
        for kind in ("pissa", "olora"):
            ref = run(kind, d, tmp)
            rc |= subprocess.run([sys.argv[1], d, ref]).returncode
    sys.exit(1 if rc else 0)


if __name__ == "__main__":
    main()
