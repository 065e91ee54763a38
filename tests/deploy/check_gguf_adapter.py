#!/usr/bin/env python3
"""lorac's llama.cpp LoRA adapter GGUF against what llama.cpp's
convert_lora_to_gguf.py would write from the same adapter in PEFT form
(re-derived here with numpy from its documented behaviour: names
blk.N.<tensor>.weight.lora_a/.lora_b, lora_a = A (r, in), lora_b = B (out, r)
with llama's q/k row permutation applied to B's rows, general.type "adapter",
adapter.type "lora", adapter.lora.alpha float32). Read with the `gguf` package.
Skipped (77) without numpy / gguf / safetensors.
Difference on purpose: for rsLoRA lorac stores alpha*sqrt(r) (llama.cpp scales
by alpha/r), where the converter would store alpha and get the scale wrong.
Per-module rank / alpha (rank_pattern, alpha_pattern; a PEFT dir written
here and `lorac import`ed): llama.cpp scales each module by alpha / (its
lora_b rank), so lorac folds any other module scale into lora_b; checked as
(alpha / r_module) · B·A of the GGUF == PEFT's scaling · B·A (1e-6 rel).
usage: check_gguf_adapter.py LORAC TEST_DEPLOY MODEL_DIR [MODEL_DIR ...] WORK_DIR"""
import json
import math
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import gguf
    from safetensors.numpy import load_file
except Exception as e:  # noqa: BLE001
    print(f"SKIP: {e}")
    sys.exit(77)

lorac, td, *models, work = sys.argv[1:]
NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down"}
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        print("FAIL:", msg)
        failures += 1


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        print(r.stdout, r.stderr)
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {r.returncode}")


def llama_permute(w, n_head):  # convert_hf_to_gguf.py LlamaModel.permute, on B's rows
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def expected(peft_dir, model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    lcfg = json.load(open(os.path.join(peft_dir, "adapter_config.json")))
    arch = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}[cfg["architectures"][0]]
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    out = {}
    for name, t in load_file(os.path.join(peft_dir, "adapter_model.safetensors")).items():
        base = name.replace("base_model.model.", "").replace(".lora_A.weight", ".weight").replace(".lora_B.weight", ".weight")
        parts = base.split(".")  # model.layers.N.<parent>.<module>.weight
        gname = f"blk.{parts[2]}.{NAMES[parts[3] + '.' + parts[4]]}.weight"
        if ".lora_A." in name:
            out[gname + ".lora_a"] = t
        else:
            if arch == "llama" and parts[4] in ("q_proj", "k_proj"):
                t = llama_permute(t, nh if parts[4] == "q_proj" else nkv)
            out[gname + ".lora_b"] = t
    alpha = float(lcfg["lora_alpha"]) * (math.sqrt(lcfg["r"]) if lcfg.get("use_rslora") else 1.0)
    return arch, alpha, out


shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
for model in models:
    for rs in (0, 1):
        w = os.path.join(work, f"{os.path.basename(model.rstrip('/'))}_{rs}")
        os.makedirs(w)
        a, pdir, gg = os.path.join(w, "a.h5"), os.path.join(w, "peft"), os.path.join(w, "a.gguf")
        run(td, "make-adapter", model, a, str(21 + rs), str(4 + rs), "8", "all-linear", str(rs))
        run(lorac, "export", "--adapter", a, "--model", model, "--format", "peft", "--out", pdir)
        run(lorac, "export", "--adapter", a, "--model", model, "--format", "gguf", "--out", gg)
        arch, alpha, want = expected(pdir, model)
        r = gguf.GGUFReader(gg)
        f = r.fields

        def s(k):
            return bytes(f[k].parts[f[k].data[0]]).decode()
        check(s("general.architecture") == arch, f"architecture {s('general.architecture')} != {arch}")
        check(s("general.type") == "adapter", "general.type")
        check(s("adapter.type") == "lora", "adapter.type")
        fa = f["adapter.lora.alpha"]
        check(fa.types == [gguf.GGUFValueType.FLOAT32], f"alpha type {fa.types}")
        check(float(fa.parts[fa.data[0]][0]) == np.float32(alpha), f"alpha {fa.parts[fa.data[0]][0]} != {alpha}")
        got = {t.name: t for t in r.tensors}
        check(set(got) == set(want), f"tensor names differ: {sorted(set(got) ^ set(want))[:4]}")
        maxd = 0.0
        for n, e in want.items():
            t = got.get(n)
            if t is None:
                continue
            check(t.tensor_type == gguf.GGMLQuantizationType.F32, f"{n}: type {t.tensor_type.name}")
            check(list(t.shape) == [e.shape[1], e.shape[0]], f"{n}: ne {list(t.shape)} != {[e.shape[1], e.shape[0]]}")
            d = np.asarray(t.data).reshape(e.shape)
            maxd = max(maxd, float(np.max(np.abs(d - e))))
        print(f"{w}: {len(got)} tensors, arch {arch}, alpha {alpha:g}, max |data - converter's| {maxd:.3g}")
        check(maxd == 0.0, "tensor data differ")


def peft_key(keys, name):  # peft.utils.other.get_pattern_key
    import re
    for k in keys:
        if re.match(rf"(.*\.)?({k})$", name):
            return k
    return None


from safetensors.numpy import save_file  # noqa: E402

for model in models:
    cfg = json.load(open(os.path.join(model, "config.json")))
    C, F, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    nh, nkv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    hd = cfg.get("head_dim") or C // nh
    dims = {"q_proj": (C, nh * hd), "v_proj": (C, nkv * hd), "down_proj": (F, C)}
    lcfg = {"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": list(dims), "bias": "none",
            "rank_pattern": {r"layers\.0\.self_attn\.q_proj": 6, "v_proj": 2}, "alpha_pattern": {"down_proj": 3.0},
            "layers_to_transform": [0, L - 1], "use_rslora": False}
    w = os.path.join(work, f"{os.path.basename(model.rstrip('/'))}_patterns")
    pdir = os.path.join(w, "peft")
    os.makedirs(pdir)
    rng = np.random.default_rng(5)
    tensors, scale = {}, {}
    for layer in lcfg["layers_to_transform"]:
        for mod, (fin, fout) in dims.items():
            parent = "mlp" if mod == "down_proj" else "self_attn"
            name = f"model.layers.{layer}.{parent}.{mod}"
            rk, ak = peft_key(lcfg["rank_pattern"], name), peft_key(lcfg["alpha_pattern"], name)
            r = lcfg["rank_pattern"][rk] if rk else lcfg["r"]
            alpha = lcfg["alpha_pattern"][ak] if ak else lcfg["lora_alpha"]
            scale[f"blk.{layer}.{NAMES[parent + '.' + mod]}.weight"] = alpha / r
            tensors[f"base_model.model.{name}.lora_A.weight"] = rng.standard_normal((r, fin)).astype(np.float32) * 0.1
            tensors[f"base_model.model.{name}.lora_B.weight"] = rng.standard_normal((fout, r)).astype(np.float32) * 0.1
    json.dump(lcfg, open(os.path.join(pdir, "adapter_config.json"), "w"))
    save_file(tensors, os.path.join(pdir, "adapter_model.safetensors"), metadata={"format": "pt"})
    h5, gg = os.path.join(w, "a.h5"), os.path.join(w, "a.gguf")
    run(lorac, "import", "--peft", pdir, "--model", model, "--out", h5)
    run(lorac, "export", "--adapter", h5, "--model", model, "--format", "gguf", "--out", gg)
    arch, _, want = expected(pdir, model)
    r = gguf.GGUFReader(gg)
    fa = r.fields["adapter.lora.alpha"]
    alpha_g = float(fa.parts[fa.data[0]][0])
    got = {t.name: np.asarray(t.data) for t in r.tensors}
    check(set(got) == set(want), f"patterns: tensor names differ: {sorted(set(got) ^ set(want))[:4]}")
    worst = 0.0
    for g, s_m in scale.items():
        a_e, b_e = want[g + ".lora_a"], want[g + ".lora_b"]
        a_g, b_g = got[g + ".lora_a"].reshape(a_e.shape), got[g + ".lora_b"].reshape(b_e.shape)
        ref = s_m * (b_e.astype(np.float64) @ a_e)
        have = alpha_g / b_g.shape[1] * (b_g.astype(np.float64) @ a_g)
        worst = max(worst, float(np.max(np.abs(have - ref)) / np.max(np.abs(ref))))
    print(f"{w}: {len(scale)} modules with per-module r/alpha: llama.cpp's (alpha/r)·B·A vs PEFT's, worst rel {worst:.3g}")
    check(worst <= 1e-6, "per-module scale not carried into the GGUF adapter")

print("deploy_gguf_adapter_py:", "FAILED" if failures else "OK")
sys.exit(1 if failures else 0)
