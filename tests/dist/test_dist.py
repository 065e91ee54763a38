#!/usr/bin/env python3
"""test_dist.py — `mpirun -np 2 lorac train|sweep` (lc_dist, docs/scale-out.md) on stories260K.

Usage: test_dist.py LORAC_BINARY MPIRUN MODEL_DIR WORKDIR

Every rank runs 1 OpenMP thread (threads: 1), ranks oversubscribed on this host.
Checks (each prints what it saw; any failure makes the exit status 1):
  - equal: N=1 and N=2 runs of one config (dropout, grad_accum 3 — not a
    multiple of N, so the ranks do uneven work —, cosine schedule, validation)
    log the same losses, grad norms and validation losses, and save the same
    adapter, within fp32 summation-order rounding (tolerances below); the
    validation loss before training is equal exactly (sharded evaluation);
  - resume: the N=2 run cut back to its mid-epoch checkpoint-4 resumes with
    N=1 (and the N=1 run's checkpoint-4 with N=2) to the same end;
  - sweep: `mpirun -np 2 lorac sweep` (plain and --one-pass) writes the same
    summary as one process (bit-identical: each trial runs on one rank alone),
    and a sweep with one trial deleted finishes it on a rerun;
  - kill: SIGKILL of rank 1 mid-training ends the job (non-zero) with a
    message naming rank 1 and this host; the newest checkpoint resumes (N=1)
    to the same end as an uninterrupted run;
  - hang: 3 ranks, rank 1 stopped (SIGSTOP) -> after LORAC_DIST_TIMEOUT (3 s
    here) the waiting ranks probe the others and name rank 1, this host and
    the stopped pid as hung (not themselves); the job ends, the run resumes;
  - mismatch: different data contents (same path, other working directory)
    or a different lr on rank 1 are refused before training, naming the data /
    the config line and rank 1; no checkpoint is written; a sweep whose grid
    differs on rank 1 is refused too.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np

failures = 0

# Tolerances: N=2 sums each step's fp32 LoRA gradient as (rank 0's
# micro-batches) + (rank 1's) instead of in micro-batch order, a reordering
# that changes each gradient entry by a few fp32 ulps (2^-24 ~ 6e-8
# relative). Losses are double sums of the same forward passes (equal before
# the first update); after S steps the perturbation has gone through S AdamW
# updates, each moving a weight by <= lr, normalised by sqrt(v): a relative
# change d of g moves an update by <= d*lr, and d can reach ~1e-3 for entries
# whose gradient nearly cancels. Hence: losses/grad norms rtol 1.5e-6 per
# step (seen: 2e-7 after 8 steps, 4.6e-6 after 60), adapter weights atol steps * lr 3e-3 * 1e-3 = 3e-6 per step (seen:
# 3e-6 after 8 steps). A wrong
# normalisation (local instead of global targets) or a lost rank's gradient
# changes the losses at the first decimal.
RTOL_LOSS_PER_STEP = 1.5e-6
ATOL_W_PER_STEP = 3e-3 * 1e-3


def check(cond, msg):
    global failures
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failures += 1


ROWS = [("What color is the sky?", " The sky is blue."),
        ("What does the cat say?", " The cat says meow."),
        ("Where does the fish live?", " The fish lives in the water."),
        ("What does Lily like?", " Lily likes to play in the park with her dog."),
        ("Who is Tom?", " Tom is a little boy."),
        ("What is in the box?", " A red ball is in the box."),
        ("What did Ben eat?", " Ben ate a big apple."),
        ("Where is the sun?", " The sun is up in the sky.")]


def write_data(path, variant=0):
    with open(path, "w") as f:
        for rep in range(3):
            for p, c in ROWS:
                f.write(json.dumps({"prompt": p + " " * rep, "completion": c + ("!" if variant else "")}) + "\n")


def write_config(path, model, data, out_dir, extra=""):
    with open(path, "w") as f:
        f.write(f"model: {model}\ndata: {data}\nsplit: 0.25\ntarget_modules: all-linear\nr: 8\nalpha: 16\n"
                f"lr: 3e-3\nbatch_size: 2\ngrad_accum: 3\nmax_seq_len: 64\ndropout: 0.1\nlr_schedule: cosine\n"
                f"warmup_steps: 1\nmax_steps: 8\nsave_every: 1\nkeep_last: 0\nthreads: 1\nout_dir: {out_dir}\n{extra}")


class Runner:
    def __init__(self, binary, mpirun):
        self.binary, self.mpirun = binary, mpirun
        ver = subprocess.run([mpirun, "--version"], capture_output=True, text=True).stdout
        self.flags = ["--oversubscribe"] if "Open MPI" in ver or "OpenRTE" in ver else []
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        OMP_NUM_THREADS="1", OMP_WAIT_POLICY="passive", LORAC_DIST_TIMEOUT="120")

    def cmd(self, n, *args):
        return [self.mpirun, *self.flags, "-np", str(n), self.binary, *args]

    def run(self, n, *args, cwd=None, timeout=300, env=None):
        c = self.cmd(n, *args) if n > 1 else [self.binary, *args]
        p = subprocess.run(c, capture_output=True, text=True, cwd=cwd, env=env or self.env, timeout=timeout)
        if p.returncode:
            print(f"  [{' '.join(c)}] exit {p.returncode}\n  " + "\n  ".join((p.stderr + p.stdout).splitlines()[-8:]))
        return p.returncode, p.stdout + p.stderr


def metrics(run_dir):
    """(step, field) -> value for the numeric fields that do not measure time."""
    out = {}
    for line in open(os.path.join(run_dir, "metrics.jsonl")):
        d = json.loads(line.replace("NaN", "null"))
        for k in ("loss", "grad_norm", "valid_loss", "lr", "targets", "epoch", "test_loss"):
            if d.get(k) is not None:
                out[(d["step"], k)] = d[k]
    return out


def adapter(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, np.array(o)) if isinstance(o, h5py.Dataset)
                     and o.dtype.kind == "f" else None)
    return out


def same_run(a, b, what, steps=8):
    ma, mb = metrics(a), metrics(b)
    check(set(ma) == set(mb) and len(ma) > 10, f"{what}: the same {len(ma)} metric values are logged")
    worst = max((abs(ma[k] - mb[k]) / max(abs(ma[k]), 1e-12) for k in ma if k in mb), default=1.0)
    check(worst <= RTOL_LOSS_PER_STEP * steps,
          f"{what}: metrics agree to {worst:.2e} relative (<= {RTOL_LOSS_PER_STEP * steps:g})")
    if not all(os.path.exists(os.path.join(d, "adapter.h5")) for d in (a, b)):
        return check(False, f"{what}: both runs saved adapter.h5")
    wa, wb = adapter(os.path.join(a, "adapter.h5")), adapter(os.path.join(b, "adapter.h5"))
    check(set(wa) == set(wb) and len(wa) > 0, f"{what}: the adapters hold the same {len(wa)} float datasets")
    dw = max((float(np.max(np.abs(wa[k] - wb[k]))) for k in wa if k in wb), default=1.0)
    check(dw <= ATOL_W_PER_STEP * steps, f"{what}: adapter weights agree to {dw:.2e} (<= {ATOL_W_PER_STEP * steps:g})")


def cut_back(run_dir, step):
    """Leave run_dir as if it had stopped after checkpoint-<step>.h5."""
    for p in glob.glob(os.path.join(run_dir, "checkpoint-*.h5")):
        if int(re.findall(r"checkpoint-(\d+)", p)[0]) > step:
            os.remove(p)
    for name in ("adapter.h5", "best.h5"):
        if os.path.exists(os.path.join(run_dir, name)):
            os.remove(os.path.join(run_dir, name))


def test_equal_and_resume(R, model, work, data):
    cfg = os.path.join(work, "c.yaml")
    write_config(cfg, model, data, os.path.join(work, "unused"))
    runs = {}
    for n in (1, 2):
        runs[n] = os.path.join(work, f"n{n}")
        rc, out = R.run(n, "train", "--config", cfg, "--out_dir", runs[n])
        check(rc == 0, f"N={n} training exits 0")
    check("MPI: 2 rank(s) on 1 host(s)" in out and "x 1 OpenMP thread(s)" in out,
          "N=2 prints the threads x ranks layout")
    check(len(re.findall(r"^trained ", out, re.M)) == 1, "N=2: only rank 0 reports the result")
    same_run(runs[1], runs[2], "N=1 vs N=2")
    # validation is sharded over the ranks and summed in batch order
    # (src/train/evaluate.c): before the first update both runs evaluate the
    # same adapter, so the N=2 validation loss must equal N=1's exactly (as
    # logged, 9 significant digits; the sum is bit-identical by construction)
    v = [metrics(runs[n]).get((0, "valid_loss")) for n in (1, 2)]
    check(v[0] is not None and v[0] == v[1], f"N=1 vs N=2: validation loss before training {v[0]} == {v[1]} exactly")
    m = re.search(r"evaluation: rank 0 computed (\d+) of (\d+) batches \(2 rank\(s\)\)", out)
    own, nb = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    check(m is not None and 0 < own < nb and 2 * own <= nb + 9,
          f"N=2: rank 0 computed {own} of {nb} validation batches (about half: the set is sharded)")
    for a, b in ((2, 1), (1, 2)):  # resume a run of N=a with N=b from a mid-epoch checkpoint
        d = os.path.join(work, f"resume{a}to{b}")
        shutil.copytree(runs[a], d)
        cut_back(d, 4)
        rc, out = R.run(b, "train", "--resume", d)
        check(rc == 0 and "resumed from" in out, f"N={a} run resumed with N={b} from checkpoint-4")
        same_run(runs[1], d, f"resume N={a} -> N={b}")


def sweep_summary(out_dir):
    rows = list(open(os.path.join(out_dir, "summary.csv")))
    head = rows[0].strip().split(",")
    keep = [i for i, h in enumerate(head) if h not in ("dir", "train_s")]  # the run's path, its wall time
    return [[r.strip().split(",")[i] for i in keep] for r in rows]


def test_sweep(R, model, work, data):
    cfg = os.path.join(work, "sweep.yaml")
    write_config(cfg, model, data, os.path.join(work, "unused"), "")
    for mode in ([], ["--one-pass"]):
        tag = "one-pass" if mode else "plain"
        outs = {}
        for n in (1, 2):
            outs[n] = os.path.join(work, f"sweep-{tag}-{n}")
            rc, out = R.run(n, "sweep", "--config", cfg, "--lr", "1e-3,3e-3", "--r", "4,8", "--max_steps", "4",
                            *mode, "--out", outs[n])
            check(rc == 0, f"{tag} sweep with N={n} exits 0")
        check(sweep_summary(outs[1]) == sweep_summary(outs[2]), f"{tag} sweep: N=2 summary equals N=1's")
        check(os.path.exists(os.path.join(outs[2], "curves.svg")), f"{tag} sweep: N=2 writes curves.svg")
        trial = sorted(glob.glob(os.path.join(outs[2], "trial-*")))[1]
        shutil.rmtree(trial)
        rc, out = R.run(2, "sweep", "--config", cfg, "--lr", "1e-3,3e-3", "--r", "4,8", "--max_steps", "4",
                        *mode, "--out", outs[2])
        check(rc == 0 and "finished before, skipped" in out, f"{tag} sweep: a rerun with N=2 skips finished trials")
        # the rerun's status column says which trials were skipped: compare the numbers
        nums = lambda d: [r[:-1] for r in sweep_summary(d)]
        check(nums(outs[1]) == nums(outs[2]), f"{tag} sweep: the rerun retrains the deleted trial to the same summary")
    # A slow rank is not a hung one: 3 trials on 2 ranks, so rank 1 waits for
    # rank 0's second trial (30 steps: > 1 s) far longer than LORAC_DIST_TIMEOUT (0.2 s here);
    # its probes find rank 0 alive and busy, and the sweep finishes.
    d = os.path.join(work, "sweep-slow")
    rc, out = R.run(2, "sweep", "--config", cfg, "--lr", "1e-3,3e-3,1e-2", "--r", "8", "--max_steps", "30", "--out", d,
                    env=dict(R.env, LORAC_DIST_TIMEOUT="0.2"))
    note = next((l for l in out.splitlines() if "alive and busy computing" in l), "")
    print("  " + note)
    check(rc == 0 and len(sweep_summary(d)) == 4 and re.search(r"rank 1 on .* alive and busy computing: rank 0 ", note),
          "a rank waiting 0.2 s for a busy rank probes it, finds it alive and waits on: the sweep finishes")


def parent(pid):
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def rank_pids(mpirun_pid):
    """pid -> world rank of the lorac processes started by this mpirun."""
    out = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        a = int(p)
        while a > 1 and a != mpirun_pid:
            a = parent(a)
        try:
            if a != mpirun_pid or not os.readlink(f"/proc/{p}/exe").endswith("lorac"):
                continue
            env = open(f"/proc/{p}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        for e in env:
            if e.startswith(b"OMPI_COMM_WORLD_RANK=") or e.startswith(b"PMI_RANK="):
                out[int(p)] = int(e.split(b"=")[1])
    return out


def test_kill(R, model, work, data):
    cfg = os.path.join(work, "kill.yaml")
    write_config(cfg, model, data, os.path.join(work, "unused"), "")
    ref = os.path.join(work, "kill-ref")
    rc, _ = R.run(1, "train", "--config", cfg, "--out_dir", ref, "--max_steps", "60", "--save_every", "5")
    check(rc == 0, "reference run for the kill test exits 0")
    d = os.path.join(work, "killed")
    p = subprocess.Popen(R.cmd(2, "train", "--config", cfg, "--out_dir", d, "--max_steps", "60", "--save_every", "5"),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=R.env)
    t0 = time.time()
    while not os.path.exists(os.path.join(d, "checkpoint-10.h5")) and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.02)
    victims = [pid for pid, r in rank_pids(p.pid).items() if r == 1]
    check(len(victims) == 1 and p.poll() is None, "rank 1 found while the job runs")
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    out, _ = p.communicate(timeout=120)
    host = socket.gethostname()
    print("  " + "\n  ".join(l for l in out.splitlines() if "rank" in l.lower())[:800])
    check(p.returncode != 0, f"the job ends non-zero (exit {p.returncode})")
    pid = victims[0] if victims else -1
    # Open MPI's mpirun names the rank, host and signal; MPICH's names the pid
    # and host ("PID 123 RUNNING AT vm", "Killed (signal 9)"), and lorac's
    # start-up line maps pids to ranks ("ranks (rank host pid): 0 vm 122, 1 vm 123")
    ompi = re.search(rf"rank 1 with PID \d+ on node {re.escape(host)} exited on signal 9", out)
    mpich = (re.search(rf"PID {pid} RUNNING AT {re.escape(host)}", out) and "signal 9" in out
             and re.search(rf"ranks \(rank host pid\):.* 1 {re.escape(host)} {pid}\b", out))
    check(ompi is not None or bool(mpich), f"the messages name rank 1 (pid {pid}), host {host} and the signal")
    newest = max(int(re.findall(r"checkpoint-(\d+)", c)[0]) for c in glob.glob(os.path.join(d, "checkpoint-*.h5")))
    check(newest >= 10 and newest < 60, f"the newest checkpoint is step {newest}")
    rc, out = R.run(1, "train", "--resume", d)
    check(rc == 0, f"the killed run resumes from checkpoint-{newest} with N=1")
    if rc == 0:
        same_run(ref, d, "killed + resumed vs uninterrupted", steps=60)


def test_hang(R, model, work, data):
    """3 ranks; rank 1 stops answering (SIGSTOP): after LORAC_DIST_TIMEOUT the
    others probe every rank and name the one that does not answer -- rank 1,
    its host and its pid -- not themselves; the job ends and the run resumes."""
    cfg = os.path.join(work, "hang.yaml")
    write_config(cfg, model, data, os.path.join(work, "unused"), "")
    d = os.path.join(work, "hung")
    env = dict(R.env, LORAC_DIST_TIMEOUT="3")
    p = subprocess.Popen(R.cmd(3, "train", "--config", cfg, "--out_dir", d, "--max_steps", "400", "--save_every", "5"),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    t0 = time.time()
    while not os.path.exists(os.path.join(d, "checkpoint-5.h5")) and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.02)
    ranks = rank_pids(p.pid)
    victims = [pid for pid, r in ranks.items() if r == 1]
    check(len(victims) == 1 and len(ranks) == 3 and p.poll() is None, "the 3 ranks found while the job runs")
    for pid in victims:
        os.kill(pid, signal.SIGSTOP)
    t_stop = time.time()
    try:
        out, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    finally:
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    host = re.escape(socket.gethostname())
    lines = [l for l in out.splitlines() if " hung: " in l]
    print("  " + "\n  ".join(lines))
    check(p.returncode != 0, f"the job ends non-zero (exit {p.returncode}), {time.time() - t_stop:.1f} s after the "
          "SIGSTOP (timeout 3 s + probe grace 1 s + the step in progress)")
    pid = victims[0] if victims else -1
    named = [re.search(rf"lorac: rank 1 on {host} \(pid {pid}\) is hung: .* within 3 s .*rank ([02]) on {host} "
                       rf"\(pid (\d+)\) waited", l) for l in lines]
    check(len(lines) >= 1 and all(named),
          f"every hang message names rank 1 on this host with the stopped pid {pid} as the hung rank")
    check(all(int(m.group(2)) == [k for k, r in ranks.items() if r == int(m.group(1))][0] for m in named if m),
          "the waiting rank in each message is a live rank (0 or 2) with its own pid")
    rc, _ = R.run(1, "train", "--resume", d, "--max_steps", "400")
    check(rc == 0, "the hung run resumes from its newest checkpoint with N=1")


def test_mismatch(R, model, work, data):
    for sub, variant in (("a", 0), ("b", 1)):
        os.makedirs(os.path.join(work, sub), exist_ok=True)
        write_data(os.path.join(work, sub, "d.jsonl"), variant)
    out_dir = os.path.join(work, "mismatch-run")
    cfg = os.path.join(work, "mismatch.yaml")
    write_config(cfg, model, "d.jsonl", out_dir)  # relative data path: each rank reads its own cwd's file
    one = [R.binary, "train", "--config", cfg]
    c = [R.mpirun, *R.flags, "-np", "1", "-wdir", os.path.join(work, "a"), *one, ":",
         "-np", "1", "-wdir", os.path.join(work, "b"), *one]
    p = subprocess.run(c, capture_output=True, text=True, env=R.env, timeout=300)
    out = p.stdout + p.stderr
    msg = next((l for l in out.splitlines() if "differs between ranks" in l), "")
    print("  " + msg)
    check(p.returncode != 0 and "training data (d.jsonl)" in msg and "rank 1" in msg,
          "different data contents on rank 1 are refused, naming the data and rank 1")
    check(not glob.glob(os.path.join(out_dir, "checkpoint-*.h5")), "no checkpoint written")
    c = [R.mpirun, *R.flags, "-np", "1", *one, ":", "-np", "1", *one, "--lr", "1e-3"]
    p = subprocess.run(c, capture_output=True, text=True, env=R.env, timeout=300, cwd=os.path.join(work, "a"))
    msg = next((l for l in (p.stdout + p.stderr).splitlines() if "differs between ranks" in l), "")
    print("  " + (msg or "\n  ".join((p.stdout + p.stderr).splitlines()[-8:])))
    check(p.returncode != 0 and "lr:" in msg and "rank 1" in msg, "a different lr on rank 1 is refused, naming lr")
    sw = [R.binary, "sweep", "--config", cfg, "--out", os.path.join(work, "mismatch-sweep"), "--r", "4,8", "--lr"]
    c = [R.mpirun, *R.flags, "-np", "1", *sw, "1e-3,3e-3", ":", "-np", "1", *sw, "1e-3,2e-3"]
    p = subprocess.run(c, capture_output=True, text=True, env=R.env, timeout=300, cwd=os.path.join(work, "a"))
    msg = next((l for l in (p.stdout + p.stderr).splitlines() if "differs between ranks" in l), "")
    print("  " + (msg or "\n  ".join((p.stdout + p.stderr).splitlines()[-8:])))
    check(p.returncode != 0 and "sweep lr:" in msg and "rank 1" in msg, "a sweep with another grid on rank 1 is refused")


def main():
    binary, mpirun, model, work = (os.path.abspath(a) if os.path.exists(a) else a for a in sys.argv[1:5])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    data = os.path.join(work, "d.jsonl")
    write_data(data)
    R = Runner(binary, mpirun)
    which = sys.argv[5:] or ["equal", "sweep", "kill", "hang", "mismatch"]
    tests = {"equal": test_equal_and_resume, "sweep": test_sweep, "kill": test_kill, "hang": test_hang,
             "mismatch": test_mismatch}
    for name in which:
        print(f"--- {name}")
        tests[name](R, model, work, data)
    print("dist:", "FAILED" if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
