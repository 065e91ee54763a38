#!/usr/bin/env python3
"""bench_generate.py — batch-1 generation speed: lorac vs llama.cpp, in one invocation.

usage: bench/bench_generate.py [--lorac build/lorac] [--model models/SmolLM2-135M-Instruct.Q4_1.gguf]
                               [--threads 2] [--new 128] [--reps 3] [--adapter A.h5] [--f32 F32.gguf]
                               [--quiet-wait S] [--prompt-repeat K]

Same GGUF, same thread count, same raw prompt (no chat template), greedy, up to
--new tokens, for the quantised file (SmolLM2 Q4_1, Gemma 3 270M Q4_K_M, ...) and for an F32 GGUF of the same weights (made
with `lorac merge --adapter A.h5:0 --gguf-type f32`, i.e. the Q4_1 weights
dequantised; A.h5 is --adapter, or a 1-step adapter trained here on one demo
row). lorac's numbers are what `lorac generate` prints on stderr (prompt
prefill and decode tokens/s); llama.cpp (llama-cpp-python) is timed around
llm.eval() for the prompt and then one eval() + arg-max per generated token,
exactly as many tokens as lorac generated (lorac stops early at EOS); both
count generation tok/s as lorac does: generated tokens / time after the
prefill (n - 1 decodes, the first token comes from the prefill). Each
measurement is the best of --reps runs; the load average is printed before and
after, and each run's line says how many cores other processes kept busy just
before it, because a loaded machine skews both sides (llama.cpp's threads
busy-wait, lorac's sleep: under load llama.cpp slows down far more). On a
shared machine, --quiet-wait S waits up to S seconds for a quiet moment before
each run. Needs llama-cpp-python; without
it only lorac's rows are printed. --prompt-repeat K repeats the prompt
paragraph K times (≈ 48·K tokens; the context grows to fit) to time long
prompts' prefill (issue 17).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = ("Chapter 1\n\nThe rain had not stopped for three days when Captain Elena Varga finally received the "
          "message she had been dreading. She read it twice, folded it, and walked out onto the deck of the ship.")
CTX = 512  # context of both engines (--prompt-repeat grows it)
STATS = re.compile(r"\[prompt: (\d+) tokens \((\d+) cached\), ([\d.]+) s, ([\d.]+) tok/s \| generation: (\d+) tokens, "
                   r"([\d.]+) s, ([\d.]+) tok/s")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def busy_cores(seconds=1.0):
    """Cores kept busy by other processes over the next `seconds` (from /proc/stat)."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return (os.cpu_count() or 1) * (1.0 - (i1 - i0) / max(t1 - t0, 1))


def wait_quiet(limit_s, max_busy=0.25):
    """Wait (at most limit_s seconds) until other processes use < max_busy cores."""
    t0 = time.perf_counter()
    while True:
        b = busy_cores()
        if b < max_busy or time.perf_counter() - t0 >= limit_s:
            return b


def lorac_run(lorac, model, threads, n_new):
    cmd = [lorac, "generate", "--model", model, "--raw", "--max-tokens", str(n_new), "--threads", str(threads),
           "--ctx", str(CTX), "--prompt", PROMPT]
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    m = STATS.search(p.stderr)
    if p.returncode or not m:
        sys.exit("lorac generate failed (%d):\n%s" % (p.returncode, p.stderr[-2000:]))
    return {"n_prompt": int(m.group(1)), "prompt_tps": float(m.group(4)), "n_gen": int(m.group(5)),
            "gen_tps": float(m.group(7))}


def llama_run(llm, prompt_ids, n_gen):
    import numpy as np
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt_ids)
    t1 = time.perf_counter()
    nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    for _ in range(n_gen - 1):
        llm.eval([nxt])
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    t2 = time.perf_counter()
    # as lorac counts: n_gen tokens over the time from the end of the prefill
    # (whose logits give the first token) to the last token, i.e. n_gen - 1 decodes
    return {"n_prompt": len(prompt_ids), "prompt_tps": len(prompt_ids) / (t1 - t0), "n_gen": n_gen,
            "gen_tps": n_gen / (t2 - t1)}


QUIET_S = 0  # --quiet-wait


def timed(label, engine, k, fn):
    """One measurement, logged on stderr with its wall time, the load average and
    how many cores other processes kept busy just before it."""
    busy = wait_quiet(QUIET_S) if QUIET_S > 0 else busy_cores(0.5)
    t0 = time.perf_counter()
    r = fn()
    print("  %s %s run %d: prompt %.1f tok/s, generation %.1f tok/s (%.1f s, load %s, %.2f cores busy before)"
          % (label, engine, k + 1, r["prompt_tps"], r["gen_tps"], time.perf_counter() - t0, loadavg(), busy),
          file=sys.stderr, flush=True)
    return r


def best(runs):
    return {"n_prompt": runs[0]["n_prompt"], "n_gen": runs[0]["n_gen"],
            "prompt_tps": max(r["prompt_tps"] for r in runs), "gen_tps": max(r["gen_tps"] for r in runs)}


def make_f32(lorac, model, adapter, work, threads):
    if not adapter:
        rows = os.path.join(work, "one.jsonl")
        with open(os.path.join(ROOT, "data/demo/train.jsonl")) as f, open(rows, "w") as g:
            g.write(f.readline())
        cfg = os.path.join(work, "one.yaml")
        with open(cfg, "w") as f:
            f.write("model: %s\ndata: %s\nsplit: 0\nmax_steps: 1\nbatch_size: 1\nmax_seq_len: 64\nr: 1\n"
                    "target_modules: q_proj\neval_every: 0\nsave_every: 0\nthreads: %d\nout_dir: %s\n"
                    % (model, rows, threads, os.path.join(work, "run")))
        subprocess.run([lorac, "train", "--config", cfg, "--quiet"], check=True, capture_output=True)
        adapter = os.path.join(work, "run", "adapter.h5")
    out = os.path.join(work, "f32.gguf")
    subprocess.run([lorac, "merge", "--model", model, "--adapter", adapter + ":0", "--out", out, "--gguf-type", "f32"],
                   check=True, capture_output=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lorac", default=os.path.join(ROOT, "build", "lorac"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--adapter", help="any lorac adapter of --model (for the zero-scale F32 merge)")
    ap.add_argument("--f32", help="an existing F32 GGUF to use instead of making one")
    ap.add_argument("--quiet-wait", type=float, default=0, metavar="S",
                    help="before each run, wait up to S seconds until other processes use < 0.25 cores")
    ap.add_argument("--prompt-repeat", type=int, default=1, metavar="K",
                    help="the prompt paragraph K times (long-prompt prefill; context grows to fit)")
    a = ap.parse_args()
    global PROMPT, CTX
    PROMPT = "\n\n".join([PROMPT] * a.prompt_repeat)
    while CTX < 64 * a.prompt_repeat + a.new:
        CTX *= 2
    # the compute path (CPU model and features, BLAS core, precisions), as `lorac info` prints it
    print(subprocess.run([a.lorac, "info"], capture_output=True, text=True).stdout.rstrip())
    global QUIET_S
    QUIET_S = a.quiet_wait
    try:
        import llama_cpp
    except ImportError:
        llama_cpp = None
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    print("machine: %d cores, %s | threads %d | load average before: %s" % (os.cpu_count(), cpu, a.threads, loadavg()))
    if llama_cpp:
        print("llama.cpp: llama-cpp-python %s (%s)" % (llama_cpp.__version__,
                                                       llama_cpp.llama_print_system_info().decode().strip()))
    work = tempfile.mkdtemp(prefix="lorac_bench_gen_")
    rows = []
    try:
        t0 = time.perf_counter()
        f32 = a.f32 or make_f32(a.lorac, a.model, a.adapter, work, a.threads)
        if not a.f32:
            print("made %s in %.1f s (lorac merge --adapter A.h5:0 --gguf-type f32)" % (f32, time.perf_counter() - t0))
        qlabel = "quantised" if "Q4_1" not in os.path.basename(a.model) else "Q4_1"
        for label, path in ((qlabel, a.model), ("F32", f32)):
            lc = best([timed(label, "lorac", k, lambda: lorac_run(a.lorac, path, a.threads, a.new))
                       for k in range(a.reps)])
            rows.append((label, "lorac", lc))
            if llama_cpp:
                llm = llama_cpp.Llama(model_path=path, n_ctx=CTX, n_batch=CTX, n_threads=a.threads,
                                      n_threads_batch=a.threads, seed=0, verbose=False)
                ids = llm.tokenize(PROMPT.encode(), add_bos=True, special=False)
                if len(ids) != lc["n_prompt"]:
                    print("warning: prompt is %d tokens in llama.cpp, %d in lorac" % (len(ids), lc["n_prompt"]))
                llama_run(llm, ids, 4)  # warm-up
                ll = [timed(label, "llama.cpp", k, lambda: llama_run(llm, ids, lc["n_gen"])) for k in range(a.reps)]
                rows.append((label, "llama.cpp", best(ll)))
                del llm
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| model | engine | prompt tokens | prompt tok/s | generated | generation tok/s |")
    print("|---|---|---|---|---|---|")
    for label, eng, r in rows:
        print("| %s %s | %s | %d | %.1f | %d | %.1f |" % (os.path.basename(a.model), label, eng, r["n_prompt"],
                                                        r["prompt_tps"], r["n_gen"], r["gen_tps"]))
    print()
    res = {(lab, eng): r for lab, eng, r in rows}
    for label in ("Q4_1", "quantised", "F32"):
        if (label, "llama.cpp") in res:
            lc, ll = res[(label, "lorac")], res[(label, "llama.cpp")]
            print("ratio lorac/llama.cpp, %s: prompt %.2fx, generation %.2fx" % (
                label, lc["prompt_tps"] / ll["prompt_tps"], lc["gen_tps"] / ll["gen_tps"]))
    print("load average after: %s (best of %d runs each)" % (loadavg(), a.reps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
