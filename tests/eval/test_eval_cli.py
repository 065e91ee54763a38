#!/usr/bin/env python3
"""test_eval_cli.py — `lorac eval` end to end on the real stories260K model.

1. Writes a small Q&A set (16 train rows, 8 valid rows: "What did Tom find?" ->
   "Tom found a red ball.", plus yes/no questions), trains a quick adapter with
   `lorac train`.
2. `lorac eval --model M --adapter A.h5 --adapter A.h5:0.5 --data train.jsonl`:
   the adapter's loss on its own training data must be below the base
   model's, and the half-scale adapter's in between-ish (below base).
3. Every generation metric in eval.json is recomputed in Python from
   generations.jsonl with the reference scorers (SQuAD script functions,
   rouge-score, sacreBLEU, label accuracy) and must agree to 1e-6; eval.csv
   must agree with eval.json.
4. Errors: a missing data file, an unknown metric, an adapter that does not
   exist — exit status and message.

usage: test_eval_cli.py LORAC MODEL_DIR WORK_DIR
"""
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time

import sacrebleu
from rouge_score import rouge_scorer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_metric_refs import compute_exact, compute_f1, label_find  # noqa: E402

FAILED = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        FAILED.append(msg)


def run(args, **kw):
    t0 = time.time()
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    return p, time.time() - t0


def make_data(work):
    rng = random.Random(7)
    names = ["Lily", "Tom", "Sue", "Ben", "Max", "Anna", "Tim", "Mia"]
    things = ["ball", "cat", "dog", "tree", "cake", "car", "hat", "box"]
    colors = ["red", "blue", "green", "big", "small"]
    rows = []
    for i in range(24):
        n, t, c = rng.choice(names), rng.choice(things), rng.choice(colors)
        if i % 4 == 3:
            ans = rng.choice(["yes", "no"])
            rows.append({"prompt": f"Is the {t} {c}?", "completion": f" {ans}"})
        else:
            rows.append({"prompt": f"What did {n} find?", "completion": f" {n} found a {c} {t}."})
    for name, part in (("train.jsonl", rows[:16]), ("valid.jsonl", rows[16:])):
        with open(os.path.join(work, name), "w") as f:
            for r in part:
                f.write(json.dumps(r) + "\n")


def main():
    lorac, model, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    make_data(work)
    cfg = os.path.join(work, "cfg.yaml")
    with open(cfg, "w") as f:
        f.write(f"model: {model}\ndata: {work}/train.jsonl\nvalid_data: {work}/valid.jsonl\n"
                "r: 8\nalpha: 16\ntarget_modules: all-linear\nlr: 3e-3\nbatch_size: 4\nmax_steps: 24\n"
                f"eval_every: 0\nsave_every: 0\nlog_every: 8\nseed: 1\nthreads: 1\nout_dir: {work}/run\n")
    p, dt = run([lorac, "train", "--config", cfg, "--quiet"])
    check(p.returncode == 0, f"lorac train exits 0 ({dt:.1f} s) {p.stderr[-300:]}")
    adapter = os.path.join(work, "run", "adapter.h5")
    out = os.path.join(work, "eval")
    p, dt = run([lorac, "eval", "--model", model, "--adapter", adapter, "--adapter", adapter + ":0.5",
                 "--data", f"{work}/train.jsonl", "--max-new-tokens", "10", "--labels", "yes,no",
                 "--threads", "1", "--out", out])
    print(p.stdout)
    check(p.returncode == 0, f"lorac eval exits 0 ({dt:.1f} s) {p.stderr[-500:]}")
    if p.returncode:
        return
    ev = json.load(open(os.path.join(out, "eval.json")))
    cands = ev["candidates"]
    names = [c["name"] for c in cands]
    check(names == ["base", "run/adapter", "run/adapterx0.5"], f"candidates {names}")
    base, ad, half = cands
    print(f"loss: base {base['loss']:.4f} (ppl {base['perplexity']:.2f}), adapter {ad['loss']:.4f} "
          f"(ppl {ad['perplexity']:.2f}), adapter x0.5 {half['loss']:.4f}")
    check(ad["loss"] < base["loss"] - 1.0, "the adapter's loss on its training data is well below the base's")
    check(ad["loss"] < half["loss"] < base["loss"], "the half-scale adapter lies between")
    check(all(abs(math.exp(c["loss"]) - c["perplexity"]) < 1e-6 * c["perplexity"] for c in cands), "ppl = exp(loss)")
    check(base["loss_tokens"] == ad["loss_tokens"] > 0, f"loss over {base['loss_tokens']} answer tokens")

    gens = [json.loads(l) for l in open(os.path.join(out, "generations.jsonl"))]
    check(len(gens) == ev["n_examples"] == 16, f"{len(gens)} generations")
    check(all(set(g["answers"]) == set(names) for g in gens), "every example has every candidate's answer")
    check(gens[0]["prompt"] == "What did " + gens[0]["prompt"][9:] and gens[0]["reference"].startswith(" "),
          "prompt and reference are the data's")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    maxerr = 0.0
    for c in cands:
        preds = [g["answers"][c["name"]] for g in gens]
        refs = [g["reference"] for g in gens]
        want = {
            "em": 100 * sum(compute_exact(r, p) for p, r in zip(preds, refs)) / len(refs),
            "f1": 100 * sum(compute_f1(r, p) for p, r in zip(preds, refs)) / len(refs),
            "rougeL": 100 * sum(scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(preds, refs)) / len(refs),
            "bleu": sacrebleu.corpus_bleu(preds, [refs]).score,
            "accuracy": 100 * sum(label_find(p, ["yes", "no"]) >= 0 and
                                  label_find(p, ["yes", "no"]) == label_find(r, ["yes", "no"])
                                  for p, r in zip(preds, refs)) / len(refs),
        }
        for k, v in want.items():
            err = abs(c[k] - v)
            maxerr = max(maxerr, err)
            check(err <= 1e-6, f"{c['name']} {k}: lorac {c[k]:.6f} python {v:.6f} (err {err:.2g})")
    print(f"generation metrics vs python scorers: max abs err {maxerr:.3g}")
    check(ad["f1"] > base["f1"], f"adapter F1 {ad['f1']:.2f} > base F1 {base['f1']:.2f}")
    csv_lines = open(os.path.join(out, "eval.csv")).read().splitlines()
    check(len(csv_lines) == 4 and csv_lines[0].startswith("candidate,kind,path,loss"), "eval.csv header + 3 rows")
    row = csv_lines[2].split(",")
    check(abs(float(row[3]) - ad["loss"]) < 1e-6, "eval.csv loss = eval.json loss")
    check("base" in p.stdout and "run/adapter" in p.stdout and "*" in p.stdout, "table printed")

    # loss only, limit
    p, _ = run([lorac, "eval", "--model", model, "--adapter", adapter, "--data", f"{work}/valid.jsonl",
                "--metrics", "loss", "--limit", "4", "--threads", "1", "--quiet"])
    check(p.returncode == 0 and "em" not in p.stdout.split("\n")[0] and "(4 examples" in p.stdout,
          "--metrics loss --limit 4")
    # errors
    p, _ = run([lorac, "eval", "--model", model, "--data", f"{work}/nope.jsonl"])
    check(p.returncode == 1 and "nope.jsonl" in p.stderr, f"missing data file: {p.stderr.strip()[:120]}")
    p, _ = run([lorac, "eval", "--model", model, "--data", f"{work}/train.jsonl", "--metrics", "f1,blue"])
    check(p.returncode == 2 and "blue" in p.stderr, f"unknown metric: {p.stderr.strip()[:120]}")
    p, _ = run([lorac, "eval", "--model", model, "--data", f"{work}/train.jsonl", "--adapter", f"{work}/no.h5"])
    check(p.returncode == 1 and "no.h5" in p.stderr, f"missing adapter: {p.stderr.strip()[:120]}")
    p, _ = run([lorac, "eval", "--data", f"{work}/train.jsonl"])
    check(p.returncode == 2 and "--model" in p.stderr, "missing --model")


main()
print(f"{'FAILED: ' + str(len(FAILED)) if FAILED else 'all checks passed'}")
sys.exit(1 if FAILED else 0)
