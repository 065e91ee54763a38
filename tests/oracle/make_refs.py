#!/usr/bin/env python3
"""
make_refs.py — PyTorch/PEFT oracle for lorac's forward, backward and AdamW.

Writes, for each case, tests/fixtures/oracle/<case>_ref.safetensors with the
tensors test_oracle.c compares against (see tests/oracle/README.md):

  tokens, targets            int32 (B, T); targets -1 = no loss
  n_targets                  int32 (1)
  meta.r / meta.alpha / meta.scaling   (1) each, also in the file metadata
  <peft name>                float32 initial lora_A (r, in) / lora_B (out, r)
  logits                     float32 (B, T, V) with the adapter
  base_logits                float32 (B, T, V) with the adapter disabled
  loss                       float32 (1): sum CE over targets / n_targets
  <peft name>.grad           d loss / d param at the initial values
  losses_10                  float32 (10): loss before each AdamW step
  grad_norms_10              float32 (10): pre-clip global grad norm per step
  <peft name>.after10        parameters after 10 steps
  <peft name>.after10_atol   float32 (1): tolerance for it (see f64_check)

Cases:
  tiny-qwen2   a random Qwen2ForCausalLM (GQA, q/k/v biases, untied), saved
               to tests/fixtures/oracle/tiny-qwen2/ (committed)
  stories260K  ../shared/fixtures/models/stories260K-hf (Llama, tied), read
               from that path, never copied

Everything runs on CPU in float32, single-threaded, with fixed seeds, so a
rerun reproduces the committed files bit for bit on the same torch build.
Each case is then rerun in float64 to measure the float32 noise floor
(printed; it sets the after10 tolerances, see f64_check).
Usage:  python3 tests/oracle/make_refs.py [--case tiny-qwen2|stories260K|all]
"""
import argparse
import json
import os
import struct
import sys
import warnings

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
from transformers.utils import logging as hf_logging

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "tests", "fixtures", "oracle")
STORIES = os.path.join(REPO, "..", "shared", "fixtures", "models", "stories260K-hf")

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_R, LORA_ALPHA = 4, 8
N_STEPS = 10
ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, foreach=False)
MAX_GRAD_NORM = 1.0
MAX_FILE_BYTES = 1536 * 1024


def build_tiny_qwen2(out_dir):
    """Random Qwen2 with non-trivial biases and norm weights; saved as HF dir."""
    cfg = Qwen2Config(
        vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
        hidden_act="silu", use_sliding_window=False, attention_dropout=0.0,
        bos_token_id=1, eos_token_id=2, dtype="float32",
    )
    cfg._attn_implementation = "eager"
    model = Qwen2ForCausalLM(cfg).float().eval()
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():  # fixed order: module registration
            if name.endswith("norm.weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))           # U(0.5, 1.5)
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:  # (out, in) projections and lm_head
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    # Real Qwen2 configs carry rope_theta at the top level; transformers v5
    # writes rope_parameters instead. Keep both so either loader style works.
    cpath = os.path.join(out_dir, "config.json")
    with open(cpath) as f:
        c = json.load(f)
    c["rope_theta"] = 10000.0
    c["head_dim"] = 16
    with open(cpath, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    gen = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    return out_dir


def make_batch(V, B, T, seed, pad_tail):
    """Random tokens; targets = next token, masked on a prompt prefix of each
    row and on the padding tail of the last row (pad id 0)."""
    g = torch.Generator().manual_seed(seed)
    seq = torch.randint(0, V, (B, T + 1), generator=g)
    tokens = seq[:, :T].clone()
    targets = seq[:, 1:].clone()
    prefix = [3 + 2 * b for b in range(B)]
    for b in range(B):
        targets[b, : prefix[b]] = -1
    real = T - pad_tail  # row B-1: real tokens [0, real), padding after
    tokens[B - 1, real:] = 0
    targets[B - 1, real - 1:] = -1
    return tokens, targets


def loss_fn(logits, targets):
    """sum CE over targets / n_targets, from the logits in the model's dtype
    (float32 for the committed refs)."""
    V = logits.shape[-1]
    n = int((targets >= 0).sum())
    s = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1),
                        ignore_index=-1, reduction="sum")
    return s / n, n


def ref_name(param_name):
    """PEFT parameter name -> the name PEFT saves (adapter name dropped)."""
    return param_name.replace(".default.weight", ".weight")


def adamw_steps(pm, named, tokens, targets, steps, adamw, dtype, out, name_of):
    """steps AdamW steps (gradient clipped to MAX_GRAD_NORM each step) of pm's trainable
    parameters named = [(name, p)] on one batch; stores out["losses_<steps>"],
    out["grad_norms_<steps>"] and out[name_of(name) + ".after<steps>"]; returns
    (losses, norms)."""
    params = [p for _, p in named]
    opt = torch.optim.AdamW(params, **adamw)
    losses, norms = [], []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        lo, _ = loss_fn(pm(input_ids=tokens).logits, targets)
        lo.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM, foreach=False)
        opt.step()
        losses.append(lo.item())
        norms.append(gn.item())
    out[f"losses_{steps}"] = torch.tensor(losses, dtype=dtype)
    out[f"grad_norms_{steps}"] = torch.tensor(norms, dtype=dtype)
    for n, p in named:
        out[name_of(n) + f".after{steps}"] = p.detach().clone()
    return losses, norms


def run_case(case, model_dir, B, T, pad_tail, seed, dtype=torch.float32, lora_kw=None, adam_eps=1e-8):
    """Compute every reference tensor of one case; returns (tensors, metadata).
    lora_kw: extra LoraConfig fields (rank_pattern, alpha_pattern,
    layers_to_transform, use_rslora), also written to the metadata as JSON so
    test_oracle builds the same adapter; each module's scaling is then saved
    as "<module>.scaling"."""
    lora_kw = dict(lora_kw or {})
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    model.to(dtype)
    lcfg = LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, target_modules=TARGETS,
                      lora_dropout=0.0, bias="none", **lora_kw)
    pm = get_peft_model(model, lcfg)
    pm.eval()  # dropout is 0 anyway; keep everything deterministic

    lora = [(n, p) for n, p in pm.named_parameters() if p.requires_grad]
    assert all(".lora_A." in n or ".lora_B." in n for n, _ in lora), "unexpected trainable params"
    L = model.config.num_hidden_layers
    assert lora_kw.get("layers_to_transform") is not None or len(lora) == L * len(TARGETS) * 2, len(lora)

    # Overwrite A and B with deterministic values (B non-zero so dA is non-trivial).
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for n, p in lora:
            if ".lora_A." in n:
                bound = 1.0 / p.shape[1] ** 0.5
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=g))  # float32 draws, then cast

    V = model.config.vocab_size
    tokens, targets = make_batch(V, B, T, seed, pad_tail)
    out = {"tokens": tokens.to(torch.int32), "targets": targets.to(torch.int32)}
    for n, p in lora:
        out[ref_name(n)] = p.detach().clone()
    if lora_kw:  # PEFT's own per-module scaling, as the module holds it
        for mn, mod in pm.named_modules():
            if hasattr(mod, "scaling") and isinstance(mod.scaling, dict) and "default" in mod.scaling:
                out[mn + ".scaling"] = \
                    torch.tensor([mod.scaling["default"]], dtype=torch.float32)

    # Forward with adapter, loss, gradients.
    pm.zero_grad(set_to_none=True)
    logits = pm(input_ids=tokens).logits.to(dtype)
    loss, n_targets = loss_fn(logits, targets)
    loss.backward()
    out["logits"] = logits.detach().clone()
    out["loss"] = loss.detach().reshape(1).clone()
    out["n_targets"] = torch.tensor([n_targets], dtype=torch.int32)
    for n, p in lora:
        out[ref_name(n) + ".grad"] = p.grad.detach().clone()
    with torch.no_grad(), pm.disable_adapter():
        out["base_logits"] = pm(input_ids=tokens).logits.to(dtype).clone()

    # 10 AdamW steps on the same batch, clipping each step.
    losses, norms = adamw_steps(pm, lora, tokens, targets, N_STEPS, dict(ADAMW, eps=adam_eps), dtype, out, ref_name)

    scaling = LORA_ALPHA / (LORA_R ** 0.5 if lora_kw.get("use_rslora") else LORA_R)
    out["meta.r"] = torch.tensor([LORA_R], dtype=torch.int32)
    out["meta.alpha"] = torch.tensor([LORA_ALPHA], dtype=torch.float32)
    out["meta.scaling"] = torch.tensor([scaling], dtype=torch.float32)
    out["meta.adam_eps"] = torch.tensor([adam_eps], dtype=torch.float32)  # test_oracle's AdamW reads it
    meta = {"case": case, "r": str(LORA_R), "alpha": str(LORA_ALPHA), "scaling": str(scaling),
            "B": str(B), "T": str(T), "n_targets": str(n_targets),
            "target_modules": ",".join(TARGETS), "lr": "1e-2", "betas": "0.9,0.999",
            "eps": repr(adam_eps), "weight_decay": "0.01", "max_grad_norm": "1.0",
            "torch": torch.__version__, "generator": "tests/oracle/make_refs.py"}
    for k, v in lora_kw.items():
        meta[k] = json.dumps(v)
    out = {k: v.contiguous() for k, v in out.items()}
    diff = (out["logits"] - out["base_logits"]).abs().max().item()
    print(f"{case} ({dtype}): B={B} T={T} n_targets={n_targets} loss={loss.item():.6f} "
          f"max|logits-base|={diff:.3e}")
    print(f"  losses_10: {' '.join(f'{x:.5f}' for x in losses)}")
    print(f"  grad_norms_10: {' '.join(f'{x:.4f}' for x in norms)}")
    return out, meta


def save_sorted(tensors, path, metadata):
    """Write a safetensors file with a deterministic header (keys sorted, data
    in name order, header padded with spaces to 8 bytes), so that rerunning
    gives identical bytes; safetensors.save_file orders metadata at random."""
    dt = {torch.float32: "F32", torch.int32: "I32"}
    header, blobs, off = {"__metadata__": dict(sorted(metadata.items()))}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        b = t.numpy().tobytes()
        header[name] = {"dtype": dt[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def save_case(case, out, meta):
    path = os.path.join(FIXTURES, f"{case}_ref.safetensors")
    save_sorted(out, path, meta)
    check = load_file(path)  # round-trip through the reference reader
    assert all(torch.equal(check[k], out[k]) for k in out), path
    size = os.path.getsize(path)
    print(f"  wrote {path} ({size} bytes)")
    if size > MAX_FILE_BYTES:
        sys.exit(f"{path}: {size} bytes, over the {MAX_FILE_BYTES} byte budget")


def f64_check(ref, f64):
    """Run the same maths in float64 and measure how far the float32 refs are
    from it: the noise floor any float32 implementation (torch or lorac) lives
    with. Prints it per kind of tensor, and adds "<name>.after10_atol": the
    tolerance test_oracle.c uses on each final parameter tensor, 1e-4·max|ref|
    unless float32 noise is larger there. AdamW's update m/(sqrt(v)+eps) is
    scale-free, so an element whose gradient cancels to ~1e-6 of the tensor's
    largest gets a full-size step with a large relative error; such elements
    get 4x the measured float32-vs-float64 difference instead."""
    groups = {}
    for k, v in list(ref.items()):
        if not v.is_floating_point() or k.startswith("meta."):
            continue
        w = f64[k].to(torch.float64)
        err = (v.to(torch.float64) - w).abs().max().item()
        scale = w.abs().max().item()
        kind = k.rsplit(".", 1)[-1] if k.endswith((".grad", ".after10")) else k
        if kind.endswith(".weight"):
            kind = "initial A/B"
        rel = err / scale if scale > 0 else err
        groups[kind] = max(groups.get(kind, 0.0), rel)
        if k.endswith(".after10"):
            atol = max(1e-4 * v.abs().max().item(), 4 * err)
            ref[k + "_atol"] = torch.tensor([atol], dtype=torch.float32)
            if atol > 1e-4 * v.abs().max().item():
                print(f"  {k}: float32 noise {err:.3e} > 1e-4*max|ref|, atol {atol:.3e}")
    for kind, rel in sorted(groups.items()):
        print(f"  f32 vs f64  {kind:14s} worst max_abs/max|ref| = {rel:.3e}")



def quiet_torch(threads):
    """The oracle scripts' common start: no progress bars, no deprecation
    noise (transformers v5), torch seed 0 and `threads` intra-op threads."""
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    torch.set_num_threads(threads)


def randomise(model, seed, norm_shift=0.0, embed_std=1.0):
    """Norm weights U(0.5, 1.5), biases N(0, 0.25) (as applied: Gemma's (1 + w) weights get
    norm_shift -1), embeddings N(0, embed_std^2), (out, in) matrices N(0, 1/in):
    unit-scale activations, so attention is far from uniform and greedy
    argmaxes are well separated. (Gemma multiplies embeddings by sqrt(C) = 8
    and ties the head: embed_std 0.1 keeps the embedding from dominating the
    residual stream, else the tied head just repeats the last token.)"""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(0.5 + norm_shift + torch.rand(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(embed_std * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)


def random_llama(out_dir, seed, **cfg):
    """A LlamaForCausalLM of config `cfg` (untied, SiLU, no biases, RoPE base
    1e4, eps 1e-6, bos 1 / eos 2 unless given) with randomise()d weights,
    saved to out_dir (returned)."""
    base = dict(rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, hidden_act="silu",
                attention_bias=False, mlp_bias=False, bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(LlamaConfig(**{**base, **cfg})).float().eval()
    randomise(model, seed)
    model.save_pretrained(out_dir)
    return out_dir

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--case", default="all", choices=["all", "tiny-qwen2", "stories260K"])
    args = ap.parse_args()
    quiet_torch(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(FIXTURES, exist_ok=True)
    cases = []
    if args.case in ("all", "tiny-qwen2"):
        d = build_tiny_qwen2(os.path.join(FIXTURES, "tiny-qwen2"))
        cases.append(("tiny-qwen2", d, dict(B=2, T=16, pad_tail=4, seed=42)))
    if args.case in ("all", "stories260K"):
        if not os.path.isdir(STORIES):
            sys.exit(f"{STORIES}: not found (the stories260K-hf fixture lives in ../shared)")
        cases.append(("stories260K", STORIES, dict(B=2, T=32, pad_tail=7, seed=7)))
    for case, d, kw in cases:
        out, meta = run_case(case, d, **kw)
        f64, _ = run_case(case, d, dtype=torch.float64, **kw)
        f64_check(out, f64)
        save_case(case, out, meta)


if __name__ == "__main__":
    main()
