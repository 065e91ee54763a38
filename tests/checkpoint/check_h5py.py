#!/usr/bin/env python3
"""check_h5py.py — lorac checkpoints as other HDF5 tools see them.

Usage: check_h5py.py TEST_CHECKPOINT_BINARY WORKDIR

1. `test_checkpoint write-sample` writes the documented sample; h5py must see
   the documented names, shapes, dtypes, values, attributes, and the chunked
   shuffle+gzip(4) storage on the big tensors; `h5dump -H -p` (if installed)
   must list the same objects and filters.
2. This script writes a file with h5py (float64, float16, int32, uint16,
   variable-length strings, a string list, a compound, a soft link, numpy /
   bool / list attributes) and `test_checkpoint read-foreign` must read it.
Exits non-zero on any mismatch.
"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

QA = "adapter/base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
QB = "adapter/base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"
YAML = "model: stories260K\nlora:\n  r: 8\n  alpha: 16\nnote: \"caf\u00e9 \u2713\"\n"

failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def compare(name, got, want):
    got = np.asarray(got)
    want = np.asarray(want)
    check(got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}")
    if got.shape != want.shape:
        return
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    rel = diff / np.maximum(np.abs(want.astype(np.float64)), 1e-30)
    max_rel = float(rel.max()) if rel.size else 0.0
    print(f"  {name:74s} shape {str(got.shape):12s} max_abs={max_abs:.3g} max_rel={max_rel:.3g}")
    check(np.array_equal(got, want), f"{name}: values differ (max_abs {max_abs})")


def check_sample(binary, path):
    subprocess.run([binary, "write-sample", path], check=True)
    pattern = (np.arange(512 * 576) % 1000).astype(np.float32) * np.float32(0.25) - np.float32(100)
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        want_names = sorted([QA, QB, "optimizer/m/big", "state/data_order", "state/rng",
                             "state/blob", "config/train.yaml"])
        check(sorted(names) == want_names, f"dataset names {sorted(names)}")
        # PEFT names keep their dots: one dataset inside group "adapter"
        check(QA.split("/")[1] in f["adapter"], "PEFT name is not a single dataset")

        qa, qb, m = f[QA], f[QB], f["optimizer/m/big"]
        check(qa.dtype == np.dtype("<f4") and qa.shape == (8, 64), f"lora_A {qa.dtype} {qa.shape}")
        check(qb.dtype == np.dtype("<f4") and qb.shape == (64, 8), f"lora_B {qb.dtype} {qb.shape}")
        compare(QA, qa[()], pattern[:512].reshape(8, 64))
        compare(QB, qb[()], (np.arange(512, dtype=np.float32) * np.float32(-0.5)).reshape(64, 8))
        compare("optimizer/m/big", m[()], pattern.reshape(512, 576))

        # storage: small tensors contiguous, big ones chunked + shuffle + gzip 4
        check(qa.chunks is None and qa.compression is None, f"lora_A chunks {qa.chunks}")
        check(m.chunks is not None and m.compression == "gzip" and m.compression_opts == 4
              and m.shuffle, f"big: chunks {m.chunks} compression {m.compression} "
              f"opts {m.compression_opts} shuffle {m.shuffle}")
        chunk_bytes = int(np.prod(m.chunks)) * 4
        check(chunk_bytes <= (1 << 20), f"chunk {m.chunks} is {chunk_bytes} bytes > 1 MiB")
        stored = m.id.get_storage_size()
        print(f"  optimizer/m/big: chunks {m.chunks}, filters shuffle+gzip(4), "
              f"{m.nbytes} -> {stored} bytes stored ({stored / m.nbytes:.1%})")
        check(stored < m.nbytes // 4, "big pattern tensor did not compress")

        order = f["state/data_order"]
        check(order.dtype == np.dtype("<i8"), f"data_order dtype {order.dtype}")
        compare("state/data_order", order[()], (np.arange(1000) * 37) % 1000)
        check(order.compression == "gzip", "8000-byte int64 array not compressed")
        rng = f["state/rng"]
        check(rng.dtype == np.dtype("<u8"), f"rng dtype {rng.dtype}")
        check(list(rng[()]) == [1, 2, 2**64 - 1, 0x0123456789ABCDEF], f"rng {rng[()]}")
        blob = f["state/blob"]
        check(blob.dtype == np.dtype("u1") and bytes(blob[()]) == b"\x00\x01\xff",
              f"blob {blob.dtype} {bytes(blob[()])!r}")
        text = f["config/train.yaml"]
        check(text.shape == () and text.asstr()[()] == YAML, f"yaml {text[()]!r}")

        a = dict(f.attrs)
        check(a.get("format") in (b"lorac-checkpoint", "lorac-checkpoint"), f"format {a}")
        check(a.get("step") == 1234 and isinstance(a.get("step"), np.int64), f"step {a}")
        check(a.get("loss") == 1.25 and isinstance(a.get("loss"), np.float64), f"loss {a}")
        g = dict(f["adapter"].attrs)
        check(g.get("r") == 8, f"r {g}")
        check(g.get("lora_alpha") == 16.0, f"lora_alpha {g}")
        tm = g.get("target_modules")
        tm = tm.decode() if isinstance(tm, bytes) else tm
        check(tm == "q_proj,v_proj", f"target_modules {tm!r}")
        print(f"  root attrs {a}")
        print(f"  adapter attrs {g}")

    if shutil.which("h5dump"):
        out = subprocess.run(["h5dump", "-H", "-p", path], check=True, capture_output=True,
                             text=True).stdout
        for needle in [QA.split("/")[1], "optimizer", "data_order", "DEFLATE", "SHUFFLE",
                       "LEVEL 4", "H5T_IEEE_F32LE", "H5T_STD_U64LE", "target_modules"]:
            check(needle in out, f"h5dump -H -p output lacks {needle!r}")
        print(f"  h5dump -H -p: {len(out.splitlines())} lines, names and filters present")
    else:
        print("  h5dump not installed: skipped")


def check_foreign(binary, path):
    with h5py.File(path, "w") as f:
        vals = [0.1, -2.5, 1e-3, 3.0, 1e30, -0.0]
        f["f64"] = np.array(vals, dtype=np.float64).reshape(2, 3)
        f["grp/f32"] = np.array(vals, dtype=np.float32)
        f["grp/f32"].attrs["dset_attr"] = np.int16(3)
        f["f16"] = np.array([1.5, -2.0, 0.0009765625], dtype=np.float16)
        f["i32"] = np.array([-7, 0, 2**31 - 1], dtype=np.int32)
        f["u16"] = np.array([65535, 1], dtype=np.uint16)
        f["vlen_text"] = "h\u00e9llo\nworld"            # variable-length UTF-8
        f["fixed_text"] = np.bytes_(b"abc")             # fixed-length, NULL-padded
        f["str_list"] = ["a", "bc"]
        f["compound"] = np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8")])
        f["nan"] = np.array([1.0, np.nan, 2.0], dtype=np.float32)
        f["soft"] = h5py.SoftLink("/grp/f32")
        f.attrs["vlen_attr"] = "\u2713 ok"
        f.attrs["np_int32"] = np.int32(-5)
        f.attrs["py_int"] = 1234567890123
        f.attrs["list_attr"] = [1, 2, 3]
        f.attrs["bool_attr"] = True
        f["grp"].attrs["py_float"] = 0.1
    subprocess.run([binary, "read-foreign", path], check=True)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    print("lorac file read by h5py:")
    check_sample(binary, os.path.join(work, "sample.h5"))
    print("h5py file read by lorac:")
    try:
        check_foreign(binary, os.path.join(work, "foreign.h5"))
    except subprocess.CalledProcessError as e:
        check(False, f"read-foreign failed with {e.returncode}")
    print("check_h5py:", "FAILED" if failures else "ok", f"({failures} failures)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
