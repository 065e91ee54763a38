#!/usr/bin/env python3
"""
patterns.py — per-module LoRA rank and alpha (PEFT rank_pattern,
alpha_pattern) and layers_to_transform, lorac against PyTorch + PEFT (ctest
oracle_patterns).

Builds a random 3-layer LlamaForCausalLM in a temporary directory, computes
references with make_refs.run_case for a LoraConfig with the patterns below
(PEFT resolves every module's r, alpha and scaling itself), then runs
test_oracle (argv[1]) on them: test_oracle reads the patterns from the
reference's metadata, so lorac resolves them on its own. It checks that
lorac adapts exactly the modules PEFT does with their shapes (copying the
initial A/B needs each module's (r, in) / (out, r)), each module's scaling
(1e-7 rel), logits, loss and every gradient, and 10 AdamW steps, with the
tolerances of tests/oracle/README.md.

The patterns exercise PEFT's matching rule re.match(rf"(.*\\.)?({key})$",
name), first key wins:
  - "model\\.layers\\.2\\.self_attn\\.q_proj" before the broader "q_proj":
    layer 2's q_proj gets 5, the others 2;
  - "^model\\.layers\\.0\\.mlp\\..*" (anchored regex) for layer 0's MLP;
  - "proj": matches nothing (a key must match after a '.'; a substring or
    suffix rule would wrongly apply it to every module);
  - alpha for o_proj and for layer 2's down_proj only;
  - layers_to_transform [0, 2]: layer 1 has no adapter.
A second case repeats it with use_rslora (scaling alpha / sqrt(r) per module).
Fails (not skips) when torch/transformers/peft are missing.

Usage: patterns.py <test_oracle binary>
"""
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_refs  # noqa: E402  (the oracle case machinery)

RANK_PATTERN = {r"model\.layers\.2\.self_attn\.q_proj": 5, "q_proj": 2,
                r"^model\.layers\.0\.mlp\..*": 3, "proj": 7}
ALPHA_PATTERN = {"o_proj": 3.0, r"layers\.2\.mlp\.down_proj": 20}
LAYERS = [0, 2]


def build_llama(out_dir):
    return make_refs.random_llama(out_dir, 515, vocab_size=97, hidden_size=64, intermediate_size=96,
                                  num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                                  head_dim=16, max_position_embeddings=256)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: patterns.py <test_oracle binary>")
    make_refs.quiet_torch(2)
    rc = 0
    with tempfile.TemporaryDirectory(prefix="lorac_patterns_") as tmp:
        d = build_llama(os.path.join(tmp, "llama"))
        for rslora in (False, True):
            lora_kw = dict(rank_pattern=RANK_PATTERN, alpha_pattern=ALPHA_PATTERN,
                           layers_to_transform=LAYERS, use_rslora=rslora)
            kw = dict(B=2, T=16, pad_tail=5, seed=31, lora_kw=lora_kw)
            out, meta = make_refs.run_case(f"patterns-rslora{int(rslora)}", d, **kw)
            # the case is what it claims: PEFT gave these shapes
            a = "base_model.model.model.layers.%d.%s.lora_A.weight"
            want = {(2, "self_attn.q_proj"): 5, (0, "self_attn.q_proj"): 2, (0, "mlp.up_proj"): 3,
                    (0, "self_attn.k_proj"): 4, (2, "mlp.down_proj"): 4}
            for (layer, mod), r in want.items():
                assert out[a % (layer, mod)].shape[0] == r, (layer, mod, out[a % (layer, mod)].shape)
            assert not any(".layers.1." in k for k in out), "layer 1 must have no adapter"
            f64, _ = make_refs.run_case("patterns", d, dtype=torch.float64, **kw)
            make_refs.f64_check(out, f64)
            ref = os.path.join(tmp, f"patterns{int(rslora)}_ref.safetensors")
            make_refs.save_sorted(out, ref, meta)
            r = subprocess.run([sys.argv[1], d, ref])
            rc |= r.returncode
    sys.exit(1 if rc else 0)


if __name__ == "__main__":
    main()
