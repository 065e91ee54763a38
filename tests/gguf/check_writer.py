#!/usr/bin/env python3
"""check_writer.py DIR — read the GGUF files test_gguf wrote with gguf-python.

Checks every metadata value, every tensor's type/shape/bytes (against DIR/<name>.q)
and that gguf-python's dequantisation equals lorac's (DIR/<name>.f32) bit for bit.
Exits 1 on mismatch, 77 (skip) if numpy/gguf are missing.
"""
import os
import sys

try:
    import numpy as np
    import gguf
    from gguf import quants
except ImportError as e:  # pragma: no cover
    print(f"skip: {e}")
    sys.exit(77)

EXPECT = {
    "t.u8": 200, "t.i8": -100, "t.u16": 60000, "t.i16": -30000, "t.u32": 4000000000,
    "t.i32": -2000000000, "t.i64": -5000000000, "t.u64": 18000000000000000000,
    "t.f64": 3.141592653589793, "t.f32": float(np.float32(1e-5)), "t.bool": True,
    "t.str": "SmolLM2 \u2581 test",
    "a.i32": [-1, 0, 1, 2147483647, -2147483648], "a.f32": [0.5, -2.25, float(np.float32(1e30))],
    "a.bool": [True, False, True], "a.str": ["alpha", "", "h\u00e9llo w\u00f6rld", "<|im_start|>"],
    "a.u64": [1, 0xffffffffffffffff], "a.empty": [],
}
# gguf-python's contents() flattens arrays of arrays (ints, then the strings' UTF-8
# bytes); that it parses them at all, and every key after them, checks the encoding.
NESTED_FLAT = [-1, 0, 1, 2147483647, -2147483648] + list("alpha" "h\u00e9llo w\u00f6rld" "<|im_start|>".encode())
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"]


def main():
    d = sys.argv[1]
    bad = 0
    for fname, align in (("rt.gguf", 64), ("rt32.gguf", 32)):
        r = gguf.GGUFReader(os.path.join(d, fname))
        if r.alignment != align:
            print(f"FAIL {fname}: alignment {r.alignment} != {align}")
            bad += 1
        for k, want in EXPECT.items():
            got = r.fields[k].contents()
            if got != want:
                print(f"FAIL {fname}: {k} = {got!r}, expected {want!r}")
                bad += 1
        got = [int(x) for x in r.fields["a.nested"].contents()]
        if got != NESTED_FLAT:
            print(f"FAIL {fname}: a.nested = {got}, expected (flattened) {NESTED_FLAT}")
            bad += 1
        tensors = {t.name: t for t in r.tensors}
        for ty in TYPES:
            name = f"tensor.{ty}"
            t = tensors[name]
            raw = np.fromfile(os.path.join(d, name + ".q"), dtype=np.uint8)
            ok = t.tensor_type.name == ty and list(t.shape) == [512, 3]
            ok = ok and np.array_equal(np.asarray(t.data).view(np.uint8).reshape(-1), raw)
            ref = quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32).reshape(-1)
            mine = np.fromfile(os.path.join(d, name + ".f32"), dtype=np.float32)
            nbad = int(np.count_nonzero(ref.view(np.uint32) != mine.view(np.uint32)))
            err = float(np.max(np.abs(ref - mine)))
            print(f"{fname} {name:12s} type/shape/bytes {'ok' if ok else 'DIFFER'}; "
                  f"dequant bit mismatches {nbad}, max abs err {err:.3g}")
            bad += (not ok) + (nbad != 0)
        if float(np.asarray(tensors["scalar"].data)[0]) != 7.0:
            print(f"FAIL {fname}: scalar tensor")
            bad += 1
    print("gguf-python read lorac's files:", "OK" if bad == 0 else f"{bad} FAILURES")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
