#!/usr/bin/env python3
"""test_sweep_train_resume.py — a sweep trial finished by `lorac train
--resume` is a finished trial (issue 15), on the real stories260K model.

A. The reference: a full sweep (--lr 1e-4,1e-2, 8 steps, test data) into A/.
B. The same sweep into B/, SIGKILLed while trial 1 trains (after its
   first checkpoint); trial 1 then finished with `lorac train --resume`
   (the issue's steps). Rerunning the sweep command skips it ("finished before", status
   "skipped": train wrote done.json at the end of the run) and its
   summary.csv row (best, last valid and final train loss, steps) is A's,
   character for character (resume is bit-identical; the bug: "resumed"
   with nan as last valid and final train loss). Trial 0, finished by the
   killed sweep, is skipped with A's numbers.
C. A trial directory finished without done.json (a run finished by a lorac
   from before train wrote it: B's trial 1 with done.json deleted): the
   sweep resumes it at its last checkpoint, trains nothing, and its row
   still has A's numbers (the last losses read back from metrics.jsonl);
   metrics.jsonl keeps one test-loss line and its metric rows unchanged;
   done.json is written.
D. A `lorac train --resume` refused (a changed lr) leaves done.json as it
   was; one that extends the run (--max_steps 10) rewrites it (steps 10).

usage: test_sweep_train_resume.py LORAC MODEL_DIR WORK_DIR
"""
import csv
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_sweep import FAILED, check, has_checkpoint, kill_when, make_data, write_config  # noqa: E402

def rows(sweep_dir):
    """summary.csv: trial name -> its row (dict of strings)."""
    with open(os.path.join(sweep_dir, "summary.csv"), newline="") as f:
        return {r["trial"]: r for r in csv.DictReader(f)}


NUMBERS = ("best_valid_loss", "best_step", "last_valid_loss", "final_train_loss", "steps")


def same_numbers(a, b):
    return all(a[k] == b[k] for k in NUMBERS)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p


def main():
    lorac, model, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    make_data(work, n_test=4)
    cfg = write_config(work, model, test=True)

    def sweep(out):
        return [lorac, "sweep", "--config", cfg, "--lr", "1e-4,1e-2", "--out", out, "--quiet"]

    # A: the reference
    A = os.path.join(work, "A")
    p = run(sweep(A))
    check(p.returncode == 0, f"reference sweep exits 0 {p.stderr[-300:]}")
    if p.returncode:
        return
    ra = rows(A)
    check(all(r["last_valid_loss"] != "nan" and r["final_train_loss"] != "nan" for r in ra.values()),
          "reference rows have numbers")

    # B: the sweep killed once trial 0 finished and trial 1 saved a checkpoint;
    # trial 1 then finished by `lorac train --resume`
    B = os.path.join(work, "B")
    t1 = os.path.join(B, "trial-1-lr1e-2")
    done0 = os.path.join(B, "trial-0-lr1e-4", "adapter.h5")
    kill_when(sweep(B), lambda: os.path.exists(done0) and has_checkpoint(t1), 240)
    print("killed with trial-1 files:", sorted(os.listdir(t1)) if os.path.isdir(t1) else None)
    check(has_checkpoint(t1) and not os.path.exists(os.path.join(t1, "adapter.h5")),
          "killed while trial 1 was training (a checkpoint, no adapter.h5)")
    p = run([lorac, "train", "--resume", t1, "--quiet"])
    check(p.returncode == 0, f"`lorac train --resume` finishes trial 1 {p.stderr[-300:]}")
    done1 = os.path.join(t1, "done.json")
    check(os.path.exists(done1), "train wrote done.json at the end of the run")
    d = json.load(open(done1)) if os.path.exists(done1) else {}
    check(d.get("steps") == 8 and d.get("total_steps") == 8 and d.get("last_valid_loss") is not None
          and d.get("test_loss") is not None, f"done.json: {d}")
    p = run(sweep(B))
    check(p.returncode == 0, f"sweep rerun exits 0 {p.stderr[-300:]}")
    check("trial-1-lr1e-2: finished before, skipped" in p.stderr, "the sweep skips the trial train finished")
    rb = rows(B)
    r1 = rb.get("trial-1-lr1e-2", {})
    check(r1.get("status") == "skipped", f"trial 1 status {r1.get('status')}")
    check(bool(r1) and same_numbers(r1, ra["trial-1-lr1e-2"]),
          f"trial 1's row has the run's numbers: {[r1.get(k) for k in NUMBERS]} vs "
          f"{[ra['trial-1-lr1e-2'][k] for k in NUMBERS]}")
    check(same_numbers(rb["trial-0-lr1e-4"], ra["trial-0-lr1e-4"]) and rb["trial-0-lr1e-4"]["status"] == "skipped",
          "trial 0 (finished by the killed sweep) skipped, A's numbers")

    # C: finished, but no done.json (a lorac of before): resumed with nothing to train
    metrics = os.path.join(t1, "metrics.jsonl")
    before = open(metrics).read().splitlines()
    os.remove(done1)
    p = run(sweep(B))
    check(p.returncode == 0, f"sweep over a finished trial without done.json exits 0 {p.stderr[-300:]}")
    r1 = rows(B)["trial-1-lr1e-2"]
    check(r1["status"] == "resumed" and same_numbers(r1, ra["trial-1-lr1e-2"]),
          f"resumed at its last step, row has the run's numbers: {[r1[k] for k in NUMBERS]}")
    after = open(metrics).read().splitlines()
    n_test = sum('"test_loss"' in line for line in after)
    check(n_test == 1, f"metrics.jsonl has {n_test} test-loss line(s), want 1")
    check([x for x in after if '"test_loss"' not in x] == [x for x in before if '"test_loss"' not in x],
          "metric rows unchanged")
    check(os.path.exists(done1), "done.json written again")

    # D: a refused resume leaves done.json; an extending one rewrites it
    m = os.stat(done1).st_mtime_ns
    p = run([lorac, "train", "--resume", t1, "--lr", "5e-2", "--quiet"])
    check(p.returncode != 0 and os.path.exists(done1) and os.stat(done1).st_mtime_ns == m,
          f"refused resume (rc {p.returncode}) leaves done.json untouched")
    p = run([lorac, "train", "--resume", t1, "--max_steps", "10", "--quiet"])
    d = json.load(open(done1)) if os.path.exists(done1) else {}
    check(p.returncode == 0 and d.get("steps") == 10, f"extended run: done.json steps {d.get('steps')}")


main()
print(f"{'FAILED: ' + str(len(FAILED)) if FAILED else 'all checks passed'}")
sys.exit(1 if FAILED else 0)
