#!/usr/bin/env python3
"""test_sweep.py — `lorac sweep` on the real stories260K model.

A. A full sweep (--lr 1e-4,1e-2, 8 steps each) into A/: summary.json names
   the trial whose metrics.jsonl has the lowest validation loss, summary.csv
   is sorted by it, curves.svg is well-formed SVG with one train and one
   valid polyline per trial.
B. The same sweep into B/ as a subprocess, SIGKILLed once the first trial
   wrote done.json and the second saved a checkpoint; then the same command
   again: trial 0 is skipped (done.json and adapter.h5 untouched: same mtime;
   status "skipped"), trial 1 resumed from its checkpoint, the sweep
   completes, takes less time than the full sweep A, and every trial's
   numbers equal A's (training is deterministic and resume is bit-identical).
C. Usage errors: bad value in a swept key, nothing to sweep.

usage: test_sweep.py LORAC MODEL_DIR WORK_DIR
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

FAILED = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        FAILED.append(msg)


def make_data(work, n_test=0):
    """train.jsonl (14 rows), valid.jsonl (6) and, with n_test, test.jsonl (n_test) in work/."""
    names = ["Lily", "Tom", "Sue", "Ben", "Max", "Anna", "Tim", "Mia"]
    things = ["ball", "cat", "dog", "tree", "cake", "car", "hat", "box"]
    rows = [{"prompt": f"What did {names[i % 8]} find?", "completion": f" {names[i % 8]} found a {things[(3 * i) % 8]}."}
            for i in range(20 + n_test)]
    parts = [("train.jsonl", rows[:14]), ("valid.jsonl", rows[14:20])] + ([("test.jsonl", rows[20:])] if n_test else [])
    for name, part in parts:
        with open(os.path.join(work, name), "w") as f:
            for r in part:
                f.write(json.dumps(r) + "\n")


def write_config(work, model, test=False):
    """work/cfg.yaml: the sweeps' base config (r 4 all-linear, 8 steps, eval and save every 2); its path."""
    cfg = os.path.join(work, "cfg.yaml")
    with open(cfg, "w") as f:
        f.write(f"model: {model}\ndata: {work}/train.jsonl\nvalid_data: {work}/valid.jsonl\n"
                + (f"test_data: {work}/test.jsonl\n" if test else "")
                + "r: 4\nalpha: 8\ntarget_modules: all-linear\nbatch_size: 4\nmax_steps: 8\n"
                f"eval_every: 2\nsave_every: 2\nlog_every: 1\nseed: 3\nthreads: 1\nout_dir: {work}/unused\n")
    return cfg


def has_checkpoint(trial_dir):
    return os.path.isdir(trial_dir) and any(f.startswith("checkpoint-") and f.endswith(".h5")
                                            for f in os.listdir(trial_dir))


def kill_when(cmd, ready, limit_s):
    """Run cmd, SIGKILL it as soon as ready() holds (or it exits, or limit_s passes)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + limit_s
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def min_valid(trial_dir):
    best = None
    for line in open(os.path.join(trial_dir, "metrics.jsonl")):
        i = line.find('"valid_loss":')
        if i >= 0:
            v = float(line[i + 13:].split(",")[0].rstrip("}\n"))
            best = v if best is None else min(best, v)
    return best


def main():
    lorac, model, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    make_data(work)
    cfg = write_config(work, model)

    def sweep(out):
        return [lorac, "sweep", "--config", cfg, "--lr", "1e-4,1e-2", "--out", out, "--quiet"]

    # A: full sweep
    A = os.path.join(work, "A")
    t0 = time.time()
    p = subprocess.run(sweep(A), capture_output=True, text=True)
    t_full = time.time() - t0
    print(p.stdout)
    check(p.returncode == 0, f"full sweep exits 0 in {t_full:.1f} s {p.stderr[-400:]}")
    if p.returncode:
        return
    summ = json.load(open(os.path.join(A, "summary.json")))
    trials = summ["trials"]
    names = sorted(t["trial"] for t in trials)
    check(names == ["trial-0-lr1e-4", "trial-1-lr1e-2"], f"trial dirs {names}")
    mins = {t["trial"]: min_valid(t["dir"]) for t in trials}
    want_best = min(mins, key=mins.get)
    print(f"min valid loss per trial (from metrics.jsonl): {mins}")
    check(summ["best"] == want_best, f"summary names the lowest validation loss: {summ['best']}")
    check(all(abs(t["best_valid_loss"] - mins[t["trial"]]) < 1e-6 for t in trials), "best_valid_loss = min of curve")
    check([t["rank"] for t in trials] == [1, 2] and trials[0]["best_valid_loss"] <= trials[1]["best_valid_loss"],
          "summary.json sorted by best valid loss")
    csv = open(os.path.join(A, "summary.csv")).read().splitlines()
    check(csv[0].startswith("rank,trial,dir,lr,best_valid_loss") and csv[1].split(",")[1] == want_best,
          "summary.csv sorted, best first")
    check(f"best: {want_best}" in p.stdout, "best trial printed")
    svg = ET.parse(os.path.join(A, "curves.svg")).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    polys = svg.findall(f"{ns}polyline")
    check(svg.tag == f"{ns}svg" and len(polys) == 4, f"curves.svg: {len(polys)} polylines (2 trials x train/valid)")
    n_points = [len(pl.get("points").split()) for pl in polys]
    check(n_points == [8, 5, 8, 5], f"points per polyline {n_points} (8 train steps, 5 evaluations)")

    if shutil.which("rsvg-convert"):  # it renders (librsvg, as in browsers' SVG 1.1 subset)
        png = os.path.join(A, "curves.png")
        r = subprocess.run(["rsvg-convert", "-o", png, os.path.join(A, "curves.svg")], capture_output=True, text=True)
        check(r.returncode == 0 and os.path.getsize(png) > 10000, f"rsvg-convert renders curves.svg {r.stderr[:200]}")

    # B: killed after the first trial finished and the second saved a checkpoint, then rerun
    B = os.path.join(work, "B")
    done0 = os.path.join(B, "trial-0-lr1e-4", "done.json")
    dir1 = os.path.join(B, "trial-1-lr1e-2")
    kill_when(sweep(B), lambda: os.path.exists(done0) and has_checkpoint(dir1), 300)
    print("killed with trial-1 files:", sorted(os.listdir(dir1)) if os.path.isdir(dir1) else None)
    check(os.path.exists(done0), "first trial finished before the kill")
    done1 = os.path.join(B, "trial-1-lr1e-2", "done.json")
    check(not os.path.exists(done1), "second trial not finished when killed")
    ad0 = os.path.join(B, "trial-0-lr1e-4", "adapter.h5")
    m_done, m_ad = os.stat(done0).st_mtime_ns, os.stat(ad0).st_mtime_ns
    t0 = time.time()
    p = subprocess.run(sweep(B), capture_output=True, text=True)
    t_rerun = time.time() - t0
    check(p.returncode == 0, f"rerun exits 0 in {t_rerun:.1f} s (full sweep {t_full:.1f} s) {p.stderr[-300:]}")
    check("trial-0-lr1e-4: finished before, skipped" in p.stderr, "rerun reports trial 0 skipped")
    check(os.stat(done0).st_mtime_ns == m_done and os.stat(ad0).st_mtime_ns == m_ad,
          "trial 0's done.json and adapter.h5 untouched (mtime)")
    check(t_rerun < t_full, f"rerun ({t_rerun:.1f} s) faster than the full sweep ({t_full:.1f} s)")
    sb = json.load(open(os.path.join(B, "summary.json")))
    st = {t["trial"]: t["status"] for t in sb["trials"]}
    check(st["trial-0-lr1e-4"] == "skipped" and st["trial-1-lr1e-2"] == "resumed", f"statuses {st}")
    check("trial-1-lr1e-2: resuming from its newest checkpoint" in p.stderr, "rerun resumes trial 1")
    va = {t["trial"]: t["best_valid_loss"] for t in trials}
    vb = {t["trial"]: t["best_valid_loss"] for t in sb["trials"]}
    check(all(abs(va[k] - vb[k]) <= 1e-7 * abs(va[k]) for k in va) and sb["best"] == summ["best"],
          f"interrupted + resumed sweep gives the same numbers: {vb} vs {va}")

    # C: usage errors
    p = subprocess.run([lorac, "sweep", "--config", cfg, "--lr", "1e-4,fast", "--out", os.path.join(work, "C")],
                       capture_output=True, text=True)
    check(p.returncode == 2 and "fast" in p.stderr, f"bad swept value: {p.stderr.strip()[:140]}")
    p = subprocess.run([lorac, "sweep", "--config", cfg, "--out", os.path.join(work, "C")], capture_output=True,
                       text=True)
    check(p.returncode == 2 and "nothing to sweep" in p.stderr, "nothing to sweep")
    check(not os.path.exists(os.path.join(work, "C")), "no directory created on usage errors")


if __name__ == "__main__":  # test_sweep_train_resume.py imports the helpers above
    main()
    print(f"{'FAILED: ' + str(len(FAILED)) if FAILED else 'all checks passed'}")
    sys.exit(1 if FAILED else 0)
