"""gemma3_torch.py — the PyTorch reference for the real Gemma 3 270M GGUF.

reference_model(path) reads every tensor of a gemma3 GGUF with the `gguf`
package, dequantises it to float32 (gguf.quants.dequantize: the values lorac's
bit-exact dequantisers give), maps it to transformers' Gemma3ForCausalLM names
and loads it into a float32, eager-attention model built from the GGUF's own
hyper-parameters. Two conversions undo what llama.cpp's convert_hf_to_gguf.py
did to a Gemma 3 checkpoint:
  - every RMSNorm weight (attn/ffn/post norms, q/k norms, output norm) is
    stored as 1 + w (Gemma's norms multiply by (1 + w)): subtract 1;
  - q/k rows are NOT permuted for gemma3 (llama.cpp runs it with NEOX rope,
    which is HF's rotate-half): nothing to undo.
What the GGUF does not hold is taken from google/gemma-3-270m's config.json,
which llama.cpp hard-codes for gemma3 too: one global layer every 6 (layers
5, 11, 17), local rope base 10000, query_pre_attn_scalar = head_dim (256).

llama_cpp_ids(path, text) tokenises with llama.cpp (vocab only) and is used
where the tests need llama.cpp's ids.

Used by test_gemma3_logits.py and test_gemma3_peft.py; run directly, it checks
the reference itself (see validate()), or with --ggml-gelu measures how far
llama.cpp's fp16-table GELU moves the logits (ggml_gelu_effect()).
"""
import os
import sys

import gguf
import numpy as np
import torch

GLOBAL_EVERY = 6  # google/gemma-3-270m: sliding_window_pattern
LOCAL_ROPE_BASE = 10000.0  # rope_local_base_freq

PER_LAYER = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm",
}
TOP = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
       "output.weight": "lm_head.weight"}


def field(reader, key):
    return reader.fields[key].contents()


def reference_config(reader):
    """Gemma3TextConfig from the GGUF's gemma3.* keys (+ the 270M constants above)."""
    from transformers import Gemma3TextConfig
    n_layer = int(field(reader, "gemma3.block_count"))
    head_dim = int(field(reader, "gemma3.attention.key_length"))
    return Gemma3TextConfig(
        vocab_size=len(field(reader, "tokenizer.ggml.tokens")),
        hidden_size=int(field(reader, "gemma3.embedding_length")),
        intermediate_size=int(field(reader, "gemma3.feed_forward_length")),
        num_hidden_layers=n_layer,
        num_attention_heads=int(field(reader, "gemma3.attention.head_count")),
        num_key_value_heads=int(field(reader, "gemma3.attention.head_count_kv")),
        head_dim=head_dim,
        query_pre_attn_scalar=head_dim,
        max_position_embeddings=int(field(reader, "gemma3.context_length")),
        rms_norm_eps=float(field(reader, "gemma3.attention.layer_norm_rms_epsilon")),
        sliding_window=int(field(reader, "gemma3.attention.sliding_window")),
        layer_types=["full_attention" if (i + 1) % GLOBAL_EVERY == 0 else "sliding_attention"
                     for i in range(n_layer)],
        rope_parameters={
            "full_attention": {"rope_type": "default", "rope_theta": float(field(reader, "gemma3.rope.freq_base"))},
            "sliding_attention": {"rope_type": "default", "rope_theta": LOCAL_ROPE_BASE},
        },
        hidden_activation="gelu_pytorch_tanh",
        final_logit_softcapping=None,
        attn_logit_softcapping=None,
        tie_word_embeddings=True,
        bos_token_id=int(field(reader, "tokenizer.ggml.bos_token_id")),
        eos_token_id=int(field(reader, "tokenizer.ggml.eos_token_id")),
        pad_token_id=int(field(reader, "tokenizer.ggml.padding_token_id")),
    )


def reference_state(reader):
    """{HF name: float32 tensor} from the GGUF (norm weights shifted back by -1)."""
    state = {}
    for t in reader.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(d) for d in reversed(t.shape)]) if len(t.shape) > 1 else w.reshape(-1)
        if t.name in TOP:
            hf = TOP[t.name]
        else:
            _, layer, kind, _ = t.name.split(".")
            hf = f"model.layers.{layer}.{PER_LAYER[kind]}.weight"
        if t.name.endswith("norm.weight"):
            w = w - np.float32(1.0)
        state[hf] = torch.from_numpy(np.ascontiguousarray(w))
    return state


def cached_state(path, cache):
    """reference_state of the GGUF at path, kept in cache/ (a torch file named by the
    GGUF's name, size and mtime) when cache is given: gemma3_logits and gemma3_peft
    share one dequantisation (gguf-python's numpy dequantisers take ~20 s here)."""
    if cache is None:
        reader = gguf.GGUFReader(path)
        return reference_state(reader)
    st = os.stat(path)
    f = os.path.join(cache, "ref-state-%s-%d-%d.pt" % (os.path.basename(path), st.st_size, st.st_mtime_ns))
    if not os.path.exists(f):
        os.makedirs(cache, exist_ok=True)
        state = reference_state(gguf.GGUFReader(path))
        torch.save(state, f + ".tmp")
        os.replace(f + ".tmp", f)
        return state
    return torch.load(f, mmap=True, weights_only=True)


def reference_model(path, threads=2, cache=None):
    """(Gemma3ForCausalLM float32 eval model, config) on the GGUF's dequantised weights
    (cached in cache/ when given, see cached_state)."""
    from transformers import Gemma3ForCausalLM
    from transformers.initialization import no_init_weights
    torch.set_num_threads(threads)
    cfg = reference_config(gguf.GGUFReader(path))
    cfg._attn_implementation = "eager"
    state = cached_state(path, cache)
    with no_init_weights():  # every weight is assigned below: no random init of 270M floats
        model = Gemma3ForCausalLM(cfg).float()
    if "lm_head.weight" not in state:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    assert not unexpected and all("rotary" in m or m == "lm_head.weight" for m in missing), (missing, unexpected)
    model.tie_weights()
    return model.eval(), cfg


def logits_at(model, ids, positions):
    """float32 logits (len(positions), V) of the given positions of one forward over ids;
    the head runs only on those rows (a 262,144-wide head over every position would be
    ~1 GB for a long prompt)."""
    with torch.no_grad():
        h = model.model(input_ids=torch.tensor([ids])).last_hidden_state[0]
        return model.lm_head(h[torch.tensor(positions)]).float().numpy()


def llama_cpp_ids(path, text, special=True):
    """llama.cpp's token ids for text (BOS added, special tokens parsed when special)."""
    import llama_cpp
    llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    return llm.tokenize(text.encode("utf-8"), add_bos=True, special=special)


def validate(path):
    """The reference checked against what it stands in for: transformers' own GGUF
    loader (same tensors) and llama.cpp on the same file (same greedy tokens on
    short prompts; logits close up to llama.cpp's 8-bit activation rounding)."""
    import llama_cpp
    from transformers import AutoModelForCausalLM
    model, cfg = reference_model(path)
    hf = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path),
                                              dtype=torch.float32)
    mine, theirs = model.state_dict(), hf.state_dict()
    worst = max(float((mine[k] - theirs[k]).abs().max()) for k in mine if k in theirs and "rotary" not in k)
    print(f"transformers' GGUF loader: {len(theirs)} tensors, max |diff| vs this reference {worst:.3g}; "
          f"its config layer_types {hf.config.layer_types[:6]}, rope {hf.config.rope_parameters}")
    del hf, theirs
    llm = llama_cpp.Llama(model_path=path, n_ctx=1024, n_batch=1024, logits_all=True, n_threads=2,
                          verbose=False, type_k=0, type_v=0)
    for text in ("The capital of France is", "def fibonacci(n):\n    ",
                 "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n"):
        ids = llm.tokenize(text.encode(), add_bos=True, special=True)
        llm.reset()
        llm.eval(ids)
        lc = np.array(llm.scores[:len(ids)], dtype=np.float32)
        ref = logits_at(model, ids, list(range(len(ids))))
        d = np.abs(lc - ref)
        print(f"{text!r}: {len(ids)} tokens, llama.cpp vs reference logits max abs {d.max():.3f} "
              f"rms {np.sqrt((d ** 2).mean()):.3f} (max |logit| {np.abs(ref).max():.1f}); "
              f"argmax equal at {(lc.argmax(1) == ref.argmax(1)).sum()}/{len(ids)} positions")
        gen_r, seq = [], list(ids)
        for _ in range(16):
            gen_r.append(int(logits_at(model, seq, [len(seq) - 1])[0].argmax()))
            seq.append(gen_r[-1])
        gen_l = []
        llm.reset()
        llm.eval(ids)
        for _ in range(16):
            gen_l.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
            llm.eval([gen_l[-1]])
        print(f"   greedy reference {llm.detokenize(gen_r)!r}\n   greedy llama.cpp {llm.detokenize(gen_l)!r} "
              f"{'SAME' if gen_r == gen_l else 'DIFFER'}")


def ggml_gelu_effect(path, text="The capital of France is"):
    """How far ggml's CPU GELU (a table indexed by the fp16-rounded input, fp16 output,
    GGML_GELU_FP16) moves the reference's logits: the floor of any fp32 comparison with
    llama.cpp on a GeGLU model (tests/llamacpp/test_llamacpp.py, F32_REL_GELU16)."""
    import torch.nn.functional as F
    model, _ = reference_model(path)
    ids = llama_cpp_ids(path, text)
    pos = list(range(len(ids)))
    exact = logits_at(model, ids, pos)

    class Gelu16(torch.nn.Module):
        def forward(self, x):
            y = F.gelu(x.half().float(), approximate="tanh").half().float()
            return torch.where(x <= -10, torch.zeros_like(x), torch.where(x >= 10, x, y))

    for layer in model.model.layers:
        layer.mlp.act_fn = Gelu16()
    d = np.abs(logits_at(model, ids, pos) - exact)
    print(f"fp16-table GELU vs exact: max abs {d.max():.3e} (max |logit| {np.abs(exact).max():.1f})")


if __name__ == "__main__":
    # python3 gemma3_torch.py [MODEL.gguf] [--ggml-gelu]
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    gguf_path = args[0] if args else "models/gemma-3-270m-q4_k_m.gguf"
    if "--ggml-gelu" in sys.argv:
        ggml_gelu_effect(gguf_path)
    else:
        validate(gguf_path)
