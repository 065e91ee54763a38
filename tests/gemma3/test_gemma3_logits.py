#!/usr/bin/env python3
"""test_gemma3_logits.py — lorac's logits on the real Gemma 3 270M (Q4_K_M GGUF)
against PyTorch on the same dequantised weights (gemma3_torch.reference_model).

usage: test_gemma3_logits.py LORAC_REF MODEL.gguf DATA.jsonl WORK

For each prompt (plain text, a code snippet, a chat-templated question with
<start_of_turn>/<end_of_turn> special tokens, and a long text of ~700 tokens
so that positions past the 512-token sliding window are compared):
  1. lorac's token ids (lorac_ref: BOS + text, special tokens matched) equal
     llama.cpp's on the same GGUF;
  2. lorac's logits (lorac_ref; every position of the short prompts, the last
     KEEP_LONG positions of the long one, which straddle the window edge) are
     within TOL_REL * max|logit| of transformers' Gemma3ForCausalLM (float32,
     eager attention) on those ids — the issue's tolerance;
  3. the long prompt must need the window: the reference without it (every
     layer global) differs from the reference by far more than the tolerance
     at the compared positions past 512, else check 2 could not see a missing
     or mis-sized window.
A missing MODEL is a failure (scripts/fetch_gemma3.sh fetches it), not a skip.
Exit 0 pass, 1 fail.
"""
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Issue 12: "logits equal a PyTorch reference on the same dequantised weights
# within 1e-4 of max|logit|". Both sides are fp32 on the same weights; they
# differ only in summation order (OpenBLAS / lorac's kernels vs MKL-less torch),
# which on SmolLM2 moved logits by ~3e-6 of max|logit|.
TOL_REL = 1e-4
KEEP_LONG = 256
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n",
]


def long_prompt(data):
    """Questions and answers of the first 16 rows of DATA: ~700 tokens."""
    with open(data) as f:
        rows = [json.loads(line) for line in f.readlines()[:16]]
    return "".join(f"Question: {r['prompt']}\nAnswer: {r['completion']}\n\n" for r in rows)


def lorac_logits(ref, model, prompt, keep, work):
    """(ids, logits (k, V) of the last k prompt positions) from lorac_ref."""
    out = os.path.join(work, "ref.bin")
    cmd = [ref, model, "-", prompt, "0", out] + ([str(keep)] if keep else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        print(f"FAIL lorac_ref exited {p.returncode}: {p.stderr.strip()[-2000:]}")
        return None, None
    raw = np.fromfile(out, dtype="<i4")
    os.remove(out)
    n, V, _, _, _, k = (int(x) for x in raw[:6])
    return raw[6:6 + n].tolist(), raw[6 + n:6 + n + k * V].view("<f4").reshape(k, V)


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    ref, model_path, data, work = sys.argv[1:]
    if not os.path.exists(model_path):
        print(f"FAIL: {model_path} not found: run scripts/fetch_gemma3.sh")
        return 1
    import gemma3_torch
    os.makedirs(work, exist_ok=True)
    failures = 0
    model, cfg = gemma3_torch.reference_model(model_path, cache=os.path.dirname(os.path.abspath(work)))
    prompts = [(p, None) for p in PROMPTS] + [(long_prompt(data), KEEP_LONG)]
    for i, (text, keep) in enumerate(prompts):
        ids, got = lorac_logits(ref, model_path, text, keep, work)
        if ids is None:
            failures += 1
            continue
        want_ids = gemma3_torch.llama_cpp_ids(model_path, text)
        if ids != want_ids:
            k = next((j for j in range(min(len(ids), len(want_ids))) if ids[j] != want_ids[j]), 0)
            print(f"FAIL prompt {i}: lorac's ids differ from llama.cpp's at {k}: {ids[k:k + 5]} vs {want_ids[k:k + 5]}")
            failures += 1
        n, k = len(ids), got.shape[0]
        positions = list(range(n - k, n))
        want = gemma3_torch.logits_at(model, ids, positions)
        d = np.abs(got.astype(np.float64) - want)
        mx = float(np.abs(want).max())
        ok = d.max() <= TOL_REL * mx
        print(f"prompt {i}: {n} tokens, positions {n - k}..{n - 1}: max abs diff {d.max():.3e} "
              f"= {d.max() / mx:.2e} of max|logit| {mx:.1f} (tol {TOL_REL:.0e}); argmax equal at "
              f"{int((got.argmax(1) == want.argmax(1)).sum())}/{k} {'ok' if ok else 'FAIL'}")
        failures += not ok
        if keep:
            past = [j for j, p in enumerate(positions) if p >= cfg.sliding_window]
            if n - 1 < cfg.sliding_window + 64 or len(past) < 64:
                print(f"FAIL prompt {i}: only {n} tokens: the sliding window ({cfg.sliding_window}) is not exercised")
                failures += 1
                continue
            window = cfg.sliding_window
            model.config.sliding_window = 1 << 20
            nowin = gemma3_torch.logits_at(model, ids, positions)
            model.config.sliding_window = window
            dw = float(np.abs(nowin[past] - want[past]).max())
            dl = float(d[past].max())
            print(f"prompt {i}: without the sliding window the reference moves by {dw:.3e} at positions >= "
                  f"{window} (lorac's diff there {dl:.3e})")
            if not dw > 100 * TOL_REL * mx:
                print(f"FAIL prompt {i}: the window changes the logits by only {dw:.3e}: the check is blind")
                failures += 1
    print("gemma3 logits: " + (f"FAILED ({failures})" if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
