#!/usr/bin/env python3
"""make_quant_refs.py OUTDIR — reference data for test_quant, from gguf-python.

For every type lorac reads, writes OUTDIR/<TYPE>.q (quantised bytes) and
OUTDIR/<TYPE>.deq (float32 from gguf.quants.dequantize). For the types lorac
can also quantise (F32, F16, BF16, Q8_0, Q4_0, Q4_1) the bytes come from
gguf.quants.quantize of OUTDIR/<TYPE>.src (float32); for the K-quants (which
gguf-python cannot quantise) the blocks are random bytes with finite f16
scales; for Q5_0 / Q5_1 the first half of the blocks is gguf.quants.quantize
of OUTDIR/<TYPE>.src (which then covers only that half) and the second half
random bytes with finite f16 scales (every bit pattern of qh and qs).
Exits 77 (ctest SKIP) when numpy or gguf is not installed.
"""
import os
import sys

try:
    import numpy as np
    from gguf import GGMLQuantizationType as T
    from gguf import quants
except ImportError as e:  # pragma: no cover
    print(f"skip: {e}")
    sys.exit(77)

QUANTISABLE = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1"]
KQUANTS = {"Q4_K": 144, "Q5_K": 176, "Q6_K": 210, "Q2_K": 84, "Q3_K": 110}
HALF_RANDOM = {"Q5_0": 22, "Q5_1": 24}
BLOCK_BYTES = {**KQUANTS, **HALF_RANDOM}
# byte offsets of the f16 scale fields inside each block (ggml's block structs)
F16_FIELDS = {"Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208], "Q2_K": [80, 82], "Q3_K": [108],
              "Q5_0": [0], "Q5_1": [0, 2]}


def source_floats(rng, n):
    """n float32 values: mostly normal at mixed scales, plus edge-case blocks."""
    x = rng.standard_normal(n).astype(np.float32)
    x *= np.repeat(10.0 ** rng.uniform(-4, 2, n // 32), 32).astype(np.float32)
    blocks = x.reshape(-1, 32)
    blocks[0] = 0.0                                    # all zero
    blocks[1] = 3.25                                   # constant
    blocks[2] = np.arange(32, dtype=np.float32) - 16   # exact grid, ties at .5
    blocks[3] = (np.arange(32, dtype=np.float32) - 7.5) * 0.5
    blocks[4, 5] = -1e4                                 # one outlier
    blocks[5] = rng.integers(-8, 8, 32).astype(np.float32) * 0.125
    return blocks.reshape(-1)


def random_blocks(rng, name, nblocks):
    """Random bytes, then each f16 field a finite N(0, 0.02^2) half; block 0's are 0."""
    b = rng.integers(0, 256, (nblocks, BLOCK_BYTES[name]), dtype=np.uint8)
    for off in F16_FIELDS[name]:
        h = (rng.standard_normal(nblocks) * 0.02).astype(np.float16)
        h[0] = 0.0
        b[:, off:off + 2] = h.view(np.uint8).reshape(nblocks, 2)
    return b.reshape(-1)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)
    n = 256 * 64  # elements per type (a multiple of every block size)
    for name in QUANTISABLE:
        src = source_floats(rng, n)
        q = quants.quantize(src.reshape(64, 256), T[name])
        qb = np.ascontiguousarray(q).view(np.uint8).reshape(-1)
        deq = quants.dequantize(qb.reshape(64, -1), T[name]).astype(np.float32).reshape(-1)
        src.tofile(os.path.join(out, name + ".src"))
        qb.tofile(os.path.join(out, name + ".q"))
        deq.tofile(os.path.join(out, name + ".deq"))
    for name in HALF_RANDOM:
        src = source_floats(rng, n // 2)
        src.tofile(os.path.join(out, name + ".src"))
        q = np.ascontiguousarray(quants.quantize(src.reshape(32, 256), T[name])).view(np.uint8).reshape(-1)
        qb = np.concatenate([q, random_blocks(rng, name, n // 2 // 32)])
        deq = quants.dequantize(qb.reshape(64, -1), T[name]).astype(np.float32).reshape(-1)
        qb.tofile(os.path.join(out, name + ".q"))
        deq.tofile(os.path.join(out, name + ".deq"))
    for name in KQUANTS:
        qb = random_blocks(rng, name, n // 256)
        deq = quants.dequantize(qb.reshape(64 // 8, -1), T[name]).astype(np.float32).reshape(-1)
        qb.tofile(os.path.join(out, name + ".q"))
        deq.tofile(os.path.join(out, name + ".deq"))
    print(f"wrote references for {len(QUANTISABLE) + len(HALF_RANDOM) + len(KQUANTS)} types to {out}")


if __name__ == "__main__":
    main()
