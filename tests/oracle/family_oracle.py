#!/usr/bin/env python3
"""
family_oracle.py — lorac on model families built at test time by transformers
(ctest oracle_family_<case>): a tiny random model is written to a temporary
directory, then

  1. make_refs.run_case computes the PyTorch + PEFT references (logits, loss,
     every LoRA gradient, 10 AdamW steps; float64 rerun for the after10
     tolerances) and test_oracle (argv[1]) checks lorac against them with
     test_oracle's tolerances (logits 1e-5 of max|ref|, gradients 1e-4);
  2. test_infer (argv[2]) checks the KV-cache forward (prefill, decode,
     rewind, adapters, Q4_1/Q8_0 copies) against lc_forward on the same dir;
  3. the model converted to GGUF as llama.cpp's convert_hf_to_gguf.py
     does (llama q/k permuted, llama3 scaling as rope_freqs.weight, linear
     as rope.scaling.* keys) passes test_oracle against the same references;
  4. `lorac generate` (argv[3]) greedy on a prompt equals transformers'
     greedy generate() token for token (the stories260K tokenizer is copied
     into the temporary directory; vocabulary 512);
  5. a PEFT adapter through `lorac import` and `lorac merge` (HF directory):
     transformers on the merged directory equals PEFT's merge_and_unload();
     merged into the GGUF of step 3, lorac merge's own reload check passes.

Cases:
  qwen3          Qwen3ForCausalLM: q/k RMSNorm per head before RoPE, no qkv
                 bias, head_dim 24 != hidden / heads = 16, GQA 2, untied
  llama3-rope    LlamaForCausalLM with rope_scaling llama3 (factor 8, low 1,
                 high 4, original_max_position_embeddings 32: over head_dim 16
                 one frequency is kept, one smoothed, six divided), tied
  linear-rope    LlamaForCausalLM with rope_scaling linear (factor 4)
  yarn-rope      LlamaForCausalLM with rope_scaling yarn (factor 4, original 32,
                 HF's default betas and attention factor); no GGUF step (lorac
                 refuses yarn keys in GGUF)
  gemma3         Gemma3ForCausalLM (gemma3_text): sandwich norms with (1 + w)
                 weights, GeGLU, q/k norm, embeddings x sqrt(C), head_dim 24 !=
                 64 / 4, GQA 2, tied head, 7 layers with the default pattern
                 (layer 5 global, the rest sliding), sliding_window 8 < T,
                 global RoPE base 1e6, local 1e4; query_pre_attn_scalar =
                 head_dim so that the GGUF step (llama.cpp fixes the scale,
                 the pattern 6 and the local base) sees the same model
  gemma3-scale   Gemma3ForCausalLM with query_pre_attn_scalar 20 != head_dim,
                 layer_types of period 3, sliding_window 5, local base 500,
                 linear RoPE scaling (factor 2) on the global layers only, an
                 untied head; no GGUF step (llama.cpp cannot express these)

Nothing is committed; fixed seeds. Fails (never skips) when torch,
transformers or peft are missing: the imports raise.

Usage: family_oracle.py <test_oracle> <test_infer> <lorac> <stories260K-hf dir> <case>
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import gguf
import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM
from transformers import Gemma3ForCausalLM, Gemma3TextConfig, Qwen3Config, Qwen3ForCausalLM
from transformers.utils import logging as hf_logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_refs  # noqa: E402  (the oracle case machinery)

V = 512  # the stories260K tokenizer's vocabulary, so `lorac generate` can run
PROMPT = "Once upon a time"
N_NEW = 24


def randomise(model, seed, norm_shift=0.0, embed_std=1.0):
    """Norm weights U(0.5, 1.5) (as applied: Gemma's (1 + w) weights get
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


def byte_token_ids(stories):
    """Ids of the tokenizer's raw-byte pieces <0xNN>."""
    tok = AutoTokenizer.from_pretrained(stories)
    pieces = tok.convert_ids_to_tokens(list(range(V)))
    return [i for i, p in enumerate(pieces) if len(p) == 6 and p.startswith("<0x") and p.endswith(">")]


def build(case, out_dir):
    common = dict(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                  rms_norm_eps=1e-6, rope_theta=10000.0, hidden_act="silu", attention_dropout=0.0,
                  bos_token_id=1, eos_token_id=2)
    if case == "qwen3":
        cfg = Qwen3Config(head_dim=24, tie_word_embeddings=False, attention_bias=False,
                          use_sliding_window=False, **common)
        model = Qwen3ForCausalLM(cfg)
    elif case == "llama3-rope":
        cfg = LlamaConfig(head_dim=16, tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
                          rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                        "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
                          **common)
        model = LlamaForCausalLM(cfg)
    elif case == "yarn-rope":
        cfg = LlamaConfig(head_dim=16, tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                          rope_scaling={"rope_type": "yarn", "factor": 4.0,
                                        "original_max_position_embeddings": 32}, **common)
        model = LlamaForCausalLM(cfg)
    elif case == "linear-rope":
        cfg = LlamaConfig(head_dim=16, tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                          rope_scaling={"rope_type": "linear", "factor": 4.0}, **common)
        model = LlamaForCausalLM(cfg)
    elif case in ("gemma3", "gemma3-scale"):
        model = Gemma3ForCausalLM(gemma3_config(case, common))
    else:
        sys.exit(f"unknown case {case}")
    model = model.float().eval()
    gemma = case.startswith("gemma3")
    randomise(model, 4321, norm_shift=-1.0 if gemma else 0.0, embed_std=0.1 if gemma else 1.0)
    model.save_pretrained(out_dir)
    gen = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    return out_dir


def gemma3_config(case, common):
    """The two Gemma 3 cases (see the module docstring); bos/eos as the
    stories260K tokenizer's, so generation sees the same ids."""
    kw = {k: v for k, v in common.items() if k not in ("hidden_act", "rope_theta", "num_hidden_layers")}
    kw.update(num_hidden_layers=7, head_dim=24, hidden_activation="gelu_pytorch_tanh", pad_token_id=0,
              attention_bias=False, final_logit_softcapping=None, attn_logit_softcapping=None)
    if case == "gemma3":
        return Gemma3TextConfig(query_pre_attn_scalar=24, sliding_window=8, tie_word_embeddings=True,
                                rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                                 "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}},
                                **kw)
    types = ["full_attention" if (i + 1) % 3 == 0 else "sliding_attention" for i in range(7)]
    return Gemma3TextConfig(query_pre_attn_scalar=20, sliding_window=5, tie_word_embeddings=False, layer_types=types,
                            rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0,
                                                                "rope_theta": 10000.0},
                                             "sliding_attention": {"rope_type": "default", "rope_theta": 500.0}},
                            **kw)


def hf_permute(w, n_head):
    """llama.cpp convert_hf_to_gguf.py's q/k row interleave for its RoPE."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama3_rope_factors(cfg):
    """convert_hf_to_gguf.py (LlamaModel) rope_freqs for rope_type llama3:
    the divisor of each inverse frequency."""
    rs = cfg["rope_scaling"]
    base, dim = cfg["rope_theta"], cfg["head_dim"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], \
        rs["original_max_position_embeddings"]
    out = []
    for freq in freqs.tolist():
        wavelen = 2 * math.pi / freq
        if wavelen < old / hi:
            out.append(1)
        elif wavelen > old / lo:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_gguf(d, path, case):
    """The HF model as llama.cpp's converter writes it (F32 tensors, llama.cpp
    names, llama's q/k permuted, llama3 scaling as rope_freqs.weight, linear
    as rope.scaling.* keys); no tokenizer (lorac takes the vocabulary from
    token_embd)."""
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    rs = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}
    rs = rs.get("full_attention", rs)  # Gemma 3: per layer type; GGUF holds the global one
    cfg["rope_theta"] = cfg.get("rope_theta", rs.get("rope_theta", 10000.0))
    cfg["rope_scaling"] = rs
    sd = {k: v.numpy() for k, v in load_file(os.path.join(d, "model.safetensors")).items()}
    arch = {"qwen3": "qwen3", "gemma3": "gemma3"}.get(case, "llama")
    if arch == "gemma3":  # llama.cpp's converter stores Gemma's norm weights as 1 + w
        sd = {k: v + 1 if k.endswith("norm.weight") else v for k, v in sd.items()}
    H, Hkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(H)
    w.add_head_count_kv(Hkv)
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(cfg["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    if arch == "gemma3":
        w.add_sliding_window(cfg["sliding_window"])
    if rs.get("rope_type") == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(rs["factor"])
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    if rs.get("rope_type") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(cfg))
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm",
             "self_attn.k_norm": "attn_k_norm", "post_attention_layernorm": "ffn_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    if arch == "gemma3":  # sandwich norms: llama.cpp's gemma3 names
        names.update({"post_attention_layernorm": "post_attention_norm", "pre_feedforward_layernorm": "ffn_norm",
                      "post_feedforward_layernorm": "post_ffw_norm"})
    for l in range(cfg["num_hidden_layers"]):
        for hf, gg in names.items():
            k = f"model.layers.{l}.{hf}.weight"
            if k not in sd:
                continue
            t = sd[k]
            if arch == "llama" and hf == "self_attn.q_proj":
                t = hf_permute(t, H)
            if arch == "llama" and hf == "self_attn.k_proj":
                t = hf_permute(t, Hkv)
            w.add_tensor(f"blk.{l}.{gg}.weight", np.ascontiguousarray(t))
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    if "lm_head.weight" in sd and not cfg.get("tie_word_embeddings"):
        w.add_tensor("output.weight", sd["lm_head.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def generation_copy(d, out_dir, stories):
    """The model with the stories260K tokenizer and zero head rows (logit 0)
    for the raw-byte tokens, so greedy text is whole pieces: a lone byte of a
    multi-byte character is printed as U+FFFD by a streaming decoder, which
    would hide the token compared. (The oracle above runs on the unchanged
    model.)"""
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    with torch.no_grad():
        model.get_output_embeddings().weight[byte_token_ids(stories)] = 0
    model.save_pretrained(out_dir)
    gen = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(stories, f), out_dir)
    return out_dir


def greedy_matches(lorac, d):
    """`lorac generate` greedy text == transformers greedy generate() text."""
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    ids = tok(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=N_NEW, do_sample=False, eos_token_id=None, pad_token_id=0)
    new = out[0, ids.shape[1]:].tolist()
    # margins of the greedy picks: a near-tie would make the comparison a coin toss
    with torch.no_grad():
        logits = model(out[:, :-1]).logits[0, ids.shape[1] - 1:]
    top2 = logits.topk(2, dim=-1).values
    margin = (top2[:, 0] - top2[:, 1]).min().item()
    eos = tok.eos_token_id
    if eos in new:  # lorac stops at EOS (not printed)
        new = new[:new.index(eos)]
    # the expected bytes, piece by piece (SentencePiece: "▁" is a space,
    # "<0xNN>" a raw byte; a random model emits byte tokens that are not
    # valid UTF-8 on their own, so bytes are compared, not decoded text)
    want = bytearray()
    for piece in tok.convert_ids_to_tokens(new):
        if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            want.append(int(piece[3:5], 16))
        else:
            want += piece.replace("\u2581", " ").encode()
    r = subprocess.run([lorac, "generate", "--model", d, "--prompt", PROMPT, "--chat-template", "none",
                        "--max-tokens", str(N_NEW), "--quiet", "--threads", "2"], capture_output=True)
    got = r.stdout
    print(f"greedy: transformers ids {new}, smallest top-2 logit margin {margin:.3g}")
    print(f"  transformers: {bytes(want)!r}")
    print(f"  lorac:        {got!r}")
    if r.returncode != 0:
        print(r.stderr.decode(errors="replace"))
        return False
    # a decoder drops the leading space of the first piece (SentencePiece
    # decoding, as transformers' decode() does): compare without it
    ok = got.rstrip(b"\n").lstrip(b" ") == bytes(want).rstrip(b"\n").lstrip(b" ") and len(new) > 0
    print("  greedy continuation", "equal" if ok else "DIFFERS")
    return ok


def merge_matches(lorac, d, tmp, gguf_base):
    """A PEFT adapter imported (`lorac import`) and merged (`lorac merge`,
    HF directory out): transformers on the merged directory gives PEFT's
    merge_and_unload() logits within 1e-5 of max|ref|."""
    from peft import LoraConfig, get_peft_model
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager").eval()
    pm = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=make_refs.TARGETS, lora_dropout=0.0))
    g = torch.Generator().manual_seed(99)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if ".lora_B." in n:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    adir, h5, out = (os.path.join(tmp, x) for x in ("peft", "adapter.h5", "merged"))
    pm.save_pretrained(adir)
    tokens = torch.randint(0, V, (2, 24), generator=g)
    with torch.no_grad(), pm.disable_adapter():
        base = pm(input_ids=tokens).logits
    with torch.no_grad():
        ref = pm.merge_and_unload()(input_ids=tokens).logits
    for cmd in ([lorac, "import", "--peft", adir, "--model", d, "--out", h5],
                [lorac, "merge", "--model", d, "--adapter", h5, "--out", out]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(" ".join(cmd), "failed:", r.stdout, r.stderr)
            return False
    # GGUF base -> merged .gguf: lorac merge reloads it and compares its
    # logits with base + unmerged adapter (exit status 0 only if equal)
    hg, og = os.path.join(tmp, "adapter_gguf.h5"), os.path.join(tmp, "merged.gguf")
    for cmd in ([lorac, "import", "--peft", adir, "--model", gguf_base, "--out", hg],
                [lorac, "merge", "--model", gguf_base, "--adapter", hg, "--out", og]) if gguf_base else ():
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(" ".join(cmd), "failed:", r.stdout, r.stderr)
            return False
    if gguf_base:
        print("merged GGUF from the GGUF base: lorac merge's reload check passed")
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        got = merged(input_ids=tokens).logits
    err, scale = (got - ref).abs().max().item(), ref.abs().max().item()
    delta = (ref - base).abs().max().item()  # what the adapter changes: the check must see it
    ok = err <= 1e-5 * scale and delta > 100 * 1e-5 * scale
    print(f"merged HF dir: transformers logits vs PEFT merge_and_unload: max_abs {err:.3e} max|ref| {scale:.3e} "
          f"(adapter moves them by {delta:.3e}) {'ok' if ok else 'FAIL'}")
    return ok


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: family_oracle.py <test_oracle> <test_infer> <lorac> <stories260K-hf dir> <case>")
    test_oracle, test_infer, lorac, stories, case = sys.argv[1:]
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="lorac_family_") as tmp:
        d = build(case, os.path.join(tmp, case))
        kw = dict(B=2, T=40, pad_tail=5, seed=17)  # T > original_max_position 32 of llama3-rope
        out, meta = make_refs.run_case(case, d, **kw)
        f64, _ = make_refs.run_case(case, d, dtype=torch.float64, **kw)
        make_refs.f64_check(out, f64)
        ref = os.path.join(tmp, "ref.safetensors")
        make_refs.save_sorted(out, ref, meta)
        env = dict(os.environ, OMP_NUM_THREADS="2")
        failures += subprocess.run([test_oracle, d, ref], env=env).returncode != 0
        failures += subprocess.run([test_infer, d], env=env).returncode != 0
        g = None
        if case not in ("yarn-rope", "gemma3-scale"):  # not expressible in GGUF (yarn refused; see docstring)
            g = write_gguf(d, os.path.join(tmp, case + ".gguf"), case)
            print(f"--- the same model as GGUF ({g}) against the same references")
            failures += subprocess.run([test_oracle, g, ref], env=env).returncode != 0
        gen = generation_copy(d, os.path.join(tmp, "gen"), stories)
        failures += not greedy_matches(lorac, gen)
        failures += not merge_matches(lorac, gen, tmp, g)
    print(f"{case}: {'all passed' if not failures else f'{failures} part(s) FAILED'}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
