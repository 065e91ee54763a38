#!/usr/bin/env python3
"""GPT-2 generation, merge and export against transformers' GPT2LMHeadModel + PEFT.

A random GPT2LMHeadModel with the real GPT-2 vocabulary (n_embd 64, n_layer 2,
n_head 4, n_positions 128, vocab 50257, non-trivial LayerNorm weights and
biases) is written next to the real GPT-2 tokenizer files; a PEFT LoRA
adapter with random A and B (r=4, alpha=8, c_attn + both c_proj + c_fc,
fan_in_fan_out) is made by PEFT and brought in with `lorac import`.
  1. greedy generation by lorac's KV cache (greedy_ids: lc_infer_generate)
     equals transformers' greedy argmax loop token for token: base and
     base + adapter, a text prompt, a 1-token prompt and a 70-token prompt
     (crosses the 64-row prefill chunk); the adapter must change the output;
  2. `lorac generate` (the CLI, template none) prints exactly the bytes of
     transformers' greedy continuation of the same text prompt (invalid UTF-8
     as U+FFFD);
  3. `lorac merge` to an HF directory: GPT2LMHeadModel.from_pretrained loads
     it and its logits equal PEFT's merge_and_unload within 1e-5 of max|ref|
     (and differ from the unmerged adapter's by at most twice PEFT's own merge's difference);
     the tokenizer files are there; an f16 merge loads too (1e-2); `lorac eval` answers with base + adapter
     and with the merged model give the same text;
  4. `lorac export --format peft`: PeftModel.from_pretrained on the export
     gives the logits of the PEFT adapter lorac imported (1e-5 of max|ref|);
  5. `lorac info` names the family; GGUF outputs for GPT-2 are refused with
     a message (llama.cpp GGUF for GPT-2 is not written by lorac).
Tolerance: the logits are fp32 sums over <= 256 terms per layer, 2 layers;
measured differences are ~1e-7 of max|logit|, so 1e-5 of max|ref| (the
oracle_gpt2 tolerance) leaves a wide margin and still catches any wrong
term (a missing bias or LoRA term moves logits by >= 1e-2 of max|ref|).
Greedy equality is exact; the smallest top-2 logit gap on the reference
path is printed, so a tie would be visible.
usage: test_gpt2_deploy.py LORAC GREEDY_IDS TOKENIZER_DIR WORK_DIR [124m]
  124m: the same checks on a GPT-2 124M-shaped model (n_embd 768, 12 layers, 12 heads,
  n_positions 1024, initializer_range 0.02 as GPT-2's config); a manual check (~0.5 GB
  per model copy), not run by ctest."""
import copy
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import peft
import torch
from transformers import GPT2Config, GPT2LMHeadModel
from tokenizers import Tokenizer

TOL = 1e-5
N_NEW = 24
lorac, greedy_bin, tokdir, work = sys.argv[1:5]
SHAPE_124M = sys.argv[5:] == ["124m"]
failures = 0


def check(ok, what):
    global failures
    print(f"  {what:70s} {'ok' if ok else 'FAIL'}")
    failures += not ok
    return ok


def bytes_to_unicode():
    """GPT-2's byte -> printable character map (openai/gpt-2 encoder.py)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def run(*cmd, ok_rc=0):
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != ok_rc and not (ok_rc is None and r.returncode):
        print(r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"))
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {r.returncode}")
    return r


def compare(what, got, ref):
    d = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64))))
    mx = float(np.max(np.abs(ref)))
    check(d <= TOL * mx, f"{what}: max abs {d:.3g}, max|ref| {mx:.3g}, rel {d / mx:.3g}")


def logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor(ids, dtype=torch.long)).logits.float().numpy()


def greedy_ref(model, ids, n):
    """transformers' greedy continuation; the smallest top-2 gap on the way."""
    ids, out, gap = list(ids), [], float("inf")
    with torch.no_grad():
        for _ in range(n):
            lg = model(torch.tensor([ids])).logits[0, -1].double()
            top = torch.topk(lg, 2)
            gap = min(gap, float(top.values[0] - top.values[1]))
            out.append(int(top.indices[0]))
            ids.append(out[-1])
    return out, gap


def lorac_greedy(model_dir, adapter, ids, n):
    r = run(greedy_bin, model_dir, adapter, str(n), *map(str, ids))
    return [int(x) for x in r.stdout.split()]


# ---------------------------------------------------------------- the models
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
torch.manual_seed(0)
shape = dict(n_embd=768, n_layer=12, n_head=12, n_positions=1024, initializer_range=0.02) if SHAPE_124M else \
    dict(n_embd=64, n_layer=2, n_head=4, n_positions=128, initializer_range=0.1)
cfg = GPT2Config(vocab_size=50257, bos_token_id=50256, eos_token_id=50256, resid_pdrop=0.0, embd_pdrop=0.0,
                 attn_pdrop=0.0, **shape)
base = GPT2LMHeadModel(cfg).eval()
with torch.no_grad():
    for name, p in base.named_parameters():
        if ".ln_" in name or "ln_f" in name or name.endswith(".bias"):
            p.add_(0.1 * torch.randn_like(p))
base_dir = os.path.join(work, "base")
base.save_pretrained(base_dir)
for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"):
    shutil.copy(os.path.join(tokdir, f), base_dir)

lcfg = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True,
                       lora_dropout=0.0, init_lora_weights=False)
pm = peft.get_peft_model(copy.deepcopy(base), lcfg).eval()
with torch.no_grad():
    for name, p in pm.named_parameters():
        if "lora_" in name:
            p.normal_(0.0, 0.2)
peft_dir = os.path.join(work, "peft_in")
pm.save_pretrained(peft_dir)
adapter = os.path.join(work, "adapter.h5")
run(lorac, "import", "--peft", peft_dir, "--model", base_dir, "--out", adapter)

# ------------------------------------------------------- 1. greedy generation
print("1. greedy generation: lorac's KV cache vs transformers")
tok = Tokenizer.from_file(os.path.join(tokdir, "tokenizer.json"))
text = "Hello, my name is"
rng = np.random.default_rng(7)
prompts = {"text prompt": tok.encode(text).ids, "1-token prompt": [50256],
           "70-token prompt": [int(x) for x in rng.integers(0, 50257, 70)]}
changed = False
for pname, ids in prompts.items():
    for label, ref_model, a in (("base", base, "-"), ("base + LoRA", pm, adapter)):
        want, gap = greedy_ref(ref_model, ids, N_NEW)
        got = lorac_greedy(base_dir, a, ids, N_NEW)
        check(got == want, f"{pname}, {label}: {N_NEW} greedy tokens equal (min top-2 gap {gap:.3g})")
        if got != want:
            print(f"    lorac {got}\n    torch {want}")
        if label == "base":
            base_out = want
        else:
            changed |= want != base_out
check(changed, "the adapter changes the greedy continuation")

# --------------------------------------------------------- 2. lorac generate
print("2. lorac generate (CLI)")
want, _ = greedy_ref(pm, prompts["text prompt"], N_NEW)
if 50256 in want:
    want = want[:want.index(50256)]
byte_of = {c: b for b, c in bytes_to_unicode().items()}
want_bytes = b"".join(bytes(byte_of[c] for c in tok.id_to_token(i)) for i in want)
r = run(lorac, "generate", "--model", base_dir, "--adapter", adapter, "--prompt", text, "--chat-template", "none",
        "--max-tokens", str(N_NEW), "--quiet")
# lorac prints invalid UTF-8 (a byte-level token cut inside a character) as U+FFFD, as Python's "replace"
want_bytes = want_bytes.decode("utf-8", "replace").encode("utf-8")
check(r.stdout == want_bytes + b"\n", f"stdout = transformers' greedy text ({len(want_bytes)} bytes)")
if r.stdout != want_bytes + b"\n":
    print(f"    lorac {r.stdout!r}\n    torch {want_bytes!r}")

# ----------------------------------------------------------------- 3. merge
print("3. lorac merge -> HF directory")
merged_dir = os.path.join(work, "merged")
r = run(lorac, "merge", "--model", base_dir, "--adapter", adapter, "--out", merged_dir)
print("   ", r.stderr.decode().strip().replace("\n", "\n    "))
probe = rng.integers(0, 50257, (2, 40)).tolist()
ref = logits(copy.deepcopy(pm).merge_and_unload().eval(), probe)
merged = GPT2LMHeadModel.from_pretrained(merged_dir, dtype=torch.float32).eval()
compare("merged HF dir vs PEFT merge_and_unload, logits (2 x 40)", logits(merged, probe), ref)
check(all(os.path.exists(os.path.join(merged_dir, f)) for f in ("config.json", "model.safetensors", "tokenizer.json",
                                                                 "vocab.json", "merges.txt")),
      "config.json, model.safetensors and the tokenizer files written")
# merged vs unmerged differ by fp32 reordering (W + sBA vs Wx + sB(Ax)), growing with depth and width
# (8e-5 of max|logit| on the 124m shape): bounded by twice PEFT's own merge_and_unload vs unmerged
unmerged = logits(pm, probe)
d_lorac = float(np.max(np.abs(logits(merged, probe).astype(np.float64) - unmerged)))
d_peft = float(np.max(np.abs(ref.astype(np.float64) - unmerged)))
check(d_lorac <= 2 * d_peft + TOL * float(np.max(np.abs(unmerged))),
      f"merged vs unmerged: max abs {d_lorac:.3g} (PEFT's merge: {d_peft:.3g})")
merged16_dir = os.path.join(work, "merged_f16")
run(lorac, "merge", "--model", base_dir, "--adapter", adapter, "--out", merged16_dir, "--dtype", "f16")
merged16 = GPT2LMHeadModel.from_pretrained(merged16_dir, dtype=torch.float32).eval()
# f16 weights: each rounded by <= 2^-11 relative; 1e-2 of max|ref| bounds the logits' drift and is far
# below what a wrongly laid out (untransposed) Conv1D gives (O(max|ref|))
d16 = float(np.max(np.abs(logits(merged16, probe) - ref))) / float(np.max(np.abs(ref)))
check(d16 <= 1e-2, f"merged --dtype f16 HF dir vs merge_and_unload: rel {d16:.3g} (tol 1e-2)")

print("3b. lorac eval (loss and generated answers): base + adapter vs the merged model")
data = os.path.join(work, "test.jsonl")
with open(data, "w") as f:
    for p, c in (("Hello, my name is", " Bob"), ("The capital of France is", " Paris")):
        f.write(json.dumps({"prompt": p, "completion": c}) + "\n")
ev = os.path.join(work, "eval")
run(lorac, "eval", "--model", base_dir, "--adapter", adapter, "--merged", merged_dir, "--data", data, "--metrics",
    "loss,em,f1", "--max-new-tokens", "8", "--chat-template", "none", "--out", ev, "--quiet")
gens = [json.loads(line) for line in open(os.path.join(ev, "generations.jsonl"))]
answers = [list(g["answers"].values()) for g in gens]
check(len(gens) == 2 and all(len(a) == 3 and a[1] == a[2] and a[1] for a in answers),
      "2 examples answered by base, adapter, merged; adapter == merged")
print(f"    answers {answers}")

# ---------------------------------------------------------------- 4. export
print("4. lorac export --format peft")
exp_dir = os.path.join(work, "peft_out")
run(lorac, "export", "--adapter", adapter, "--model", base_dir, "--format", "peft", "--out", exp_dir)
pe = peft.PeftModel.from_pretrained(copy.deepcopy(base), exp_dir).eval()
compare("exported adapter in PEFT vs the imported PEFT adapter, logits", logits(pe, probe), logits(pm, probe))

# ------------------------------------------------------------ 5. info, GGUF
print("5. lorac info, GGUF refusals")
out = run(lorac, "info", base_dir).stdout.decode()
check("family           gpt2: LayerNorm, learned positions, GELU (tanh), fused q|k|v" in out and
      "rope scaling     n/a (learned positions)" in out, "info names the family and its positions")
r = run(lorac, "export", "--adapter", adapter, "--model", base_dir, "--format", "gguf", "--out",
        os.path.join(work, "a.gguf"), ok_rc=None)
check(b"not supported" in r.stderr, "GGUF LoRA export of a GPT-2 adapter refused with a message")

print("test_gpt2_deploy:", "FAIL" if failures else "ok", f"({failures} failed)")
sys.exit(1 if failures else 0)
