#!/usr/bin/env python3
"""PEFT / transformers interop of lorac's deploy verbs (skipped, exit 77,
without torch + peft + transformers):
  1. lorac export --format peft -> PeftModel.from_pretrained: logits == lorac's (1e-4)
  2. a PEFT-made adapter (random A and B) -> lorac import: lorac's logits == PEFT's (1e-4)
  3. lorac merge (fp32 HF dir) -> AutoModelForCausalLM: logits == lorac's unmerged (1e-4)
  4. DoRA (use_dora): 1 and 3 with a DoRA adapter (magnitudes != ||W + sBA||), PEFT's
     merge_and_unload == lorac's merged weights (1e-5), and a PEFT-made DoRA adapter ->
     lorac import (1e-4)
  5. a PEFT adapter with rank_pattern, alpha_pattern and layers_to_transform ->
     lorac import (logits == PEFT's), -> lorac export (PeftModel loads it with the
     same patterns and logits), -> lorac merge (== PEFT's merge_and_unload)
usage: test_peft_interop.py LORAC TEST_DEPLOY MODEL_DIR [MODEL_DIR ...] WORK_DIR"""
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import torch
    import peft
    import transformers
except Exception as e:  # noqa: BLE001
    print(f"SKIP: {e}")
    sys.exit(77)

TOL = 1e-4
lorac, td, *models, work = sys.argv[1:]
failures = 0


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        print(r.stdout, r.stderr)
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {r.returncode}")
    return r.stdout


def lorac_logits(model, adapter, path):
    """Probe tokens and logits from test_deploy's `logits` helper."""
    run(td, "logits", model, adapter, path)
    raw = open(path, "rb").read()
    n, t, v = np.frombuffer(raw[:12], dtype=np.int32)
    tok = np.frombuffer(raw[12:12 + 4 * n * t], dtype=np.int32).reshape(n, t)
    lg = np.frombuffer(raw[12 + 4 * n * t:], dtype=np.float32).reshape(n, t, v)
    return tok, lg


def torch_logits(model, tok):
    with torch.no_grad():
        return model(torch.tensor(tok, dtype=torch.long)).logits.float().numpy()


def compare(label, got, want):
    global failures
    d = float(np.max(np.abs(got.astype(np.float64) - want)))
    rel = d / float(np.max(np.abs(want)))
    ok = d <= TOL
    print(f"{label:58s} max abs {d:.3g}  rel {rel:.3g}  {'ok' if ok else 'FAIL'}")
    failures += not ok


def base(model_dir):
    m = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return m.eval()


torch.manual_seed(0)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
for mi, model in enumerate(models):
    name = os.path.basename(model.rstrip("/"))
    w = os.path.join(work, name)
    os.makedirs(w)
    for rslora, dora in ((0, 0), (1, 0), (0, 1)):
        tag = f"{name} rslora={rslora}" + (" DoRA" if dora else "")
        a = os.path.join(w, f"a{rslora}{dora}.h5")
        run(td, "make-adapter", model, a, str(11 + rslora + 5 * dora), "4", "8",
            "all-linear" if not rslora else "q_proj,k_proj,v_proj,down_proj", str(rslora), str(dora))
        tok, ours = lorac_logits(model, a, os.path.join(w, f"a{rslora}{dora}.bin"))
        # 1. export -> PEFT
        pdir = os.path.join(w, f"peft{rslora}{dora}")
        run(lorac, "export", "--adapter", a, "--model", model, "--format", "peft", "--out", pdir)
        pm = peft.PeftModel.from_pretrained(base(model), pdir).eval()
        if dora and not pm.peft_config["default"].use_dora:
            print("FAIL: the exported config does not say use_dora")
            failures += 1
        compare(f"{tag}: lorac export -> PeftModel", torch_logits(pm, tok), ours)
        # 3. merge -> transformers
        mdir = os.path.join(w, f"merged{rslora}{dora}")
        run(lorac, "merge", "--model", model, "--adapter", a, "--out", mdir)
        mm = base(mdir)
        compare(f"{tag}: lorac merge -> AutoModelForCausalLM", torch_logits(mm, tok), ours)
        # and PEFT's own merge agrees with lorac's merged weights
        pm_merged = pm.merge_and_unload()
        sd_p, sd_l = pm_merged.state_dict(), mm.state_dict()
        dw = max(float((sd_p[k] - sd_l[k]).abs().max()) for k in sd_l)
        print(f"{tag}: max |W(lorac merge) - W(PEFT merge_and_unload)| {dw:.3g}")
        if dw > 1e-5:
            print("FAIL: merged weights differ from PEFT's")
            failures += 1
    # 2. a PEFT-made adapter -> lorac import
    # (DoRA: the magnitude is initialised to ||W + sBA|| with the random B, then B shrinks: m/||..|| != 1)
    for dora in (False, True):
        cfg = peft.LoraConfig(r=6, lora_alpha=12, target_modules=["q_proj", "o_proj", "gate_proj", "up_proj"],
                              init_lora_weights=False, task_type="CAUSAL_LM", use_dora=dora)
        pm = peft.get_peft_model(base(model), cfg).eval()
        for n_, p_ in pm.named_parameters():
            if "lora_B" in n_:
                with torch.no_grad():
                    p_.mul_(0.05)  # a realistic update size
        pdir = os.path.join(w, f"peft_made{int(dora)}")
        pm.save_pretrained(pdir)
        h5 = os.path.join(w, f"imported{int(dora)}.h5")
        run(lorac, "import", "--peft", pdir, "--model", model, "--out", h5)
        tok, ours = lorac_logits(model, h5, os.path.join(w, f"imported{int(dora)}.bin"))
        compare(f"{name}: PEFT {'DoRA ' if dora else ''}adapter -> lorac import", ours,
                torch_logits(pm, tok).astype(np.float64))

    # 4. per-module rank / alpha and a subset of layers, through import, export and merge
    L = base(model).config.num_hidden_layers
    pat = dict(rank_pattern={r"layers\.0\.self_attn\.q_proj": 7, "v_proj": 2},
               alpha_pattern={"down_proj": 3.0}, layers_to_transform=[0, L - 1])
    cfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                          init_lora_weights=False, task_type="CAUSAL_LM", **pat)
    pm = peft.get_peft_model(base(model), cfg).eval()
    with torch.no_grad():
        for n_, p_ in pm.named_parameters():
            if "lora_B" in n_:
                p_.mul_(0.05)
    pdir = os.path.join(w, "peft_patterns")
    pm.save_pretrained(pdir)
    h5 = os.path.join(w, "patterns.h5")
    run(lorac, "import", "--peft", pdir, "--model", model, "--out", h5)
    tok, ours = lorac_logits(model, h5, os.path.join(w, "patterns.bin"))
    compare(f"{name}: PEFT patterns adapter -> lorac import", ours, torch_logits(pm, tok).astype(np.float64))
    edir = os.path.join(w, "patterns_export")
    run(lorac, "export", "--adapter", h5, "--model", model, "--format", "peft", "--out", edir)
    pe = peft.PeftModel.from_pretrained(base(model), edir).eval()
    ec = pe.peft_config["default"]
    if (ec.rank_pattern, ec.alpha_pattern, list(ec.layers_to_transform)) != \
            (pat["rank_pattern"], pat["alpha_pattern"], pat["layers_to_transform"]):
        print("FAIL: exported patterns", ec.rank_pattern, ec.alpha_pattern, ec.layers_to_transform)
        failures += 1
    compare(f"{name}: patterns: lorac export -> PeftModel", torch_logits(pe, tok), ours)
    mdir = os.path.join(w, "patterns_merged")
    run(lorac, "merge", "--model", model, "--adapter", h5, "--out", mdir)
    compare(f"{name}: patterns: lorac merge -> AutoModelForCausalLM", torch_logits(base(mdir), tok), ours)

print("deploy_peft_interop:", "FAILED" if failures else "OK")
sys.exit(1 if failures else 0)
