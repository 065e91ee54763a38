#!/usr/bin/env python3
"""test_gemma3_peft.py — a lorac adapter trained on the real Gemma 3 270M, exported
as PEFT, loaded by transformers' Gemma3ForCausalLM: same logits, same loss.

usage: test_gemma3_peft.py LORAC LORAC_REF MODEL.gguf DATA.jsonl WORK

1. `lorac train`: 3 steps at lr 1e-2 on the first 8 rows of DATA (gemma chat
   template, answer-only loss), r 8, alpha 16, all-linear (q,k,v,o,gate,up,down).
2. `lorac export --format peft` -> peft.PeftModel.from_pretrained on the PyTorch
   reference (gemma3_torch.reference_model: the GGUF's dequantised weights).
3. On two chat-formatted Q&A rows of DATA (lorac's ids from lorac_ref), the
   logits of every position: lorac + adapter (unmerged) vs PEFT within
   TOL_REL * max|logit| (as the base model's check, test_gemma3_logits.py), and
   the mean next-token cross-entropy from each side within LOSS_TOL.
4. The adapter must move lorac's logits by far more than the tolerance (else
   step 3 could not see an adapter PEFT ignored).
A missing MODEL is a failure, not a skip. Exit 0 pass, 1 fail.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

TOL_REL = 1e-4  # of max|logit|: fp32 on both sides, same weights (test_gemma3_logits.py)
# log-softmax moves by at most 2 * max|dz| per position, so the mean loss by at most
# twice the logits' tolerance; taken relative to max|logit| of the row.
LOSS_MULT = 2.0


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        print(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        sys.exit(1)
    return p.stdout


def lorac_logits(ref, model, adapter, prompt, work):
    out = os.path.join(work, "ref.bin")
    run([ref, model, adapter or "-", prompt, "0", out])
    raw = np.fromfile(out, dtype="<i4")
    os.remove(out)
    n, V, _, _, _, k = (int(x) for x in raw[:6])
    return raw[6:6 + n].tolist(), raw[6 + n:6 + n + k * V].view("<f4").reshape(k, V)


def mean_ce(logits, ids):
    """Mean cross-entropy of ids[1:] under logits[:-1] (float64)."""
    z = logits[:-1].astype(np.float64)
    z = z - z.max(1, keepdims=True)
    lse = np.log(np.exp(z).sum(1))
    return float(np.mean(lse - z[np.arange(len(ids) - 1), ids[1:]]))


def main():
    if len(sys.argv) != 6:
        print(__doc__)
        return 2
    lorac, ref, model_path, data, work = sys.argv[1:]
    if not os.path.exists(model_path):
        print(f"FAIL: {model_path} not found: run scripts/fetch_gemma3.sh")
        return 1
    import peft
    import torch

    import gemma3_torch
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    with open(data) as f:
        lines = f.readlines()
    rows = os.path.join(work, "train8.jsonl")
    with open(rows, "w") as g:
        g.writelines(lines[:8])
    cfg = os.path.join(work, "train.yaml")
    with open(cfg, "w") as f:
        f.write(f"model: {model_path}\ndata: {rows}\nsplit: 0\nchat_template: gemma\nmask_prompt: true\n"
                "max_seq_len: 128\nlr: 1e-2\nlr_schedule: constant\nmax_steps: 3\nbatch_size: 8\nseed: 7\n"
                f"eval_every: 0\nsave_every: 0\nthreads: 2\nr: 8\nalpha: 16\ntarget_modules: all-linear\n"
                f"out_dir: {os.path.join(work, 'run')}\n")
    run([lorac, "train", "--config", cfg, "--quiet"])
    h5 = os.path.join(work, "run", "adapter.h5")
    pdir = os.path.join(work, "peft")
    run([lorac, "export", "--adapter", h5, "--model", model_path, "--format", "peft", "--out", pdir])

    base, _ = gemma3_torch.reference_model(model_path, cache=os.path.dirname(os.path.abspath(work)))
    pm = peft.PeftModel.from_pretrained(base, pdir).eval()
    print("PEFT config:", {k: getattr(pm.peft_config["default"], k) for k in ("r", "lora_alpha", "use_rslora")},
          sorted(pm.peft_config["default"].target_modules))
    failures = 0
    for i in (0, 9):
        r = json.loads(lines[i])
        text = (f"<start_of_turn>user\n{r['prompt']}<end_of_turn>\n<start_of_turn>model\n"
                f"{r['completion']}<end_of_turn>\n")
        ids, got = lorac_logits(ref, model_path, h5, text, work)
        _, got0 = lorac_logits(ref, model_path, None, text, work)
        with torch.no_grad():
            want = pm(torch.tensor([ids])).logits[0].float().numpy()
        mx = float(np.abs(want).max())
        d = float(np.abs(got.astype(np.float64) - want).max())
        eff = float(np.abs(got.astype(np.float64) - got0).max())
        l_lc, l_pt = mean_ce(got, ids), mean_ce(want, ids)
        ok = d <= TOL_REL * mx
        ok_loss = abs(l_lc - l_pt) <= LOSS_MULT * TOL_REL * mx
        blind = not eff > 100 * TOL_REL * mx
        print(f"row {i}: {len(ids)} tokens: logits lorac vs PEFT max abs {d:.3e} = {d / mx:.2e} of max|logit| "
              f"{mx:.1f} (tol {TOL_REL:.0e}) {'ok' if ok else 'FAIL'}; loss lorac {l_lc:.6f} PEFT {l_pt:.6f} "
              f"(|diff| {abs(l_lc - l_pt):.2e}, tol {LOSS_MULT * TOL_REL * mx:.2e}) {'ok' if ok_loss else 'FAIL'}; "
              f"the adapter moves lorac's logits by {eff:.3f}{' (too little: FAIL)' if blind else ''}")
        failures += (not ok) + (not ok_loss) + blind
    print("gemma3 PEFT: " + (f"FAILED ({failures})" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
