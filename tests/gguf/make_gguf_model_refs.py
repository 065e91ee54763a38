#!/usr/bin/env python3
"""make_gguf_model_refs.py MODEL.gguf OUTDIR — gguf-python's view of a real GGUF.

Writes OUTDIR/checksums.txt: per tensor "name n s1 s2" where, with u = the
float32 bits of gguf.quants.dequantize(tensor) as uint64, s1 = sum(u) and
s2 = sum(u * (i + 1)) (both mod 2^64; equal sums <=> bit-exact in practice);
OUTDIR/<name>.f32 for the tensors of layer 0 and output_norm; and
OUTDIR/q_hf.f32, k_hf.f32: layer 0's attn_q / attn_k dequantised and put back
into HF row order by inverting llama.cpp's convert_hf_to_gguf.py `permute`
(written here independently with numpy). Exits 77 (skip) if the model file or
gguf-python is missing.
"""
import os
import sys

MODEL, OUT = sys.argv[1], sys.argv[2]
if not os.path.exists(MODEL):
    print(f"skip: {MODEL} not found")
    sys.exit(77)
try:
    import numpy as np
    import gguf
    from gguf import quants
except ImportError as e:  # pragma: no cover
    print(f"skip: {e}")
    sys.exit(77)


def llama_cpp_permute(w, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: HF rotate-half rows -> GGUF order."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def inverse_permute(w, n_head):
    """Inverse of the above: within each head, row 2*i + s goes to s*hd/2 + i."""
    hd = w.shape[0] // n_head
    return w.reshape(n_head, hd // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def main():
    os.makedirs(OUT, exist_ok=True)
    r = gguf.GGUFReader(MODEL)
    n_head = int(r.fields["llama.attention.head_count"].contents())
    n_kv = int(r.fields["llama.attention.head_count_kv"].contents())
    lines = []
    deq0 = {}
    for t in r.tensors:
        deq = quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32, copy=False)
        u = np.ascontiguousarray(deq).reshape(-1).view(np.uint32).astype(np.uint64)
        with np.errstate(over="ignore"):
            s1 = int(u.sum(dtype=np.uint64))
            s2 = int((u * (np.arange(u.size, dtype=np.uint64) + np.uint64(1))).sum(dtype=np.uint64))
        lines.append(f"{t.name} {u.size} {s1} {s2}\n")
        if t.name.startswith("blk.0.") or t.name == "output_norm.weight":
            np.ascontiguousarray(deq).tofile(os.path.join(OUT, t.name + ".f32"))
            deq0[t.name] = deq
    with open(os.path.join(OUT, "checksums.txt"), "w") as f:
        f.writelines(lines)
    q = deq0["blk.0.attn_q.weight"]
    k = deq0["blk.0.attn_k.weight"]
    q_hf, k_hf = inverse_permute(q, n_head), inverse_permute(k, n_kv)
    # the inverse really inverts llama.cpp's permute (q by n_head, k by n_head_kv)
    assert np.array_equal(llama_cpp_permute(q_hf, n_head), q)
    assert np.array_equal(llama_cpp_permute(k_hf, n_kv), k)
    assert not np.array_equal(q_hf, q)
    q_hf.tofile(os.path.join(OUT, "q_hf.f32"))
    k_hf.tofile(os.path.join(OUT, "k_hf.f32"))
    print(f"gguf-python: {len(lines)} tensors checksummed into {OUT}")


if __name__ == "__main__":
    main()
