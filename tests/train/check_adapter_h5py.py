#!/usr/bin/env python3
"""check_adapter_h5py.py — the adapter files of `lorac train` as other tools see them.

Usage: check_adapter_h5py.py LORAC_BINARY MODEL_DIR WORKDIR

Runs a small `lorac train` (stories260K, LoRA all-linear r 8, 4 steps, a
validation file) and then checks, with h5py, h5dump and PyTorch + PEFT:
  1. adapter.h5: exactly the documented datasets
     adapter/base_model.model.model.layers.N.{self_attn,mlp}.X_proj.lora_{A,B}.weight
     with shapes (r, in) / (out, r) from the model's config.json; attributes
     r / lora_alpha / scaling / target_modules / use_rslora on "adapter",
     identity / architecture / sizes on "base", format / format_version on the
     root; no optimizer state; datasets over 4 KiB chunked with shuffle +
     gzip (deflate) level 4.
  2. checkpoint-4.h5: the same adapter tensors plus optimizer/exp_avg and
     exp_avg_sq (n_params,), state/counters (step 4), config.yaml.
  3. `h5dump -H -p adapter.h5` works and shows the names and DEFLATE.
  4. The tensors under their names are PEFT's state-dict keys: loaded into a
     PEFT LoraModel on the HF model they give the validation loss that lorac
     logged for the final step (relative difference printed, limit 1e-6).
Exits non-zero on any failure.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


TRAIN = [("What color is the sky?", " The sky is blue."),
         ("What does the cat say?", " The cat says meow."),
         ("Where does the fish live?", " The fish lives in the water."),
         ("What does Lily like?", " Lily likes to play in the park with her dog."),
         ("Who is Tom?", " Tom is a little boy."),
         ("What is in the box?", " A red ball is in the box.")]
VALID = [("What is cold?", " The snow is cold."),
         ("What does the cow say?", " The cow says moo."),
         ("Who is Max?", " Max is a happy dog.")]
TARGETS = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
           ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for p, c in rows:
            f.write(json.dumps({"prompt": p, "completion": c}) + "\n")


def run_lorac(lorac, model, work):
    run = os.path.join(work, "run")
    write_jsonl(os.path.join(work, "train.jsonl"), TRAIN)
    write_jsonl(os.path.join(work, "valid.jsonl"), VALID)
    cfg = os.path.join(work, "cfg.yaml")
    with open(cfg, "w") as f:
        f.write(f"model: {model}\ndata: {work}/train.jsonl\nvalid_data: {work}/valid.jsonl\n"
                f"target_modules: all-linear\nr: 8\nalpha: 16\nlr: 1e-2\nmax_steps: 4\nbatch_size: 3\n"
                f"save_every: 2\neval_every: 2\nkeep_last: 0\nout_dir: {run}\n")
    p = subprocess.run([lorac, "train", "--config", cfg, "--quiet"], capture_output=True, text=True)
    print(p.stdout.strip())
    if p.returncode != 0:
        print(p.stderr)
        sys.exit(f"FAIL: lorac train exited {p.returncode}")
    return run


def expected_shapes(model, r):
    c = json.load(open(os.path.join(model, "config.json")))
    C, F = c["hidden_size"], c["intermediate_size"]
    hd = c.get("head_dim") or C // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    io = {"q_proj": (C, q), "k_proj": (C, kv), "v_proj": (C, kv), "o_proj": (q, C),
          "gate_proj": (C, F), "up_proj": (C, F), "down_proj": (F, C)}
    want = {}
    for layer in range(c["num_hidden_layers"]):
        for parent, t in TARGETS:
            stem = f"adapter/base_model.model.model.layers.{layer}.{parent}.{t}"
            i, o = io[t]
            want[stem + ".lora_A.weight"] = (r, i)
            want[stem + ".lora_B.weight"] = (o, r)
    return c, want


def datasets(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o) if isinstance(o, h5py.Dataset) else None)
    return out


def check_adapter(path, model, is_checkpoint):
    hf, want = expected_shapes(model, 8)
    tensors = {}
    with h5py.File(path, "r") as f:
        ds = datasets(f)
        names = {n for n in ds if n.startswith("adapter/")}
        check(names == set(want), f"{path}: adapter datasets differ: missing {sorted(set(want) - names)[:3]}, "
              f"extra {sorted(names - set(want))[:3]}")
        n_comp = n_small = 0
        for n in sorted(names & set(want)):
            d = ds[n]
            check(d.shape == want[n] and d.dtype == np.float32, f"{n}: {d.shape} {d.dtype}, expected {want[n]} f32")
            a = d[()]
            tensors[n[len("adapter/"):]] = a
            check(np.all(np.isfinite(a)), f"{n}: non-finite values")
            if d.size * 4 > 4096:
                n_comp += 1
                check(d.compression == "gzip" and d.compression_opts == 4 and d.shuffle and d.chunks is not None,
                      f"{n}: {d.size * 4} bytes stored {d.compression} {d.compression_opts} shuffle={d.shuffle}")
            else:
                n_small += 1
        check(n_comp > 0, "no adapter dataset is large enough to be compressed: the check is vacuous")
        b_max = max(float(np.abs(a).max()) for n, a in tensors.items() if "lora_B" in n)
        check(b_max > 0, "every lora_B is zero after training")
        ad = f["adapter"].attrs
        tm = text(ad["target_modules"]).split(",")
        print(f"  {path}: {len(names)} adapter tensors ({n_comp} > 4 KiB, all gzip-4 + shuffle; {n_small} small); "
              f"max|lora_B| {b_max:.4g}; r={int(ad['r'])} lora_alpha={float(ad['lora_alpha'])} "
              f"scaling={float(ad['scaling'])} target_modules={','.join(tm)}")
        check(int(ad["r"]) == 8 and float(ad["lora_alpha"]) == 16.0 and float(ad["scaling"]) == 2.0,
              "adapter attributes r / lora_alpha / scaling")
        check(sorted(tm) == sorted(t for _, t in TARGETS), f"target_modules {tm}")
        check(int(ad["use_rslora"]) == 0 and int(ad["num_layers"]) == hf["num_hidden_layers"], "use_rslora/num_layers")
        root = f.attrs
        check(text(root["format"]) == "lorac-adapter" and int(root["format_version"]) == 1, "root format attributes")
        base = f["base"].attrs
        ident = text(base["identity"])
        check(re.fullmatch(r"[0-9a-f]{64}", ident) is not None, f"base identity {ident!r}")
        check(text(base["architecture"]) == hf["architectures"][0], f"base architecture {text(base['architecture'])}")
        for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                  "num_key_value_heads"):
            check(int(base[k]) == hf[k], f"base {k} {int(base[k])} != config.json {hf[k]}")
        check(os.path.samefile(text(base["source"]), model), f"base source {text(base['source'])}")
        if is_checkpoint:
            n_params = sum(int(np.prod(s)) for s in want.values())
            for k in ("optimizer/exp_avg", "optimizer/exp_avg_sq"):
                check(k in ds and ds[k].shape == (n_params,) and ds[k].compression == "gzip",
                      f"{k}: {ds[k].shape if k in ds else 'missing'}, expected ({n_params},) gzip")
            check("state/counters" in ds and int(ds["state/counters"][0]) == 4, "state/counters[0] (step) != 4")
            check("config.yaml" in ds and "all-linear" in ds["config.yaml"].asstr()[()], "config.yaml dataset")
        else:
            check(not any(n.startswith(("optimizer/", "state/")) for n in ds), "adapter.h5 holds training state")
            print(f"  base identity {ident[:16]}…, architecture {text(base['architecture'])}")
    return tensors


def check_h5dump(path):
    h5dump = shutil.which("h5dump")
    if not h5dump:
        print("  h5dump not installed: skipped")
        return
    p = subprocess.run([h5dump, "-H", "-p", path], capture_output=True, text=True)
    check(p.returncode == 0, f"h5dump -H -p exited {p.returncode}: {p.stderr[:300]}")
    name = 'DATASET "base_model.model.model.layers.4.mlp.down_proj.lora_A.weight"'
    check(name in p.stdout and "DEFLATE" in p.stdout and 'ATTRIBUTE "lora_alpha"' in p.stdout,
          "h5dump -H -p output lacks the dataset names / DEFLATE / lora_alpha")
    print(f"  h5dump -H -p: {p.stdout.count('DATASET ')} datasets, {p.stdout.count('DEFLATE')} with DEFLATE")


def peft_valid_loss(model, tensors):
    """Validation loss of base + adapter in PyTorch + PEFT, rows tokenised as
    lorac does with chat_template none: [BOS] prompt completion EOS, loss on
    the completion and EOS."""
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float64)
    pm = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                         target_modules=[t for _, t in TARGETS]))
    sd = {k: torch.tensor(v, dtype=torch.float64) for k, v in tensors.items()}
    res = set_peft_model_state_dict(pm, sd)
    bad = [k for k in res.unexpected_keys]
    check(not bad, f"PEFT does not know the keys {bad[:3]}")
    missing = [k for k in res.missing_keys if "lora_" in k]
    check(not missing, f"PEFT expected keys that are not in the file: {missing[:3]}")
    tok = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    total, n = 0.0, 0
    pm.eval()
    with torch.no_grad():
        for p, c in VALID:
            pi = [1] + tok.encode(p, add_special_tokens=False).ids
            ci = tok.encode(c, add_special_tokens=False).ids + [2]
            ids = torch.tensor([pi + ci])
            labels = torch.tensor([[-100] * len(pi) + ci])
            logits = pm(input_ids=ids).logits[0, :-1]
            total += torch.nn.functional.cross_entropy(logits, labels[0, 1:], ignore_index=-100,
                                                       reduction="sum").item()
            n += len(ci)
    return total / n


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    lorac, model, work = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    run = run_lorac(lorac, model, work)
    adapter = os.path.join(run, "adapter.h5")
    t_final = check_adapter(adapter, model, False)
    t_ckpt = check_adapter(os.path.join(run, "checkpoint-4.h5"), model, True)
    same = set(t_final) == set(t_ckpt) and all(np.array_equal(t_final[k], t_ckpt[k]) for k in t_final)
    check(same, "adapter.h5 and checkpoint-4.h5 hold different adapter tensors")
    check_h5dump(adapter)
    last = [ln for ln in open(os.path.join(run, "metrics.jsonl")) if '"step":4,' in ln]
    m = re.search(r'"valid_loss":([-+0-9.eE]+)', last[0]) if last else None
    check(m is not None, "metrics.jsonl has no valid_loss at step 4")
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("  PyTorch+PEFT not installed: the cross-check of the validation loss in PEFT is skipped")
    if m and have_torch:
        lorac_loss = float(m.group(1))
        ref = peft_valid_loss(model, t_final)
        rel = abs(lorac_loss - ref) / abs(ref)
        print(f"  validation loss with the adapter: lorac {lorac_loss:.9g}, PyTorch+PEFT (f64) {ref:.9g}, "
              f"rel diff {rel:.3g} (limit 1e-6)")
        check(rel < 1e-6, "the adapter does not reproduce lorac's validation loss in PEFT")
    print("train_adapter_h5py:", "FAILED" if failures else "ok")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
