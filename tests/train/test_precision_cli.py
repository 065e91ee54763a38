#!/usr/bin/env python3
"""test_precision_cli.py — `lorac train --precision` as a user drives it, on stories260K.

Usage: test_precision_cli.py LORAC_BINARY MODEL_DIR WORKDIR

Checks (any failure makes the exit status 1):
  - each precision prints the compute path that ran in train's header
    ("lorac: precision P: cpu ... | frozen matmuls PATH"): fp32 -> fp32,
    bf16-emulated -> bf16-emulated, and bf16 / auto -> what `lorac info`
    says they resolve to on this CPU (its "precision" line);
  - bf16-onednn: runs and names oneDNN's kernel where the CPU has bf16 units,
    else exits 1 with a message that names the emulated alternative;
  - --precision fp16 -> exit 2 naming the key and the value;
  - bf16's losses are not fp32's bit for bit (bf16 rounding ran) but within
    16u = 16 * 2^-9 = 3.1e-2 relative of them (the autocast bound of
    tests/oracle/test_oracle_bf16.c; a 6-step run on the same batches);
  - bf16-emulated with grad_checkpointing gives the same metrics string for
    string; 3 steps then --resume to 6 equals an uninterrupted 6-step run
    (constant LR, so the 3-step run follows the 6-step one).
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_train_cli import ROWS, check, lorac, metric_lines, write_config  # noqa: E402
import test_train_cli  # noqa: E402

U_BF16 = 2.0 ** -9


def header_path(err):
    """(precision, path) from train's header line, or (None, None)."""
    m = re.search(r"lorac: precision (\S+): cpu .* \| frozen matmuls (\S+)", err)
    return (m.group(1), m.group(2)) if m else (None, None)


def info_paths(binary):
    out = subprocess.run([binary, "info"], capture_output=True, text=True, timeout=60).stdout
    print("lorac info:", out.strip().replace("\n", "\n  "))
    return dict(re.findall(r"(fp32|bf16|auto) -> ([\w-]+)", out)), "bf16 units: yes" in out


def run(binary, work, model, data, name, extra, *flags):
    cfg = os.path.join(work, name + ".yaml")
    out = os.path.join(work, name)
    write_config(cfg, model, data, out, "max_steps: 6\neval_every: 3\nsave_every: 3\nseed: 7\nlr_schedule: constant\n" + extra)
    rc, err = lorac(binary, "--config", cfg, *flags)  # not --quiet: the header is checked
    return rc, err, out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, model, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data = os.path.join(work, "train.jsonl")
    with open(data, "w") as f:
        for p, c in ROWS:
            f.write('{"prompt": "%s", "completion": "%s"}\n' % (p, c))
    resolved, units = info_paths(binary)
    check(set(resolved) == {"fp32", "bf16", "auto"}, f"lorac info's precision line: {resolved}")
    losses = {}
    for prec, want in [("fp32", "fp32"), ("bf16-emulated", "bf16-emulated"),
                       ("bf16", resolved.get("bf16")), ("auto", resolved.get("auto"))]:
        rc, err, out = run(binary, work, model, data, prec, "", "--precision", prec)
        got = header_path(err)
        print(f"--precision {prec}: exit {rc}, header says {got}")
        check(rc == 0 and got == (prec, want), f"--precision {prec}: exit {rc}, header {got}, expected {want}")
        if rc == 0:
            losses[prec] = [float(m["loss"]) for m in metric_lines(out) if m.get("loss") not in (None, "nan", "null")]
    a, b = losses.get("fp32", []), losses.get("bf16-emulated", [])
    rel = max((abs(x - y) / abs(x) for x, y in zip(a, b)), default=float("nan"))
    print(f"train losses fp32 {a}\n             bf16 {b}\n  max relative difference {rel:.3e} (<= 16u = {16 * U_BF16:.3e})")
    check(len(a) == len(b) > 0 and a != b and rel <= 16 * U_BF16, "bf16 losses: not fp32's, within 16u of them")

    rc, err, _ = run(binary, work, model, data, "onednn", "", "--precision", "bf16-onednn")
    print(f"--precision bf16-onednn: exit {rc}: {err.strip().splitlines()[-1] if err.strip() else ''}")
    if units:
        check(rc == 0 and "bf16-onednn (oneDNN" in err and "kernel" in err, "bf16-onednn on bf16 units")
    else:
        check(rc == 1 and "bf16-emulated" in err, "bf16-onednn without bf16 units: refused, naming the alternative")

    rc, err, _ = run(binary, work, model, data, "fp16", "", "--precision", "fp16")
    check(rc == 2 and "precision" in err and "fp16" in err, f"--precision fp16: exit {rc}, expected 2 naming it")

    # checkpointing and resume on the bf16 path
    rc, _, ck = run(binary, work, model, data, "bf16-ckpt", "grad_checkpointing: true\n", "--precision", "bf16-emulated")
    ref = metric_lines(os.path.join(work, "bf16-emulated"))
    check(rc == 0 and metric_lines(ck) == ref, "bf16 with grad_checkpointing: metrics differ")
    rc, _, rs = run(binary, work, model, data, "bf16-resume", "", "--precision", "bf16-emulated", "--max_steps", "3")
    rc2, err2 = lorac(binary, "--resume", rs, "--max_steps", "6", "--quiet")
    same = rc == 0 and rc2 == 0 and metric_lines(rs) == ref
    print(f"bf16: 3 steps + --resume to 6: exit {rc}/{rc2}, metrics {'identical' if same else 'DIFFER'}")
    check(same, f"bf16 resume: {err2[-300:]}")
    print("precision_cli:", "FAILED" if test_train_cli.failures else "ok")
    sys.exit(1 if test_train_cli.failures else 0)


if __name__ == "__main__":
    main()
