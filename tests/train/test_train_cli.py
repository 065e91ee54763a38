#!/usr/bin/env python3
"""test_train_cli.py — `lorac train` as a user drives it: exit codes and messages
for bad configs, flags, data, model paths and --resume; Ctrl-C and --resume.

Usage: test_train_cli.py LORAC_BINARY MODEL_DIR WORKDIR

Checks (each prints what it saw; any failure makes the exit status 1):
  - unknown config key   -> exit 2, "FILE:LINE" and "did you mean 'lr'"
  - --lr abc             -> exit 2, message names lr and the bad value
  - a malformed data row -> exit 1, "FILE:LINE" of the row
  - missing model path   -> exit 1, the path named
  - --resume on an empty dir / on a dir without checkpoints -> non-zero exit
    naming the directory (and, for the second, the missing checkpoint)
  - SIGINT after the first progress line -> exit 130, a checkpoint-N.h5, a
    hint to resume; `lorac train --resume DIR` finishes the run, and its
    metrics equal, string for string, those of an uninterrupted run of the
    same config (so config.yaml round-trips every setting).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


ROWS = [("What color is the sky?", " The sky is blue."),
        ("What does the cat say?", " The cat says meow."),
        ("Where does the fish live?", " The fish lives in the water."),
        ("What does Lily like?", " Lily likes to play in the park with her dog."),
        ("Who is Tom?", " Tom is a little boy."),
        ("What is in the box?", " A red ball is in the box."),
        ("What did Ben eat?", " Ben ate a big apple."),
        ("Where is the sun?", " The sun is up in the sky.")]


def lorac(binary, *args, timeout=120):
    p = subprocess.run([binary, "train", *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


def show(name, rc, err):
    print(f"{name}: exit {rc}: {err.strip().splitlines()[-1] if err.strip() else '(no message)'}")


def write_config(path, model, data, out_dir, extra=""):
    with open(path, "w") as f:
        f.write(f"# a small run on stories260K\nmodel: {model}\ndata: {data}\nsplit: 0.25\n"
                f"target_modules: all-linear\nr: 8\nalpha: 16\nlr: 3e-3\nbatch_size: 2\nmax_seq_len: 64\n"
                f"out_dir: {out_dir}\n{extra}")


# "FIELD":VALUE pairs of a metrics line, as text (timing fields dropped).
# Not json.loads: the step-0 line of a run with validation holds "loss":nan.
def metric_lines(run_dir):
    out = []
    for line in open(os.path.join(run_dir, "metrics.jsonl")):
        kv = dict(re.findall(r'"(\w+)":([^,}]*)', line))
        out.append({k: v for k, v in kv.items() if k not in ("tokens_per_s", "elapsed_s", "peak_rss_mb")})
    return out


def test_errors(binary, model, work, data):
    # unknown key, with a suggestion and the file:line
    cfg = os.path.join(work, "typo.yaml")
    write_config(cfg, model, data, os.path.join(work, "typo_run"), "lrr: 1e-3\n")
    rc, err = lorac(binary, "--config", cfg)
    show("unknown key", rc, err)
    line = 1 + open(cfg).read().splitlines().index("lrr: 1e-3")
    check(rc == 2, f"unknown key: exit {rc}, expected 2")
    check(f"{cfg}:{line}" in err and "did you mean 'lr'" in err, "unknown key: message lacks file:line or 'did you mean'")
    # a bad flag value
    good = os.path.join(work, "good.yaml")
    write_config(good, model, data, os.path.join(work, "never"), "max_steps: 2\n")
    rc, err = lorac(binary, "--config", good, "--lr", "abc")
    show("--lr abc", rc, err)
    check(rc == 2 and "lr" in err and "abc" in err, f"--lr abc: exit {rc}, message must name lr and 'abc'")
    rc, err = lorac(binary, "--config", good, "--lr")
    show("--lr (no value)", rc, err)
    check(rc == 2, f"--lr without a value: exit {rc}, expected 2")
    # a malformed data row
    bad = os.path.join(work, "bad.jsonl")
    with open(bad, "w") as f:
        f.write(json.dumps({"prompt": ROWS[0][0], "completion": ROWS[0][1]}) + "\n\n")
        f.write('{"prompt": "Who is Tom?" "completion": " Tom is a boy."}\n')
    rc, err = lorac(binary, "--config", good, "--data", bad)
    show("malformed row", rc, err)
    check(rc == 1 and f"{bad}:3" in err, f"malformed row: exit {rc}, expected 1 and '{bad}:3'")
    # a missing model
    missing = os.path.join(work, "no_such_model")
    rc, err = lorac(binary, "--config", good, "--model", missing)
    show("missing model", rc, err)
    check(rc == 1 and missing in err, f"missing model: exit {rc}, expected 1 and the path")
    # --resume on an empty directory, and on one with a config but no checkpoint
    empty = os.path.join(work, "empty")
    os.makedirs(empty)
    rc, err = lorac(binary, "--resume", empty)
    show("--resume empty dir", rc, err)
    check(rc in (1, 2) and empty in err, f"--resume on an empty dir: exit {rc}, message must name {empty}")
    nock = os.path.join(work, "no_checkpoint")
    os.makedirs(nock)
    write_config(os.path.join(nock, "config.yaml"), model, data, nock, "max_steps: 2\n")
    rc, err = lorac(binary, "--resume", nock)
    show("--resume without checkpoint", rc, err)
    check(rc == 1 and nock in err and "checkpoint" in err, f"--resume without checkpoints: exit {rc}")


def test_ctrl_c(binary, model, work, data):
    extra = ("max_steps: 60\nlog_every: 1\neval_every: 20\nsave_every: 25\ndropout: 0.1\ngrad_accum: 2\n"
             "lr_schedule: cosine\nwarmup_ratio: 0.1\nseed: 7\nkeep_last: 2\n")
    run_a, run_b = os.path.join(work, "whole"), os.path.join(work, "interrupted")
    cfg_a, cfg_b = os.path.join(work, "whole.yaml"), os.path.join(work, "interrupted.yaml")
    write_config(cfg_a, model, data, run_a, extra)
    write_config(cfg_b, model, data, run_b, extra)
    rc, err = lorac(binary, "--config", cfg_a, "--quiet")
    check(rc == 0, f"uninterrupted run: exit {rc}: {err[-300:]}")

    p = subprocess.Popen([binary, "train", "--config", cfg_b], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    first = None
    t0 = time.time()
    for line in p.stderr:  # progress goes to stderr, one line per step (not a tty)
        if line.startswith("step "):
            first = line.strip()
            p.send_signal(signal.SIGINT)
            break
    rest = p.stderr.read()
    rc = p.wait(timeout=60)
    print(f"Ctrl-C after '{first}' ({time.time() - t0:.2f} s): exit {rc}: {rest.strip().splitlines()[-1]}")
    check(first is not None, "no progress line before the end of the run")
    check(rc == 130, f"SIGINT: exit {rc}, expected 130")
    check("--resume" in rest, "the interrupt message should say how to resume")
    cks = sorted(int(m.group(1)) for f in os.listdir(run_b) if (m := re.fullmatch(r"checkpoint-(\d+)\.h5", f)))
    print(f"  checkpoints after the interrupt: {cks}")
    check(cks and cks[-1] < 60, "no checkpoint-N.h5 (N < 60) after the interrupt")
    check(not os.path.exists(os.path.join(run_b, "adapter.h5")), "adapter.h5 written by an interrupted run")

    # a resumed run must keep its training config: the keys compared field by field (config KEYS
    # table), every changed one named with both values; keys that may change on resume are not named
    rc, err = lorac(binary, "--resume", run_b, "--lr", "0.5", "--quiet")
    show("--resume with a changed lr", rc, err)
    check(rc == 1 and "lr 0.003 -> 0.5" in err, f"--resume --lr 0.5: exit {rc}, expected 1 naming 'lr 0.003 -> 0.5'")
    rc, err = lorac(binary, "--resume", run_b, "--lr", "0.5", "--r", "16", "--lr_schedule", "linear",
                    "--max_steps", "70", "--log_every", "3", "--threads", "1", "--quiet")
    show("--resume with lr, r, lr_schedule and allowed keys changed", rc, err)
    named = re.findall(r"(\w+) \S+ -> \S+", err)
    check(rc == 1 and named == ["r", "lr", "lr_schedule"] and "r 8 -> 16" in err and "cosine -> linear" in err,
          f"--resume with 3 changed training keys: exit {rc}, keys named {named}, expected r, lr, lr_schedule "
          f"(not max_steps, log_every, threads)")

    rc, err = lorac(binary, "--resume", run_b, "--quiet")
    print(f"--resume {run_b}: exit {rc}")
    check(rc == 0 and os.path.exists(os.path.join(run_b, "adapter.h5")), f"resume: exit {rc}: {err[-300:]}")
    ma, mb = metric_lines(run_a), metric_lines(run_b)
    steps = [int(m["step"]) for m in mb]
    check(steps == list(range(0, 61)), f"resumed metrics steps {steps[:5]}...{steps[-3:]}, expected 0..60 once each")
    diff = [(a, b) for a, b in zip(ma, mb) if a != b]
    print(f"  metrics: {len(ma)} lines uninterrupted, {len(mb)} interrupted + resumed, {len(diff)} differ "
          f"(fields {sorted(ma[-1])})")
    for a, b in diff[:3]:
        print("   ", a, "\n   ", b)
    check(len(ma) == len(mb) and not diff, "interrupted + resumed run differs from the uninterrupted one")
    # config.yaml inside names out_dir, so compare the tensors, not the bytes
    import h5py
    import numpy as np
    with h5py.File(os.path.join(run_a, "adapter.h5")) as fa, h5py.File(os.path.join(run_b, "adapter.h5")) as fb:
        names = []
        fa["adapter"].visit(names.append)
        same = all(np.array_equal(fa["adapter"][n][()], fb["adapter"][n][()]) for n in names)
    print(f"  adapter.h5: {len(names)} tensors {'bit-identical' if same else 'DIFFER'}")
    check(same and names, "adapter.h5 tensors differ between the uninterrupted and the resumed run")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, model, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data = os.path.join(work, "train.jsonl")
    with open(data, "w") as f:
        for p, c in ROWS:
            f.write(json.dumps({"prompt": p, "completion": c}) + "\n")
    test_errors(binary, model, work, data)
    test_ctrl_c(binary, model, work, data)
    print("train_cli:", "FAILED" if failures else "ok")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
