#!/usr/bin/env python3
"""real_tensor_refs.py MODEL.gguf OUT.txt — gguf-python's dequantisation of a real GGUF's tensors.

For every tensor of at most 2^25 elements whose type is not F32 (the quantised
and half-precision ones: Gemma 3 270M's Q5_0, Q4_K, Q6_K, Q8_0; SmolLM2's
Q4_1, Q8_0), writes one line "name type n s1 s2" to OUT.txt, where, with u =
the float32 bits of gguf.quants.dequantize(tensor) as uint64, s1 = sum(u) and
s2 = sum(u * (i + 1)), both mod 2^64 (equal sums <=> bit-exact in practice: a
one-bit difference anywhere changes s1). test_quant_gguf recomputes them from
lc_dequantize. The bigger tensors (Gemma's 262144 x 640 token_embd) are left
out to keep memory low; their type is checked on the smaller ones.
A missing model file or gguf-python is an error (exit 1), not a skip: this
oracle has to run (scripts/fetch_gemma3.sh, scripts/fetch_smollm2.sh).
"""
import os
import sys

import numpy as np
import gguf
from gguf import quants

MAX_ELEMS = 1 << 25


def main():
    model, out = sys.argv[1], sys.argv[2]
    if not os.path.exists(model):
        sys.exit(f"error: {model} not found (fetch it: scripts/fetch_gemma3.sh or scripts/fetch_smollm2.sh)")
    r = gguf.GGUFReader(model)
    lines, types = [], {}
    for t in r.tensors:
        n = int(np.prod([int(x) for x in t.shape]))
        if t.tensor_type == gguf.GGMLQuantizationType.F32 or n > MAX_ELEMS:
            continue
        deq = quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32, copy=False)
        u = np.ascontiguousarray(deq).reshape(-1).view(np.uint32).astype(np.uint64)
        assert u.size == n
        with np.errstate(over="ignore"):
            s1 = int(u.sum(dtype=np.uint64))
            s2 = int((u * (np.arange(u.size, dtype=np.uint64) + np.uint64(1))).sum(dtype=np.uint64))
        lines.append(f"{t.name} {t.tensor_type.name} {n} {s1} {s2}\n")
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    with open(out, "w") as f:
        f.writelines(lines)
    print(f"gguf-python: {len(lines)} tensors of {model} checksummed: {types}")


if __name__ == "__main__":
    main()
