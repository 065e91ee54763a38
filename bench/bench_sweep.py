#!/usr/bin/env python3
"""bench_sweep.py — a sweep of K learning rates in one pass vs K sequential runs, in one invocation.

usage: bench/bench_sweep.py [--lorac build/lorac] [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
                            [--data data/demo/train.jsonl] [--ks 1,2,4,8] [--steps 3] [--threads 2]
                            [--batch 8] [--grad-checkpointing] [--full-sequential]

The job is the demo's (r 8 on all linear layers, batch --batch rows of the demo Q&A set,
max_seq_len 256, dropout 0.05), --steps optimizer steps, no evaluation, one save at the end.
For each K: `lorac sweep --one-pass` over K learning rates (K = 1: `lorac train`), each a
fresh process. Training time is what the runs log themselves (metrics.jsonl elapsed_s: the
steps only, not loading or saving); tokens are batch positions (rows x padded length, as
bench_train counts them), summed over the K trials, from the second step on (the first also
pays page faults and first touches); peak RSS is the process's (metrics.jsonl peak_rss_mb). "K sequential" is K x the K = 1 run (a trial's work does not depend on its lr),
or with --full-sequential a real sequential `lorac sweep` of the same K trials.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_stats(run_dirs):
    """(positions trained by all trials, training seconds of the slowest trial, peak RSS MB), steps
    after the first: the first step of a process also pays page faults of the mmap'd weights and
    the first touch of the activations."""
    positions, secs, rss = 0.0, 0.0, 0.0
    for d in run_dirs:
        prev, t = None, 0.0
        for line in open(os.path.join(d, "metrics.jsonl")):
            m = json.loads(line)
            if "elapsed_s" not in m or m.get("loss") is None:
                continue
            rss = max(rss, m["peak_rss_mb"])
            if prev is not None:
                dt = m["elapsed_s"] - prev
                positions += m["tokens_per_s"] * dt
                t += dt
            prev = m["elapsed_s"]
        secs = max(secs, t)
    return positions, secs, rss


def lrs(k):
    return ",".join("%.0e" % (1e-4 * 2 ** i) for i in range(k))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lorac", default=os.path.join(ROOT, "build", "lorac"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "demo", "train.jsonl"))
    ap.add_argument("--ks", default="1,2,4,8")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--grad-checkpointing", action="store_true")
    ap.add_argument("--full-sequential", action="store_true")
    a = ap.parse_args()
    # the compute path (CPU model and features, BLAS core, precisions), as `lorac info` prints it
    print(subprocess.run([a.lorac, "info"], capture_output=True, text=True).stdout.rstrip())
    ks = [int(k) for k in a.ks.split(",")]
    work = tempfile.mkdtemp(prefix="lorac-bench-sweep-")
    cfg = os.path.join(work, "cfg.yaml")
    with open(cfg, "w") as f:
        f.write(f"model: {a.model}\ndata: {a.data}\nchat_template: auto\nmask_prompt: true\nmax_seq_len: 256\n"
                f"r: 8\nalpha: 16\ndropout: 0.05\ntarget_modules: all-linear\nlr: 1e-4\nlr_schedule: cosine\n"
                f"batch_size: {a.batch}\ngrad_accum: 1\nmax_steps: {a.steps}\neval_every: 0\nsave_every: 0\n"
                f"split: 0\nseed: 42\nthreads: {a.threads}\ngrad_checkpointing: {str(a.grad_checkpointing).lower()}\n"
                f"out_dir: {work}/unused\n")
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    print(f"machine: {os.cpu_count()} cores, {a.threads} threads; model {os.path.basename(a.model)}; "
          f"{a.steps} steps of {a.batch} rows of {os.path.relpath(a.data, ROOT)}; "
          f"grad_checkpointing {a.grad_checkpointing}; {time.strftime('%Y-%m-%d')}")
    print("load average before: " + " ".join(open("/proc/loadavg").read().split()[:3]))

    def run(k, one_pass):
        out = os.path.join(work, f"{'pass' if one_pass else 'seq'}{k}")
        if k == 1:
            cmd = [a.lorac, "train", "--config", cfg, "--out_dir", out, "--quiet"]
        else:
            cmd = [a.lorac, "sweep", "--config", cfg, "--lr", lrs(k), "--out", out, "--quiet"]
            if one_pass:
                cmd.append("--one-pass")
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.time() - t0
        if p.returncode:
            sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr[-2000:]}")
        dirs = [out] if k == 1 else [os.path.join(out, d) for d in sorted(os.listdir(out)) if d.startswith("trial-")]
        pos, secs, rss = run_stats(dirs)
        if not one_pass and k > 1:  # sequential: the trials' times add up
            secs = sum(run_stats([d])[1] for d in dirs)
        return {"K": k, "positions": pos, "train_s": secs, "wall_s": wall, "peak_rss_mb": rss,
                "tokens_per_s": pos / secs if secs else 0.0}

    rows = []
    base = None
    for k in ks:
        r = run(k, True)
        if k == 1:
            base = r
        if a.full_sequential and k > 1:
            s = run(k, False)
        else:
            if base is None:
                base = run(1, True)
            s = {"K": k, "train_s": base["train_s"] * k, "positions": base["positions"] * k,
                 "peak_rss_mb": base["peak_rss_mb"], "tokens_per_s": base["tokens_per_s"]}
        r["seq_tokens_per_s"] = s["positions"] / s["train_s"] if s["train_s"] else 0.0
        r["seq_peak_rss_mb"] = s["peak_rss_mb"]
        r["speedup"] = r["tokens_per_s"] / r["seq_tokens_per_s"] if r["seq_tokens_per_s"] else 0.0
        rows.append(r)
        print(json.dumps({"impl": "lorac sweep --one-pass", **{x: round(v, 3) if isinstance(v, float) else v
                                                               for x, v in r.items()}}), flush=True)
    print("load average after: " + " ".join(open("/proc/loadavg").read().split()[:3]))
    print()
    print("| K | one pass: tokens/s (all trials) | peak RSS MB | K sequential: tokens/s | peak RSS MB | speed-up |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['K']} | {r['tokens_per_s']:.0f} | {r['peak_rss_mb']:.0f} | {r['seq_tokens_per_s']:.0f} | "
              f"{r['seq_peak_rss_mb']:.0f} | {r['speedup']:.2f}x |")
    shutil.rmtree(work, ignore_errors=True)


main()
