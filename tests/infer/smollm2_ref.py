#!/usr/bin/env python3
"""smollm2_ref.py — PyTorch reference logits for SmolLM2-135M-Instruct (GGUF Q4_1).

Reads every tensor of the GGUF with the `gguf` package, dequantises it to
float32 (the same values lorac's bit-exact dequantiser gives), undoes
llama.cpp's q/k row permutation, loads the result into a transformers
LlamaForCausalLM (float32, eager attention) and writes, for each of three
ChatML prompts (SmolLM2's default system message, generation prompt), the
prompt's token ids (from the shared SmolLM tokenizer.json via `tokenizers`)
and the logits at its last position:

    prompt<i>.ids      int32 (n_i)
    prompt<i>.logits   float32 (49152)

to tests/fixtures/infer/smollm2_ref.safetensors. Needs torch and transformers
(not in CI: the output is committed and tests/infer/test_smollm2.c reads it).

usage: python3 tests/infer/smollm2_ref.py [model.gguf] [out.safetensors]
"""
import os
import sys

import gguf
import numpy as np
import torch
from safetensors.numpy import save_file
from tokenizers import Tokenizer
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(ROOT, "tests", "fixtures", "infer", "smollm2_ref.safetensors")
TOKENIZER = os.path.join(ROOT, "..", "shared", "fixtures", "tokenizers", "smollm", "tokenizer.json")

# Keep in sync with PROMPTS in tests/infer/test_smollm2.c.
PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in one sentence why the sky is blue.",
]
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml(question):
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n")


def field(reader, key):
    return reader.fields[key].contents()


def unpermute(w, n_head):
    """Invert llama.cpp's convert permute: GGUF row h*hd + 2*i + s -> HF row h*hd + s*hd/2 + i."""
    rows = w.shape[0]
    return (w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:])
             .swapaxes(1, 2).reshape(w.shape))


def main():
    gguf_path = sys.argv[1] if len(sys.argv) > 1 else GGUF
    out_path = sys.argv[2] if len(sys.argv) > 2 else OUT
    r = gguf.GGUFReader(gguf_path)
    n_head = int(field(r, "llama.attention.head_count"))
    n_kv = int(field(r, "llama.attention.head_count_kv"))
    cfg = LlamaConfig(
        vocab_size=int(field(r, "llama.vocab_size")),
        hidden_size=int(field(r, "llama.embedding_length")),
        intermediate_size=int(field(r, "llama.feed_forward_length")),
        num_hidden_layers=int(field(r, "llama.block_count")),
        num_attention_heads=n_head,
        num_key_value_heads=n_kv,
        max_position_embeddings=int(field(r, "llama.context_length")),
        rms_norm_eps=float(field(r, "llama.attention.layer_norm_rms_epsilon")),
        rope_theta=float(field(r, "llama.rope.freq_base")),
        tie_word_embeddings=True,
        attn_implementation="eager",
        torch_dtype=torch.float32,
    )
    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    per_layer = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                 "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                 "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
                 "ffn_norm": "post_attention_layernorm"}
    state = {}
    for t in r.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w = w.reshape([int(d) for d in reversed(t.shape)]) if len(t.shape) > 1 else w.reshape(-1)
        if t.name in names:
            hf = names[t.name]
        else:
            _, layer, kind, _ = t.name.split(".")
            hf = f"model.layers.{layer}.{per_layer[kind]}.weight"
            if kind == "attn_q":
                w = unpermute(w, n_head)
            elif kind == "attn_k":
                w = unpermute(w, n_kv)
        state[hf] = torch.from_numpy(np.ascontiguousarray(w))
    if "lm_head.weight" not in state:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    torch.set_num_threads(2)
    model = LlamaForCausalLM(cfg).float().eval()
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all("rotary" in m for m in missing), (missing, unexpected)
    tok = Tokenizer.from_file(TOKENIZER)
    tok.no_padding()  # the shared tokenizer.json carries a padding/truncation section
    tok.no_truncation()
    out = {}
    for i, q in enumerate(PROMPTS):
        ids = tok.encode(chatml(q), add_special_tokens=False).ids
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1].numpy().astype(np.float32)
        out[f"prompt{i}.ids"] = np.array(ids, dtype=np.int32)
        out[f"prompt{i}.logits"] = logits
        top = np.argsort(-logits)[:3]
        print(f"prompt {i}: {len(ids)} tokens, top-3 next {top.tolist()} "
              f"{[tok.decode([int(t)]) for t in top]}")
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    save_file(out, out_path)
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
