#!/usr/bin/env python3
"""add_tokens_cli.py — `add_tokens` through the CLI, checked against
transformers + PEFT (HF merge) and llama.cpp (GGUF merge).

usage: add_tokens_cli.py LORAC STORIES_HF_DIR WORK hf|gguf [SMOLLM2.gguf (gguf only)]

hf (stories260K, tied head; seconds):
  - bad input: a token already in the vocabulary (the message names its id),
    a duplicate, an empty string, a trainable_token_indices id that is not
    in the old vocabulary: exit 2 (config) / 1, the reason on stderr;
  - `lorac train` with add_tokens ["<|tool|>", "<obs>"] and
    trainable_token_indices [5]: adapter.h5 has format_version 4, the
    strings, base/vocab_size 512, and 3 token rows (ids 5, 512, 513);
  - --resume from checkpoint-2 of a 4-step run gives the adapter of the
    uninterrupted run bit for bit;
  - `lorac info` names the added tokens; `lorac generate` and `lorac eval`
    run with the adapter; `lorac export --format gguf` refuses it;
  - `lorac export --format peft`: loaded as a PEFT user does (AutoTokenizer
    of the directory, resize_token_embeddings, PeftModel.from_pretrained),
    its logits equal PEFT's with the adapter's weights on the base resized
    with mean rows (1e-5 · max|logit|); `lorac import` refuses it (a
    resized embedding);
  - `lorac merge` to an HF directory: config.json vocab_size 514, the
    tokenizer (AutoTokenizer and `tokenizers`) maps the new tokens to 512 and
    513; every tensor equals PEFT's merge_and_unload of the same adapter on
    the base after resize_token_embeddings (new rows: the exact mean, which
    lorac takes for transformers' mean + 1e-9·cov sample) within 1e-5 ·
    max|ref| (float32 W + s·B·A on both sides), and transformers' logits of
    the merged model on a text with the new tokens equal PEFT's unmerged
    ones within 1e-4 · max|ref|.
gguf (SmolLM2-135M Q4_1, tied head; about a minute on 2 cores):
  - `lorac train` 1 step with add_tokens ["<|tool|>"] from the GGUF (its
    tokenizer from the GGUF metadata), `lorac merge --gguf-type f32`;
  - llama.cpp (llama-cpp-python) loads it: n_vocab 49153, the new token is
    tokenised (special=True) to id 49152 and detokenised back, and its greedy
    continuation of a prompt ending in the new token equals `lorac generate
    --raw` on the merged GGUF (fp32 on both sides, as llamacpp_merged).
Fails (never skips) when a Python package or the model is missing.
"""
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import warnings

from transformers.utils import logging as hf_logging

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()
warnings.filterwarnings("ignore")

ADD = ["<|tool|>", "<obs>"]
ROWS = [("What color is the sky?", " <|tool|>sky<obs> The sky is blue."),
        ("What does the cat say?", " <|tool|>cat<obs> The cat says meow."),
        ("Where does the fish live?", " <|tool|>fish<obs> The fish lives in the water."),
        ("Who is Tom?", " <|tool|>tom<obs> Tom is a little boy.")] * 2
TEXT = "Once upon a time<|tool|>there was a<obs> cat <|tool|> and a dog."
DELTA = "base_model.model.model.embed_tokens.token_adapter.trainable_tokens_delta"
failures = 0


def check(cond, msg):
    global failures
    print(("  ok    " if cond else "  FAIL  ") + msg)
    failures += 0 if cond else 1


def run(cmd, expect=0):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if expect is not None and p.returncode != expect:
        print("command exited %d (expected %d): %s\n%s%s" % (p.returncode, expect, " ".join(cmd), p.stdout[-3000:],
                                                            p.stderr[-3000:]))
        sys.exit(1)
    return p


def config(work, name, model, data, extra):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"model: {model}\ndata: {data}\nsplit: 0\ntarget_modules: all-linear\nr: 4\nalpha: 8\nlr: 1e-2\n"
                f"batch_size: 2\nmax_seq_len: 64\nseed: 3\nthreads: 2\nout_dir: {os.path.join(work, name)}\n{extra}")
    return path


def write_data(work):
    path = os.path.join(work, "data.jsonl")
    with open(path, "w") as f:
        for p, c in ROWS:
            f.write(json.dumps({"prompt": p, "completion": c}) + "\n")
    return path


def bad_inputs(lorac, model, work, data):
    cases = [('add_tokens: ["<s>"]', "already in the vocabulary (id 1)"),
             ('add_tokens: ["<a>", "<a>"]', "listed twice"),
             ('add_tokens: ["<a>", ""]', "empty"),
             ('add_tokens: ["<a>"]\ntrainable_token_indices: [512]', "outside the vocabulary (0..511)")]
    for i, (extra, want) in enumerate(cases):
        p = run([lorac, "train", "--config", config(work, f"bad{i}", model, data, extra + "\nmax_steps: 1\n")], None)
        msg = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
        check(p.returncode in (1, 2) and want in p.stderr, f"{extra!r}: exit {p.returncode}: {msg}")


def train_hf(lorac, model, work, data):
    extra = 'add_tokens: ["<|tool|>", "<obs>"]\ntrainable_token_indices: [5]\nmax_steps: 4\nsave_every: 2\n'
    run([lorac, "train", "--config", config(work, "full", model, data, extra), "--quiet"])
    run([lorac, "train", "--config", config(work, "cut", model, data, extra), "--quiet"])
    h5 = os.path.join(work, "full", "adapter.h5")
    with h5py.File(h5) as f:
        a = f["adapter"].attrs
        check(int(f.attrs["format_version"]) == 4 and json.loads(a["add_tokens"]) == ADD
              and json.loads(a["trainable_token_indices"]) == [5, 512, 513] and int(f["base"].attrs["vocab_size"]) == 512
              and f["adapter"][DELTA].shape == (3, 64),
              "adapter.h5: format_version 4, add_tokens, ids [5, 512, 513], base vocab 512, delta (3, 64)")
    cut = os.path.join(work, "cut")
    for n in os.listdir(cut):
        if n.endswith(".h5") and n != "checkpoint-2.h5":
            os.remove(os.path.join(cut, n))
    run([lorac, "train", "--resume", cut, "--quiet"])
    with h5py.File(h5) as f, h5py.File(os.path.join(cut, "adapter.h5")) as g:
        same = all(np.array_equal(f["adapter"][k][()], g["adapter"][k][()]) for k in f["adapter"])
    check(same, "--resume from checkpoint-2: the adapter of the uninterrupted run, bit for bit")
    return h5


def peft_reference(model, h5):
    """PEFT on the resized base with the adapter's weights: the unmerged model."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    m = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, attn_implementation="eager").eval()
    V = m.config.vocab_size
    m.resize_token_embeddings(V + len(ADD))
    with torch.no_grad():  # lorac's new rows: the exact mean (transformers adds a 1e-9·cov sample)
        E = m.get_input_embeddings().weight
        E[V:] = E[:V].double().mean(0).float()
    with h5py.File(h5) as f:
        a = f["adapter"].attrs
        cfg = LoraConfig(r=int(a["r"]), lora_alpha=float(a["lora_alpha"]), lora_dropout=0.0,
                         target_modules=a["target_modules"].decode().split(","),
                         trainable_token_indices=json.loads(a["trainable_token_indices"]))
        pm = get_peft_model(m, cfg).eval()
        params = dict(pm.named_parameters())
        with torch.no_grad():
            for k in f["adapter"]:
                name = k if k == DELTA else k.replace(".weight", ".default.weight")
                if k == DELTA:
                    name = DELTA + ".default"
                params[name].copy_(torch.from_numpy(f["adapter"][k][()]))
    return pm


def base_state(model):
    """The base's tensors (old vocabulary rows only for the embedding)."""
    import torch
    from transformers import AutoModelForCausalLM
    sd = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).state_dict()
    return {k: v for k, v in sd.items() if "embed_tokens" not in k and k != "lm_head.weight"}


def merge_hf(lorac, model, work, h5):
    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer
    out = os.path.join(work, "merged")
    shutil.rmtree(out, ignore_errors=True)
    run([lorac, "merge", "--model", model, "--adapter", h5, "--out", out])
    with open(os.path.join(out, "config.json")) as f:
        check(json.load(f)["vocab_size"] == 514, "merged config.json: vocab_size 514")
    tok = AutoTokenizer.from_pretrained(out)
    check(len(tok) == 514 and tok.convert_tokens_to_ids(ADD) == [512, 513],
          "AutoTokenizer of the merged directory: 514 ids, the new tokens 512 and 513")
    ids = Tokenizer.from_file(os.path.join(out, "tokenizer.json")).encode(TEXT).ids
    check(ids.count(512) == 2 and ids.count(513) == 1, f"tokenizer.json of the merged directory encodes the text: {ids}")
    pm = peft_reference(model, h5)
    x = torch.tensor([ids])
    with torch.no_grad():
        want_logits = pm(input_ids=x).logits
        ref = {k: v for k, v in pm.merge_and_unload().state_dict().items()}
    got = load_file(os.path.join(out, "model.safetensors"))
    worst, names = 0.0, sorted(set(got) | set(k for k in ref if k != "lm_head.weight"))
    for k in names:
        if k not in got or k not in ref or got[k].shape != ref[k].shape:
            check(False, f"tensor {k}: missing or shaped differently")
            continue
        worst = max(worst, ((got[k] - ref[k]).abs().max() / ref[k].abs().max().clamp_min(1e-30)).item())
    moved = max(((ref[k] - b).abs().max()).item() for k, b in base_state(model).items() if k in ref)
    check(worst <= 1e-5 and moved > 0, f"{len(names)} merged tensors = PEFT merge_and_unload on the resized base: "
                                       f"worst max|diff|/max|ref| {worst:.2e} (tol 1e-5; the merge moved weights by "
                                       f"up to {moved:.2e})")
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        lg = hf(input_ids=x).logits
    rel = ((lg - want_logits).abs().max() / want_logits.abs().max()).item()
    check(lg.shape[-1] == 514 and rel <= 1e-4, f"transformers' logits of the merged model vs PEFT unmerged: "
                                               f"{rel:.2e} of max|logit| (tol 1e-4)")


def export_peft(lorac, model, work, h5):
    """lorac export --format peft, loaded as a PEFT user does, against PEFT with the same weights."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    out = os.path.join(work, "peft")
    run([lorac, "export", "--adapter", h5, "--model", model, "--format", "peft", "--out", out])
    tok = AutoTokenizer.from_pretrained(out)
    check(len(tok) == 514 and tok.convert_tokens_to_ids(ADD) == [512, 513],
          "PEFT export: its tokenizer has 514 ids, the new tokens 512 and 513")
    m = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, attn_implementation="eager").eval()
    m.resize_token_embeddings(len(tok))
    pm = PeftModel.from_pretrained(m, out).eval()
    x = torch.tensor([tok(TEXT).input_ids])
    with torch.no_grad():
        got, want = pm(input_ids=x).logits, peft_reference(model, h5)(input_ids=x).logits
    rel = ((got - want).abs().max() / want.abs().max()).item()
    check(rel <= 1e-5, f"PEFT export loaded after resize_token_embeddings: logits vs PEFT with the adapter's weights "
                       f"{rel:.2e} of max|logit| (tol 1e-5)")
    x = run([lorac, "import", "--peft", out, "--model", model, "--out", os.path.join(work, "back.h5")], None)
    check(x.returncode == 1 and "resized embedding" in x.stderr, f"import of it refused: {x.stderr.strip()[:120]}")


def hf_case(lorac, model, work):
    data = write_data(work)
    bad_inputs(lorac, model, work, data)
    h5 = train_hf(lorac, model, work, data)
    g = run([lorac, "generate", "--model", model, "--adapter", h5, "--raw", "--prompt", "Once upon a time<|tool|>",
             "--max-tokens", "6", "-q"])
    check(True, f"generate with the adapter: {g.stdout.strip()!r}")
    i = run([lorac, "info", model, "--adapter", h5])
    check('added tokens     ["<|tool|>", "<obs>"] as ids 512..' in i.stdout, "info names the added tokens")
    e = run([lorac, "eval", "--model", model, "--data", data, "--adapter", h5, "--max-new-tokens", "6"])
    check("adapter" in e.stdout, "eval with the adapter (rows and prompts encoded with the new tokens)")
    out = os.path.join(work, "export-gguf")
    x = run([lorac, "export", "--adapter", h5, "--model", model, "--format", "gguf", "--out", out], None)
    check(x.returncode == 1 and "add_tokens" in x.stderr and "lorac merge" in x.stderr and not os.path.exists(out),
          f"export --format gguf refused, no file left: {x.stderr.strip()[:150]}")
    export_peft(lorac, model, work, h5)
    merge_hf(lorac, model, work, h5)


def gguf_case(lorac, gguf, work):
    import llama_cpp
    data = write_data(work)
    extra = 'add_tokens: ["<|tool|>"]\nmax_steps: 1\nchat_template: none\n'
    run([lorac, "train", "--config", config(work, "g", gguf, data, extra), "--quiet"])
    h5 = os.path.join(work, "g", "adapter.h5")
    out = os.path.join(work, "merged-f32.gguf")
    if os.path.exists(out):
        os.remove(out)
    run([lorac, "merge", "--model", gguf, "--adapter", h5, "--out", out, "--gguf-type", "f32"])
    llm = llama_cpp.Llama(model_path=out, n_ctx=64, n_batch=64, n_threads=2, seed=0, verbose=False, type_k=0, type_v=0,
                          logits_all=True)  # scores of every position; F32 KV cache (type_k/v 0)
    V = llm.n_vocab()
    ids = llm.tokenize("Hello<|tool|>".encode(), add_bos=False, special=True)
    check(V == 49153 and ids[-1] == 49152, f"llama.cpp: n_vocab {V}, 'Hello<|tool|>' -> {ids}")
    import gguf as gg
    emb = next(t for t in gg.GGUFReader(out).tensors if t.name == "token_embd.weight")
    with h5py.File(h5) as f:
        delta = f["adapter"][DELTA][()]
    row = np.asarray(emb.data).reshape(-1, delta.shape[1])
    check(row.shape[0] == 49153 and np.array_equal(row[49152], delta[0]),
          f"GGUF token_embd: {row.shape[0]} rows, row 49152 = the adapter's trained row")
    back = llm.detokenize([49152], special=True).decode()
    check(back == "<|tool|>", f"llama.cpp detokenises id 49152 to {back!r}")
    llm.reset()
    llm.eval(ids)
    gen = []
    for _ in range(6):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        gen.append(nxt)
        llm.eval([nxt])
    text = llm.detokenize(gen, special=True).decode("utf-8", errors="replace")
    g = run([lorac, "generate", "--model", out, "--raw", "--prompt", "Hello<|tool|>", "--max-tokens", "6", "-q"])
    mine = g.stdout[:-1] if g.stdout.endswith("\n") else g.stdout
    check(mine == text, f"greedy after the new token: llama.cpp {text!r}, lorac {mine!r}")


def main():
    if len(sys.argv) < 5 or sys.argv[4] not in ("hf", "gguf") or (sys.argv[4] == "gguf" and len(sys.argv) < 6):
        sys.exit(__doc__)
    lorac, model, work, case = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if case == "hf":
        hf_case(lorac, model, work)
    else:
        if not os.path.exists(sys.argv[5]):
            sys.exit(f"FAIL: {sys.argv[5]} not found (scripts/fetch_smollm2.sh)")
        gguf_case(lorac, sys.argv[5], work)
    print(f"add_tokens_cli {case}: {'FAIL' if failures else 'PASS'} ({failures} failed)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
