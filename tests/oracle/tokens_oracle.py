#!/usr/bin/env python3
"""
tokens_oracle.py — lorac's trainable tokens (trainable_token_indices) against
PEFT's (LoraConfig(trainable_token_indices=...), TrainableTokensLayer) on a
whole model (ctest oracle_tokens_*): logits, loss, every lora_A / lora_B
gradient and the gradient of the token rows (token_adapter.trainable_tokens_delta),
3 AdamW steps (eps 1e-4, see ADAMW; loss and pre-clip grad norm before
each, every parameter after), PEFT's merge_and_unload (embedding and LM head), and PEFT's saved
adapter directory for lorac to import.

Cases: "stories" = stories260K (tied head: the delta rows are the head's rows
too, the gradient sums both uses), "qwen2" = the committed tiny-qwen2 (untied
head: only the input embedding changes). The adapter: r 4, alpha 8, all
seven projections; A kaiming-like, B = 0.05·N(0,1); token ids: the first few
distinct tokens of the batch (inputs and targets both) plus one id that does
not occur; delta = E[ids] + 0.02·N(0,1), so a replaced row differs from an
added one. The case is also run in float64: the float32 noise is printed and
sets the after-3-steps tolerance like make_refs.f64_check.

After the C binary ran, the adapter it exported (lc_deploy_export_peft) is
loaded with PeftModel.from_pretrained and its loss on the batch must equal
PEFT's own (1e-5 rel) — the export is read by PEFT itself.

Cases "stories-add" and "qwen2-add": add_tokens, i.e. HF's
tokenizer.add_tokens(ADD, special_tokens=True) + model.resize_token_embeddings
(mean_resizing) and PEFT trainable_token_indices = three ids of the old
vocabulary + the new ids V, V+1. transformers initialises each new row as the
mean of the old rows plus a sample of N(0, 1e-9·cov); lorac takes the exact
mean, so the reference overwrites the new rows with the mean (computed in
float64, rounded to float32 as lorac does) and prints how far transformers'
sample was from it (~1e-5 of max|E| for these models: below every
tolerance, but it would make the new rows' check a check of the noise). The
batch holds the new ids as inputs and as targets. stories260K (which has a
tokenizer) also gives the ids and decodes of a text with the new tokens as
HF's tokenizer makes them ("text_ids", metadata "text", "decoded",
"decoded_skip"). PEFT's saved adapter of the resized model (which holds the
whole resized embedding) must be refused by lorac's import; lorac's PEFT
export (adapter dir + the base's tokenizer files with the tokens added + the
resized embedding / head as PEFT saves them) is loaded as a PEFT user does:
AutoTokenizer(dir), resize_token_embeddings(len(tokenizer)),
PeftModel.from_pretrained — and must give PEFT's loss (1e-5 rel); the
tiny-qwen2 has no tokenizer, so there the export must be refused.

Usage: tokens_oracle.py <test_tokens_oracle binary> <stories|qwen2|stories-add|qwen2-add>
Fails (never skips) when torch / transformers / peft are missing.
"""
import json
import os
import subprocess
import sys
import tempfile
import warnings

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_refs  # noqa: E402  (batch, loss and writer of the oracle cases)

MODELS = {"stories": make_refs.STORIES, "qwen2": os.path.join(make_refs.FIXTURES, "tiny-qwen2")}
ADD = ["<|tool|>", "<obs>"]  # the add cases' new tokens
ADD_TEXT = "Once upon a time<|tool|>there was a<obs> cat <|tool|> and a <obs>dog.<obs>"
R, ALPHA, STEPS = 4, 8, 3
# make_refs' AdamW with eps 1e-4 instead of 1e-8. At step 1 Adam moves each
# element by lr·g/(|g| + eps), whose slope in g is lr·eps/(|g| + eps)²: with
# eps 1e-8 it is 1.6e4 for an element with |g| = 7e-8 (one of stories260K's
# layer-4 gate_proj A entries in this case), so float32 noise of 1e-9 in that
# gradient moves the element by 2e-5 — torch f32 and f64 differ by that much,
# lorac by 4x that — and the after-3-steps check would test the sign of
# rounding noise. With eps 1e-4 the slope is at most lr/eps = 100 (noise
# 1e-9 -> 1e-7), while elements with |g| >> 1e-4 (most: max |g| is ~1e-2 to
# 1) still take Adam's normalised step. The AdamW code is the same flat step
# the LoRA oracles check with eps 1e-8 (oracle_stories260k, oracle_dora_*).
ADAMW = dict(make_refs.ADAMW, eps=1e-4)
DELTA = "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"


def ref_name(n):
    """PEFT parameter name -> the name PEFT saves (adapter name dropped)."""
    n = n.replace(".default.weight", ".weight")
    return DELTA if n.startswith(DELTA) else n


def pick_ids(tokens, targets, V):
    """Four distinct ids that occur in the batch, then one that does not."""
    seen = []
    for t in torch.cat([tokens.flatten(), targets[targets >= 0].flatten()]).tolist():
        if t not in seen and t != 0:
            seen.append(t)
    absent = next(i for i in range(V - 1, 0, -1) if i not in tokens.flatten().tolist()
                  and i not in targets.flatten().tolist())
    return seen[:4] + [absent]


def resize(model, n):
    """resize_token_embeddings(V + n) (mean_resizing), new rows then set to the
    exact mean (see the docstring). Returns max|HF's row - mean| / max|E|."""
    V = model.config.vocab_size
    model.resize_token_embeddings(V + n)
    dev = 0.0
    layers = [model.get_input_embeddings().weight]
    if not model.config.tie_word_embeddings:
        layers.append(model.get_output_embeddings().weight)
    with torch.no_grad():
        for W in layers:
            mean = W[:V].double().mean(0).float()
            dev = max(dev, ((W[V:] - mean).abs().max() / W[:V].abs().max()).item())
            W[V:] = mean
    return dev


def build(mdir, ids, dtype, n_add=0):
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager").eval()
    if n_add:
        resize(model, n_add)
    model.to(dtype)
    head0 = model.get_output_embeddings().weight.detach().clone()
    cfg = LoraConfig(r=R, lora_alpha=ALPHA, target_modules=make_refs.TARGETS, lora_dropout=0.0, bias="none",
                     trainable_token_indices=ids)
    pm = get_peft_model(model, cfg)
    pm.eval()
    return pm, head0


def add_batch(tokens, targets, V):
    """The new ids V, V+1 as inputs and as targets (not on padding)."""
    for (b, t), v in {(0, 1): V, (0, 4): V + 1, (1, 2): V + 1, (1, 6): V}.items():
        tokens[b, t] = v
    for (b, t), v in {(0, 4): V, (0, 7): V + 1, (1, 5): V + 1, (1, 9): V}.items():
        targets[b, t] = v


def run(mdir, dtype, save_dir=None, add=False):
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32)
    V = model.config.vocab_size
    tied = bool(model.config.tie_word_embeddings)
    dev = resize(model, len(ADD)) if add else 0.0
    del model
    tokens, targets = make_refs.make_batch(V, 2, 16, 7, 5)
    ids = pick_ids(tokens, targets, V)
    if add:
        ids = ids[:3] + [V + i for i in range(len(ADD))]
        add_batch(tokens, targets, V)
    pm, head0 = build(mdir, ids, dtype, len(ADD) if add else 0)
    params = [(n, p) for n, p in pm.named_parameters() if p.requires_grad]
    assert len(params) == pm.config.num_hidden_layers * 7 * 2 + 1, [n for n, _ in params]
    g = torch.Generator().manual_seed(515)
    out = {"tokens": tokens.to(torch.int32), "targets": targets.to(torch.int32)}
    with torch.no_grad():
        E = pm.get_input_embeddings().token_adapter.base_layer.weight
        out["embed_tokens"] = E.detach().clone()
        for n, p in params:
            if ".lora_A." in n:
                p.copy_(((torch.rand(p.shape, generator=g) * 2 - 1) / p.shape[1] ** 0.5).to(dtype))
            elif ".lora_B." in n:
                p.copy_((0.05 * torch.randn(p.shape, generator=g)).to(dtype))
            else:  # the delta starts as E[ids] (PEFT init); checked, then moved off it
                assert torch.equal(p, E[ids]), "PEFT's delta does not start at the embedding rows"
                p.add_((0.02 * torch.randn(p.shape, generator=g)).to(dtype))
    for n, p in params:
        out[ref_name(n)] = p.detach().clone()
    if save_dir:
        pm.save_pretrained(save_dir)
    logits = pm(input_ids=tokens).logits
    loss, n_targets = make_refs.loss_fn(logits, targets)
    loss.backward()
    out["logits"], out["loss"] = logits.detach().clone(), loss.detach().reshape(1).clone()
    out["n_targets"] = torch.tensor([n_targets], dtype=torch.int32)
    for n, p in params:
        out[ref_name(n) + ".grad"] = p.grad.detach().clone()
    make_refs.adamw_steps(pm, params, tokens, targets, STEPS, ADAMW, dtype, out, ref_name)
    merged = pm.merge_and_unload()  # PEFT's merge of the state after the 3 steps
    out["merged.embed_tokens"] = merged.get_input_embeddings().weight.detach().clone()
    out["merged.lm_head"] = merged.get_output_embeddings().weight.detach().clone()
    if add:  # the grown (V + n, C) LM head of the base as resize left it
        out["lm_head"] = head0
        out["meta.hf_mean_dev"] = torch.tensor([dev], dtype=dtype)
    out["meta.r"] = torch.tensor([R], dtype=torch.int32)
    out["meta.alpha"] = torch.tensor([ALPHA], dtype=torch.float32)
    out["meta.scaling"] = torch.tensor([ALPHA / R], dtype=torch.float32)
    out["meta.ids"] = torch.tensor(ids, dtype=torch.int32)
    out["meta.tied"] = torch.tensor([int(tied)], dtype=torch.int32)
    return {k: v.contiguous() for k, v in out.items()}, ids


def peft_loss(mdir, adapter_dir, tokens, targets, add=False):
    """Loss of the adapter in adapter_dir as PEFT loads it (add: after
    resize_token_embeddings to its tokenizer, which must hold the new tokens)."""
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager").eval()
    if add:
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(adapter_dir)
        V = model.config.vocab_size
        assert [tok.convert_tokens_to_ids(a) for a in ADD] == [V + i for i in range(len(ADD))], "tokenizer"
        model.resize_token_embeddings(len(tok))
    pm = PeftModel.from_pretrained(model, adapter_dir).eval()
    with torch.no_grad():
        lo, _ = make_refs.loss_fn(pm(input_ids=tokens.long()).logits, targets.long())
    return lo.item()


def tokenizer_refs(mdir):
    """HF's ids and decodes of ADD_TEXT after add_tokens(ADD, special_tokens=True).

    The ids come from the `tokenizers` library on the model's tokenizer.json
    with AddedToken(special=True, normalized=False) — what
    transformers' add_tokens(..., special_tokens=True) adds to the backend and
    what lorac's tokenizer implements. (transformers 5's LlamaTokenizer
    rebuilds this Llama-2-style pipeline with a Metaspace pre-tokenizer
    instead of the file's Prepend normalizer, which differs from the file
    after any special token, old or new; that is not what this checks.) The
    new ids are also checked against AutoTokenizer's."""
    from tokenizers import AddedToken, Tokenizer
    from transformers import AutoTokenizer
    auto = AutoTokenizer.from_pretrained(mdir)
    V = len(auto)
    assert auto.add_tokens(ADD, special_tokens=True) == len(ADD)
    assert [auto.convert_tokens_to_ids(a) for a in ADD] == [V + i for i in range(len(ADD))]
    tok = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
    assert tok.get_vocab_size(with_added_tokens=True) == V
    tok.add_special_tokens([AddedToken(a, special=True, normalized=False) for a in ADD])
    assert [tok.token_to_id(a) for a in ADD] == [V + i for i in range(len(ADD))]
    ids = tok.encode(ADD_TEXT).ids
    assert all(V + i in ids for i in range(len(ADD))), ids
    meta = {"text": ADD_TEXT, "decoded": tok.decode(ids, skip_special_tokens=False),
            "decoded_skip": tok.decode(ids, skip_special_tokens=True)}
    print(f"  HF tokenizers after add_special_tokens: {ids}")
    return torch.tensor(ids, dtype=torch.int32), meta


def main():
    cases = list(MODELS) + [m + "-add" for m in MODELS]
    if len(sys.argv) != 3 or sys.argv[2] not in cases:
        sys.exit("usage: tokens_oracle.py <test_tokens_oracle binary> <" + "|".join(cases) + ">")
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    case = sys.argv[2]
    add = case.endswith("-add")
    mdir = MODELS[case.removesuffix("-add")]
    meta = {"case": f"tokens-{case}", "generator": "tests/oracle/tokens_oracle.py"}
    with tempfile.TemporaryDirectory(prefix="lorac_tokens_") as tmp:
        peft_dir, export_dir = os.path.join(tmp, "peft"), os.path.join(tmp, "lorac_export")
        out, ids = run(mdir, torch.float32, peft_dir, add)
        f64, _ = run(mdir, torch.float64, None, add)
        if add:
            meta["add_tokens"] = json.dumps(ADD)
            print(f"  transformers' mean_resizing sample vs the exact mean: max|diff|/max|E| = "
                  f"{out['meta.hf_mean_dev'].item():.2e} (the reference takes the exact mean)")
            if os.path.exists(os.path.join(mdir, "tokenizer.json")):
                out["text_ids"], tmeta = tokenizer_refs(mdir)
                meta.update(tmeta)
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
        print(f"trainable tokens oracle {case} (ids {ids}, tied {bool(out['meta.tied'].item())}): loss "
              f"{out['loss'].item():.6f}, losses_3 " + " ".join(f"{x:.5f}" for x in out["losses_3"].tolist()))
        for kind, rel in sorted(worst.items()):
            print(f"  f32 vs f64  {kind:22s} worst max_abs/max|ref| = {rel:.3e}")
        ref = os.path.join(tmp, f"tokens_{case}_ref.safetensors")
        out = {k: (v.float() if v.is_floating_point() else v) for k, v in out.items()}
        make_refs.save_sorted(out, ref, meta)
        sys.stdout.flush()
        rc = subprocess.run([sys.argv[1], mdir, ref, peft_dir, export_dir]).returncode
        if rc != 0:
            sys.exit(rc)
        if add and not os.path.exists(os.path.join(mdir, "tokenizer.json")):
            print("PASS")
            return
        # lorac's export (made by the binary from the reference's initial state) as PEFT loads it
        got = peft_loss(mdir, export_dir, out["tokens"], out["targets"], add)
        want = out["loss"].item()
        rel = abs(got - want) / abs(want)
        print(f"  PEFT loads lorac's export: loss {got:.7f} vs {want:.7f}, rel {rel:.2e} (tol 1e-5)")
        if not rel <= 1e-5:
            print("FAIL: the exported adapter does not reproduce PEFT's loss")
            sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
