#!/usr/bin/env python3
"""test_sweep_one_pass.py — `lorac sweep --one-pass` equals the sequential sweep bit for bit.

On the real stories260K model, 2 threads, a 2 x 2 grid (--lr 1e-4,1e-2 --r 4,8) with dropout 0.1:

A. the sequential sweep into A/;
B. the same grid with --one-pass into B/: for every trial, every metrics.jsonl number
   (loss, lr, grad_norm, valid_loss, test losses; the timing fields excepted) is the
   same decimal string, and every tensor of adapter.h5, best.h5 and the last
   checkpoint is bit-identical (h5py); summary.json ranks the trials the same way;
C. --one-pass killed (SIGKILL) once every trial saved a checkpoint, then run again:
   all trials resume together and end bit-identical to A;
D. refusals: --one-pass over a key that changes the batches (seed) names the key and
   trains nothing.

usage: test_sweep_one_pass.py LORAC MODEL_DIR WORK_DIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

FAILED = []
TIMING = {"tokens_per_s", "elapsed_s", "peak_rss_mb"}


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        FAILED.append(msg)


def make_data(work):
    names = ["Lily", "Tom", "Sue", "Ben", "Max", "Anna", "Tim", "Mia"]
    things = ["ball", "cat", "dog", "tree", "cake", "car", "hat", "box"]
    rows = [{"prompt": f"What did {names[i % 8]} find near the {things[i % 5]}?",
             "completion": f" {names[i % 8]} found a {things[(3 * i) % 8]} and a {things[(5 * i) % 8]}."}
            for i in range(30)]
    for name, part in (("train.jsonl", rows[:20]), ("valid.jsonl", rows[20:26]), ("test.jsonl", rows[26:])):
        with open(os.path.join(work, name), "w") as f:
            for r in part:
                f.write(json.dumps(r) + "\n")


def metric_lines(trial_dir):
    """metrics.jsonl as lists of (key, raw number text), timing fields dropped."""
    out = []
    for line in open(os.path.join(trial_dir, "metrics.jsonl")):
        fields = []
        for kv in line.strip().strip("{}").split(","):
            k, v = kv.split(":", 1)
            k = k.strip('"')
            if k not in TIMING:
                fields.append((k, v))
        out.append(fields)
    return out


def tensors(path):
    d = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: d.__setitem__(name, np.array(obj)) if isinstance(obj, h5py.Dataset) else None)
    return d


def without_out_dir(x):
    """The stored config.yaml minus its out_dir line (the run directories differ)."""
    text = x.tobytes().decode() if x.dtype.kind in "SO" or x.shape == () else ""
    return "\n".join(l for l in text.splitlines() if not l.startswith("out_dir:"))


def same_tensors(a, b):
    ta, tb = tensors(a), tensors(b)
    if sorted(ta) != sorted(tb):
        return False, "different tensor names"
    for k in ta:
        if k.endswith("config.yaml"):
            if without_out_dir(ta[k]) != without_out_dir(tb[k]) or not without_out_dir(ta[k]):
                return False, k
            continue
        if ta[k].dtype != tb[k].dtype or ta[k].shape != tb[k].shape or ta[k].tobytes() != tb[k].tobytes():
            return False, k
    return True, f"{len(ta)} tensors"


def compare_runs(A, B, label):
    """Every trial of sweep dir B equals A's: metrics text and checkpoint tensors."""
    trials = sorted(d for d in os.listdir(A) if d.startswith("trial-"))
    check(trials == sorted(d for d in os.listdir(B) if d.startswith("trial-")), f"{label}: same trial dirs {trials}")
    for t in trials:
        ma, mb = metric_lines(os.path.join(A, t)), metric_lines(os.path.join(B, t))
        n_num = sum(len(x) for x in ma)
        check(ma == mb, f"{label}: {t} metrics.jsonl identical ({len(ma)} lines, {n_num} numbers)")
        for f in ("adapter.h5", "best.h5", "checkpoint-8.h5"):
            ok, what = same_tensors(os.path.join(A, t, f), os.path.join(B, t, f))
            check(ok, f"{label}: {t}/{f} bit-identical ({what})")
    sa = json.load(open(os.path.join(A, "summary.json")))
    sb = json.load(open(os.path.join(B, "summary.json")))
    check([t["trial"] for t in sa["trials"]] == [t["trial"] for t in sb["trials"]] and sa["best"] == sb["best"],
          f"{label}: same ranking, best {sb['best']}")


def main():
    lorac, model, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    make_data(work)
    cfg = os.path.join(work, "cfg.yaml")
    with open(cfg, "w") as f:
        f.write(f"model: {model}\ndata: {work}/train.jsonl\nvalid_data: {work}/valid.jsonl\n"
                f"test_data: {work}/test.jsonl\n"
                "alpha: 8\ndropout: 0.1\ntarget_modules: all-linear\nbatch_size: 4\ngrad_accum: 2\nmax_steps: 8\n"
                "lr_schedule: cosine\nwarmup_steps: 2\n"
                f"eval_every: 2\nsave_every: 2\nkeep_last: 0\nlog_every: 1\nseed: 3\nthreads: 2\n"
                f"out_dir: {work}/unused\n")

    def sweep(out, *extra):
        return [lorac, "sweep", "--config", cfg, "--lr", "1e-4,1e-2", "--r", "4,8", "--out", out, "--quiet", *extra]

    env = dict(os.environ, OMP_NUM_THREADS="2")
    A, B, C = (os.path.join(work, x) for x in "ABC")
    t0 = time.time()
    p = subprocess.run(sweep(A), capture_output=True, text=True, env=env)
    ta = time.time() - t0
    check(p.returncode == 0, f"sequential sweep exits 0 ({ta:.1f} s) {p.stderr[-300:]}")
    t0 = time.time()
    p = subprocess.run(sweep(B, "--one-pass"), capture_output=True, text=True, env=env)
    tb = time.time() - t0
    check(p.returncode == 0, f"one-pass sweep exits 0 ({tb:.1f} s) {p.stderr[-300:]}")
    check("training 4 trial(s) in one pass" in p.stderr, "one pass of 4 trials announced")
    if FAILED:
        return
    compare_runs(A, B, "one-pass")

    # C: killed once every trial has a checkpoint, then the same command again
    proc = subprocess.Popen(sweep(C, "--one-pass"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 300
    dirs = [os.path.join(C, t) for t in sorted(os.listdir(A)) if t.startswith("trial-")]

    def all_have(step):
        return all(os.path.exists(os.path.join(d, f"checkpoint-{step}.h5")) for d in dirs)

    while not all_have(4) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [os.path.exists(os.path.join(d, "done.json")) for d in dirs]
    check(all_have(4) and not any(done), f"killed after step 4, no trial finished ({done})")
    p = subprocess.run(sweep(C, "--one-pass"), capture_output=True, text=True, env=env)
    check(p.returncode == 0, f"rerun exits 0 {p.stderr[-300:]}")
    check("resuming 4 trial(s) in one pass" in p.stderr, "all four trials resume together")
    sc = json.load(open(os.path.join(C, "summary.json")))
    check(all(t["status"] == "resumed" for t in sc["trials"]), "every trial's status is resumed")
    compare_runs(A, C, "killed + resumed one-pass")

    # D: a key that changes the batches cannot be swept in one pass
    D = os.path.join(work, "D")
    p = subprocess.run([lorac, "sweep", "--config", cfg, "--seed", "1,2", "--one-pass", "--out", D],
                       capture_output=True, text=True, env=env)
    print(p.stderr.strip()[-400:])
    check(p.returncode == 1 and "differ in: seed 1 -> 2" in p.stderr and "one pass" in p.stderr, "--seed with --one-pass refused")
    trained = [t for t in os.listdir(D) if os.path.exists(os.path.join(D, t, "metrics.jsonl"))] if os.path.isdir(D) else []
    check(not trained, f"nothing trained ({trained})")


main()
print(f"{'FAILED: ' + str(len(FAILED)) if FAILED else 'all checks passed'}")
sys.exit(1 if FAILED else 0)
