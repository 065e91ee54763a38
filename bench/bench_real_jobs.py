#!/usr/bin/env python3
"""
bench_real_jobs.py — training throughput on real variable-length data, side
by side in one invocation: `lorac train` with padding-free batches (the
default), `lorac train` with padding_free: false (rows padded to the longest
of each micro-batch), and PyTorch + PEFT (bench/pytorch_real_bench.py, padded
to the longest row as transformers does by default), all on the real
SmolLM2-135M-Instruct (Q4_1 GGUF), LoRA r=8 alpha=16 dropout 0.05 on all
seven projections, batch --batch rows, loss on the answers.

Jobs:
  demo      data/demo/train.jsonl (short support Q&A), max_seq_len 256
  pubmedqa  ../shared/data/pubmedqa through scripts/prepare_data.py
            --with-contexts (each abstract in the prompt: long rows), 512

PyTorch runs with OMP_WAIT_POLICY=PASSIVE, as lorac sets for itself
(docs/architecture.md): on a shared, loaded machine its spinning OpenMP
threads otherwise made it ~7x slower (measured 4.3 vs 30.9 tokens/s).

Throughput counts REAL (non-pad) tokens per second over --steps steps after
one untimed step. lorac's step times and token counts come from its
metrics.jsonl (tokens_per_s x the step's time = the tokens it processed:
real tokens when padding-free); both lorac runs share the seed, so they
train on the same batches, and the padded run's real tokens are the
padding-free run's. Prints one JSON line per run and a ratio line per job.

usage: bench/bench_real_jobs.py [--jobs demo,pubmedqa] [--threads 2] [--steps 3] [--batch 8]
       [--lorac build/lorac] [--work /tmp/lorac-bench-real]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GGUF = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def job_data(job, work):
    if job == "demo":
        return os.path.join(ROOT, "data", "demo", "train.jsonl"), 256
    out = os.path.join(work, "pubmedqa")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "prepare_data.py"), "pubmedqa", out,
                    "--with-contexts"], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(out, "train.jsonl"), 512


def lorac_run(args, job, data, max_len, padding_free):
    out = os.path.join(args.work, f"{job}-{'free' if padding_free else 'padded'}")
    cfg = os.path.join(args.work, f"{job}-{padding_free}.yaml")
    shutil.rmtree(out, ignore_errors=True)  # the work dir is ours: a run left by an earlier invocation would be resumed
    with open(cfg, "w") as f:
        f.write(f"model: {GGUF}\ndata: {data}\nsplit: 0\nchat_template: auto\nmask_prompt: true\n"
                f"max_seq_len: {max_len}\nr: 8\nalpha: 16\ndropout: 0.05\ntarget_modules: all-linear\n"
                f"lr: 1e-3\nbatch_size: {args.batch}\nmax_steps: {args.steps + 1}\neval_every: 0\n"
                f"save_every: 0\nlog_every: 1\nthreads: {args.threads}\nout_dir: {out}\n"
                f"padding_free: {'true' if padding_free else 'false'}\n")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    subprocess.run([args.lorac, "train", "--config", cfg, "--quiet"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    steps = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl")) if '"loss"' in line]
    dts, toks, prev = [], [], 0.0
    for m in steps:
        dt = m["elapsed_s"] - prev
        prev = m["elapsed_s"]
        dts.append(dt)
        toks.append(m["tokens_per_s"] * dt)
    rss = max(m.get("peak_rss_mb", 0) for m in steps)
    return dts[1:], toks[1:], rss


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", default="demo,pubmedqa")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lorac", default=os.path.join(ROOT, "build", "lorac"))
    ap.add_argument("--work", default="/tmp/lorac-bench-real")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    for job in args.jobs.split(","):
        data, max_len = job_data(job, args.work)
        t0 = time.time()
        dt_f, tok_f, rss_f = lorac_run(args, job, data, max_len, True)
        dt_p, tok_p, rss_p = lorac_run(args, job, data, max_len, False)
        real = sum(tok_f)
        free = {"impl": "lorac", "job": job, "layout": "padding-free", "real_tokens_per_s": round(real / sum(dt_f), 1),
                "real_tokens": round(real), "timed_s": round(sum(dt_f), 2), "peak_rss_mb": rss_f}
        padded = {"impl": "lorac", "job": job, "layout": "padded", "real_tokens_per_s": round(real / sum(dt_p), 1),
                  "padded_tokens_per_s": round(sum(tok_p) / sum(dt_p), 1), "padded_tokens": round(sum(tok_p)),
                  "timed_s": round(sum(dt_p), 2), "peak_rss_mb": rss_p}
        print(json.dumps(free), flush=True)
        print(json.dumps(padded), flush=True)
        pt = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "pytorch_real_bench.py"), "--data", data,
                             "--threads", str(args.threads), "--steps", str(args.steps), "--batch", str(args.batch),
                             "--max-len", str(max_len)], check=True, capture_output=True, text=True,
                            env=dict(os.environ, OMP_NUM_THREADS=str(args.threads), OMP_WAIT_POLICY="PASSIVE"))
        ptj = json.loads(pt.stdout.strip().splitlines()[-1])
        ptj["job"] = job
        print(json.dumps(ptj), flush=True)
        print(f"{job}: real tokens/s lorac padding-free {free['real_tokens_per_s']}, lorac padded "
              f"{padded['real_tokens_per_s']} ({free['real_tokens_per_s'] / padded['real_tokens_per_s']:.2f}x), "
              f"pytorch {ptj['real_tokens_per_s']} (lorac/pytorch {free['real_tokens_per_s'] / ptj['real_tokens_per_s']:.2f}x); "
              f"pad share lorac padded {1 - real / padded['padded_tokens']:.0%}, pytorch "
              f"{1 - ptj['real_tokens'] / ptj['padded_tokens']:.0%}; load {open('/proc/loadavg').read().split()[0]}; "
              f"{time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
