#!/usr/bin/env python3
"""test_safety.py — issue 16, "nothing a user owns may be lost": every
reproduction of the issue as a case, on stories260K and a 16-row config.

Usage: test_safety.py LORAC TEST_DEPLOY MODEL_DIR WORKDIR [CASE ...]

Each case prints one line per check and what it saw; the script exits 1 when
any check fails and prints "N cases, M checks" at the end. The cases, by the
issue's numbers:
  1  export/import/merge/eval never overwrite an input (device + inode: hard
     links and symlinks too) nor a foreign file without --force
  2  train into another run's out_dir refused (names it, suggests --resume);
     --overwrite deletes it first
  3  a second train on a locked out_dir fails at once with the first's pid
  4  full disk (RLIMIT_FSIZE, SIGXFSZ ignored: write(2) fails with EFBIG, as
     ENOSPC would) during every writer: train checkpoints (then --resume),
     merge, export peft/gguf, import, eval, sweep: exit 1 with the reason, no
     crash, no partial file, the previous file intact
  5  symlinks planted as config.yaml / metrics.jsonl are never followed
  6  NaN / inf / absurd LoRA alpha, scaling and PATH:SCALE refused everywhere
     with file and key; a merge whose result overflows writes nothing
  7  SIGINT / SIGTERM during tokenising or validation (train) and the loss
     (eval): exit 130 / 143 within 2.5 s, nothing written
  8  eval --max-new-tokens and generate --max-tokens clamped to the context
  9  adapters are read by name: an extra huge (sparse) dataset is ignored,
     a wrong shape is refused before reading, 40 byte-flipped files never crash
  10 unknown --chat-template (flag or stored in the adapter): a message
  11 csv skip_bad_rows skips a bad last record and an unterminated last quote
  12 --resume skips a truncated / garbage / directory newest checkpoint
  13 the unclear errors: data a directory, epochs/max_steps limits, r = 2^40,
     num_hidden_layers 2^31-1, max_position_embeddings 1, --prompts-file a
     directory, a second YAML document, duplicate csv columns, NUL in csv,
     export --out a/b without a/
Tolerances: none; every check is an exit status, a message substring, or
byte equality of files (sha256).
"""
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

LORAC, TD, MODEL, WORK = sys.argv[1:5]
ONLY = set(sys.argv[5:])
ENV = dict(os.environ, OMP_NUM_THREADS="2", OMP_WAIT_POLICY="passive")
checks = failures = 0

ROWS = [("What color is the sky?", " The sky is blue."), ("What does the cat say?", " The cat says meow."),
        ("Where does the fish live?", " The fish lives in the water."),
        ("What does Lily like?", " Lily likes to play in the park."), ("Who is Tom?", " Tom is a little boy."),
        ("What is in the box?", " A red ball is in the box."), ("What did Ben eat?", " Ben ate a big apple."),
        ("Where is the sun?", " The sun is up in the sky.")] * 2  # 16 rows


def check(cond, msg):
    global checks, failures
    checks += 1
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        failures += 1


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def fsize_limit(n):
    def pre():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write(2) instead of a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, n))
    return pre


def run(*args, fsize=None, timeout=300):
    p = subprocess.run([LORAC, *args], capture_output=True, text=True, timeout=timeout, env=ENV,
                       preexec_fn=fsize_limit(fsize) if fsize else None)
    last = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
    print(f"     $ lorac {' '.join(args[:2])} ... -> exit {p.returncode}: {last[:300]}")
    return p


def w(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def data16(path):
    return w(path, "".join(json.dumps({"prompt": p, "completion": c}) + "\n" for p, c in ROWS))


def config(path, out_dir, data, extra=""):
    """The issue's 16-row config (max_steps 3, save_every 1); `extra` lines override keys."""
    kv = {"model": MODEL, "data": data, "split": "0.25", "target_modules": "all-linear", "r": "4", "alpha": "8",
          "lr": "1e-3", "batch_size": "2", "max_seq_len": "64", "max_steps": "3", "save_every": "1",
          "keep_last": "0", "eval_every": "1", "out_dir": out_dir}
    for line in extra.splitlines():
        k, v = line.split(":", 1)
        kv[k.strip()] = v.strip()
    return w(path, "".join(f"{k}: {v}\n" for k, v in kv.items()))


def tmp_files(d):
    return [f for r, _, fs in os.walk(d) for f in fs if ".tmp" in f] + \
           [x for x in os.listdir(d) if ".tmp." in x]


def fresh(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def big_data(path, rows):
    """rows long prompt/completion pairs: seconds of tokenising and validation."""
    if os.path.exists(path):
        return path
    story = " ".join(p + c for p, c in ROWS)
    with open(path, "w") as f:
        for i in range(rows):
            f.write(json.dumps({"prompt": f"Story {i}: {story}", "completion": " " + story}) + "\n")
    return path


def adapter(path, seed=5):
    subprocess.run([TD, "make-adapter", MODEL, path, str(seed), "4", "8", "all-linear", "0"], check=True,
                   capture_output=True, env=ENV)
    return path


# ---------------------------------------------------------------- 1
def case_1():
    d = fresh("c1")
    a = adapter(f"{d}/a.h5")
    m = f"{d}/model"
    shutil.copytree(MODEL, m)
    before = {p: sha(p) for p in (a, f"{m}/model.safetensors")}
    p = run("export", "--adapter", a, "--model", m, "--format", "gguf", "--out", a)
    check(p.returncode == 1 and "input" in p.stderr and sha(a) == before[a], "1 export --out the adapter: refused, adapter intact")
    p = run("export", "--adapter", a, "--model", m, "--format", "gguf", "--out", f"{m}/model.safetensors")
    check(p.returncode == 1 and "base model" in p.stderr and sha(f"{m}/model.safetensors") == before[f"{m}/model.safetensors"],
          "1 export --out a file of the model directory: refused, model intact")
    os.link(a, f"{d}/hard.gguf")
    p = run("export", "--adapter", a, "--model", m, "--format", "gguf", "--out", f"{d}/hard.gguf")
    check(p.returncode == 1 and sha(a) == before[a], "1 export --out a hard link of the adapter: refused (same inode)")
    os.symlink(a, f"{d}/sym.gguf")
    p = run("export", "--adapter", a, "--model", m, "--format", "gguf", "--out", f"{d}/sym.gguf")
    check(p.returncode == 1 and sha(a) == before[a], "1 export --out a symlink to the adapter: refused")
    run("export", "--adapter", a, "--model", m, "--format", "peft", "--out", f"{d}/peft")
    st = f"{d}/peft/adapter_model.safetensors"
    s0 = sha(st)
    p = run("import", "--peft", f"{d}/peft", "--model", m, "--out", st)
    check(p.returncode == 1 and "PEFT" in p.stderr and sha(st) == s0, "1 import --out a file of the PEFT input: refused")
    p = run("import", "--peft", f"{d}/peft", "--model", m, "--out", f"{m}/model.safetensors")
    check(p.returncode == 1 and sha(f"{m}/model.safetensors") == before[f"{m}/model.safetensors"],
          "1 import --out the model's weights: refused")
    notes = w(f"{d}/notes.txt", "my notes\n")
    p = run("import", "--peft", f"{d}/peft", "--model", m, "--out", notes)
    check(p.returncode == 1 and "--force" in p.stderr and open(notes).read() == "my notes\n",
          "1 import --out a foreign file: refused without --force")
    p = run("import", "--peft", f"{d}/peft", "--model", m, "--out", notes, "--force")
    check(p.returncode == 0 and open(notes, "rb").read(4) == b"\x89HDF", "1 import --out a foreign file --force: replaced")
    p = run("import", "--peft", f"{d}/peft", "--model", m, "--out", f"{d}/b.h5")
    p = run("import", "--peft", f"{d}/peft", "--model", m, "--out", f"{d}/b.h5")
    check(p.returncode == 0, "1 import over its own earlier output (an adapter): allowed")
    subprocess.run([TD, "make-gguf", MODEL, f"{d}/base.gguf"], check=True, capture_output=True, env=ENV)
    g0 = sha(f"{d}/base.gguf")
    p = run("export", "--adapter", a, "--model", m, "--format", "gguf", "--out", f"{d}/base.gguf")
    check(p.returncode == 1 and "not a LoRA adapter" in p.stderr and sha(f"{d}/base.gguf") == g0,
          "1 export --out an existing GGUF model (not an input): refused without --force")
    p = run("export", "--adapter", a, "--model", m, "--format", "gguf", "--out", f"{d}/lora.gguf")
    p = run("export", "--adapter", a, "--model", m, "--format", "gguf", "--out", f"{d}/lora.gguf")
    check(p.returncode == 0, "1 export over its own earlier LoRA GGUF: allowed")
    subprocess.run([TD, "make-adapter", f"{d}/base.gguf", f"{d}/ag.h5", "5", "4", "8", "all-linear", "0"],
                   check=True, capture_output=True, env=ENV)
    os.link(f"{d}/base.gguf", f"{d}/hard_base.gguf")
    p = run("merge", "--model", f"{d}/base.gguf", "--adapter", f"{d}/ag.h5", "--out", f"{d}/hard_base.gguf")
    check(p.returncode == 1 and "base model" in p.stderr and sha(f"{d}/base.gguf") == g0,
          "1 merge --out a hard link of the GGUF base: refused (same inode, other name)")
    p = run("merge", "--model", f"{d}/base.gguf", "--adapter", f"{d}/ag.h5", "--out", notes)
    p = run("merge", "--model", f"{d}/base.gguf", "--adapter", f"{d}/ag.h5", "--out", f"{d}/notes.gguf")
    w(f"{d}/notes.gguf", "not a gguf\n")
    p = run("merge", "--model", f"{d}/base.gguf", "--adapter", f"{d}/ag.h5", "--out", f"{d}/notes.gguf")
    check(p.returncode == 1 and "--force" in p.stderr and open(f"{d}/notes.gguf").read() == "not a gguf\n",
          "1 merge --out an existing non-GGUF file: refused without --force")
    data = data16(f"{d}/ev/generations.jsonl")
    d0 = sha(data)
    p = run("eval", "--model", m, "--data", data, "--out", f"{d}/ev", "--metrics", "loss", "--quiet")
    check(p.returncode == 1 and "test data" in p.stderr and sha(data) == d0,
          "1 eval --out the directory whose generations.jsonl is the test data: refused")


# ---------------------------------------------------------------- 2, 3
def case_2():
    d = fresh("c2")
    data = data16(f"{d}/data.jsonl")
    cfg = config(f"{d}/run.yaml", f"{d}/run", data)
    check(run("train", "--config", cfg, "--quiet").returncode == 0, "2 first run")
    s3 = sha(f"{d}/run/checkpoint-3.h5")
    p = run("train", "--config", cfg, "--quiet", "--max_steps", "2")
    check(p.returncode == 1 and "--resume" in p.stderr and "checkpoint-3" in p.stderr and "another run" in p.stderr,
          "2 second run into the same out_dir: refused, names the run and suggests --resume")
    check(sha(f"{d}/run/checkpoint-3.h5") == s3, "2 the first run's files are untouched")
    w(f"{d}/run/mine.txt", "x")
    p = run("train", "--config", cfg, "--quiet", "--overwrite", "--max_steps", "2")
    check(p.returncode == 0 and not os.path.exists(f"{d}/run/checkpoint-3.h5") and
          os.path.exists(f"{d}/run/checkpoint-2.h5"), "2 --overwrite: the old run is deleted, the new one trains")
    check(open(f"{d}/run/mine.txt").read() == "x", "2 --overwrite never deletes a file lorac did not write")
    os.makedirs(f"{d}/run2")
    inside = data16(f"{d}/run2/metrics.jsonl")
    s0 = sha(inside)
    p = run("train", "--config", config(f"{d}/run2.yaml", f"{d}/run2", inside), "--quiet")
    check(p.returncode == 1 and "training data" in p.stderr and sha(inside) == s0,
          "2 data stored as out_dir/metrics.jsonl: refused, the data intact")


def case_3():
    d = fresh("c3")
    data = big_data(os.path.join(WORK, "big.jsonl"), 40000)
    cfg = config(f"{d}/run.yaml", f"{d}/run", data, "max_seq_len: 256\n")
    a = subprocess.Popen([LORAC, "train", "--config", cfg, "--quiet"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=ENV)
    t0 = time.time()
    while not os.path.exists(f"{d}/run/.lorac.lock") and time.time() - t0 < 30:
        time.sleep(0.05)
    time.sleep(0.3)
    t1 = time.time()
    p = run("train", "--config", cfg, "--quiet", timeout=60)
    dt = time.time() - t1
    still = a.poll() is None
    check(still, "3 the first run was still running when the second started")
    check(p.returncode == 1 and f"pid {a.pid}" in p.stderr and dt < 5,
          f"3 second train on the same out_dir fails at once ({dt:.1f} s) naming pid {a.pid}")
    a.send_signal(signal.SIGINT)
    a.wait(timeout=60)


# ---------------------------------------------------------------- 4
def case_4():
    d = fresh("c4")
    data = data16(f"{d}/data.jsonl")
    cfg = config(f"{d}/run.yaml", f"{d}/run", data)
    check(run("train", "--config", cfg, "--quiet").returncode == 0, "4 run of 3 steps")
    ck = f"{d}/run/checkpoint-3.h5"
    s3, lim = sha(ck), os.path.getsize(ck) // 2
    for attempt in range(2):  # the same failure twice: --resume after a failed save must not crash either
        p = run("train", "--resume", f"{d}/run", "--max_steps", "5", "--quiet", fsize=lim)
        check(p.returncode == 1 and "File too large" in p.stderr,
              f"4 train checkpoint on a full disk (try {attempt + 1}): exit 1 with the reason (not a crash)")
        check(not tmp_files(f"{d}/run") and not os.path.exists(f"{d}/run/checkpoint-4.h5") and sha(ck) == s3,
              "4 no temp or partial checkpoint; the previous checkpoint is byte-identical")
    p = run("train", "--resume", f"{d}/run", "--max_steps", "5", "--quiet")
    check(p.returncode == 0 and os.path.exists(f"{d}/run/checkpoint-5.h5"), "4 --resume with room again: finishes")
    a = f"{d}/run/adapter.h5"
    p = run("merge", "--model", MODEL, "--adapter", a, "--out", f"{d}/merged", fsize=4096)
    check(p.returncode == 1 and "too large" in p.stderr and not os.path.exists(f"{d}/merged") and
          not [x for x in os.listdir(d) if x.startswith("merged")], "4 merge (HF dir) on a full disk: nothing left")
    for fmt, out in (("peft", f"{d}/peft"), ("gguf", f"{d}/x.gguf")):
        p = run("export", "--adapter", a, "--model", MODEL, "--format", fmt, "--out", out, fsize=2048)
        check(p.returncode == 1 and "too large" in p.stderr and not os.path.exists(out) and not tmp_files(d),
              f"4 export {fmt} on a full disk: exit 1, nothing left")
    run("export", "--adapter", a, "--model", MODEL, "--format", "peft", "--out", f"{d}/peft")
    old = adapter(f"{d}/old.h5", seed=9)
    s_old = sha(old)
    p = run("import", "--peft", f"{d}/peft", "--model", MODEL, "--out", old, fsize=2048)
    check(p.returncode == 1 and "too large" in p.stderr and sha(old) == s_old and not tmp_files(d),
          "4 import over an older adapter on a full disk: the old one intact")
    run("eval", "--model", MODEL, "--data", data, "--adapter", a, "--out", f"{d}/ev", "--max-new-tokens", "8",
        "--quiet")
    e0 = sha(f"{d}/ev/eval.json")
    p = run("eval", "--model", MODEL, "--data", data, "--adapter", a, "--out", f"{d}/ev", "--max-new-tokens", "8",
            "--quiet", fsize=100)
    check(p.returncode == 1 and "too large" in p.stderr and sha(f"{d}/ev/eval.json") == e0 and not tmp_files(f"{d}/ev"),
          "4 eval on a full disk: exit 1, the previous eval.json intact")
    scfg = config(f"{d}/sweep.yaml", f"{d}/unused", data, "")
    p = run("sweep", "--config", scfg, "--out", f"{d}/sw", "--lr", "1e-3,2e-3", "--quiet", fsize=lim)
    check(p.returncode == 1 and "too large" in p.stderr and not tmp_files(f"{d}/sw"),
          "4 sweep on a full disk: exit 1 with the reason, no temp files")
    p = run("sweep", "--config", scfg, "--out", f"{d}/sw", "--lr", "1e-3,2e-3", "--quiet")
    check(p.returncode == 0 and os.path.exists(f"{d}/sw/summary.json"), "4 the same sweep with room: completes")


# ---------------------------------------------------------------- 5
def case_5():
    d = fresh("c5")
    data = data16(f"{d}/data.jsonl")
    v1, v2 = w(f"{d}/victim1.txt", "precious 1\n"), w(f"{d}/victim2.txt", "precious 2\n")
    os.makedirs(f"{d}/run")
    os.symlink(v1, f"{d}/run/config.yaml")
    os.symlink(v2, f"{d}/run/metrics.jsonl")
    p = run("train", "--config", config(f"{d}/run.yaml", f"{d}/run", data), "--quiet")
    check(open(v1).read() == "precious 1\n" and open(v2).read() == "precious 2\n",
          "5 symlinked config.yaml / metrics.jsonl: the files they point to are untouched")
    check(p.returncode == 0 or "symlink" in p.stderr, "5 the run either succeeds or names the symlink")
    check(not os.path.islink(f"{d}/run/config.yaml"), "5 config.yaml was replaced by a regular file")


# ---------------------------------------------------------------- 6
def set_attrs(path, **kv):
    with h5py.File(path, "r+") as f:
        for k, v in kv.items():
            f["adapter"].attrs[k] = v


def case_6():
    d = fresh("c6")
    data = data16(f"{d}/data.jsonl")
    for key, val in (("lora_alpha", float("nan")), ("scaling", float("nan")), ("lora_alpha", float("inf"))):
        a = adapter(f"{d}/bad_{key}.h5")
        set_attrs(a, **{key: val})
        p = run("merge", "--model", MODEL, "--adapter", a, "--out", f"{d}/m_{key}")
        check(p.returncode == 1 and key in p.stderr and a in p.stderr and not os.path.exists(f"{d}/m_{key}"),
              f"6 merge with {key} = {val}: refused naming file and key, nothing written")
        p = run("eval", "--model", MODEL, "--data", data, "--adapter", a, "--metrics", "loss", "--quiet")
        check(p.returncode == 1 and key in p.stderr, f"6 eval with {key} = {val}: refused")
    a = adapter(f"{d}/a.h5")
    for s in ("nan", "inf", "1e30", "-1e30"):
        p = run("generate", "--model", MODEL, "--adapter", f"{a}:{s}", "--prompt", "Hi", "--max-tokens", "4")
        check(p.returncode != 0 and "scale" in p.stderr, f"6 generate --adapter a.h5:{s}: refused")
        p = run("merge", "--model", MODEL, "--adapter", f"{a}:{s}", "--out", f"{d}/ms")
        check(p.returncode == 1 and "scale" in p.stderr and not os.path.exists(f"{d}/ms"), f"6 merge a.h5:{s}: refused")
        p = run("eval", "--model", MODEL, "--data", data, "--adapter", f"{a}:{s}", "--metrics", "loss", "--quiet")
        check(p.returncode == 1 and "scale" in p.stderr, f"6 eval a.h5:{s}: refused")
    run("export", "--adapter", a, "--model", MODEL, "--format", "peft", "--out", f"{d}/peft")
    cfgp = f"{d}/peft/adapter_config.json"
    c = json.load(open(cfgp))
    c["lora_alpha"] = 1e308
    json.dump(c, open(cfgp, "w"))
    p = run("import", "--peft", f"{d}/peft", "--model", MODEL, "--out", f"{d}/imp.h5")
    check(p.returncode == 1 and "lora_alpha" in p.stderr and "adapter_config.json" in p.stderr and
          not os.path.exists(f"{d}/imp.h5"), "6 import lora_alpha 1e308: refused naming the file and key")
    big = adapter(f"{d}/big.h5")
    with h5py.File(big, "r+") as f:  # finite but the merged weight overflows to inf
        for k in f["adapter"]:
            if "lora_B" in k:
                f["adapter"][k][...] = np.full(f["adapter"][k].shape, 3e38, np.float32)
            if "lora_A" in k:
                f["adapter"][k][...] = np.full(f["adapter"][k].shape, 3e38, np.float32)
    p = run("merge", "--model", MODEL, "--adapter", big, "--out", f"{d}/mbig")
    check(p.returncode == 1 and "non-finite" in p.stderr and not os.path.exists(f"{d}/mbig"),
          "6 merge whose result overflows: refused, nothing written")


# ---------------------------------------------------------------- 7
def interrupt(args, sig, after=None, marker=None):
    """Start lorac, signal it `after` seconds in or as soon as a stderr line
    holds `marker` (the phase that follows is then the one interrupted)."""
    p = subprocess.Popen([LORAC, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    seen = ""
    if marker:
        for line in p.stderr:
            seen += line
            if marker in line:
                break
    else:
        time.sleep(after)
    running = p.poll() is None
    t0 = time.time()
    p.send_signal(sig)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    dt = time.time() - t0
    err = seen + p.stderr.read()
    print(f"     {signal.Signals(sig).name} at {after or marker!r} -> exit {p.returncode} in {dt:.2f} s: "
          f"{err.strip().splitlines()[-1][:200] if err.strip() else ''}")
    return running, p.returncode, dt, err


def case_7():
    d = fresh("c7")
    data = big_data(os.path.join(WORK, "big.jsonl"), 40000)
    # the header line is printed after loading + tokenising, right before the validation pass
    phases = (("loading", 0.5, None), ("validation", None, "trainable"))
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        for phase, after, marker in phases:
            out = f"{d}/run_{code}_{phase}"
            cfg = config(f"{d}/r.yaml", out, data, "max_seq_len: 1024\nsplit: 0.5\nbatch_size: 8")
            running, rc, dt, err = interrupt(["train", "--config", cfg], sig, after, marker)
            check(running, f"7 train was still busy {phase} when signalled (else the case proves nothing)")
            said = err.replace("computing the loss", "validation").replace("reading", "loading").replace(
                "tokenising", "loading")
            check(rc == code and dt < 3.0 and phase in said,
                  f"7 train {signal.Signals(sig).name} during {phase}: exit {code} in < 3 s ({dt:.2f} s)")
            left = [f for f in os.listdir(out) if f.endswith(".h5") or ".tmp" in f]
            check(not left, f"7 nothing half-written in the run dir ({left})")
    running, rc, dt, err = interrupt(["eval", "--model", MODEL, "--data", data, "--metrics", "loss", "--out",
                                      f"{d}/ev"], signal.SIGINT, marker="loss and")
    check(running and rc == 130 and dt < 2.5 and "loss" in err and not os.path.exists(f"{d}/ev/eval.json"),
          f"7 eval SIGINT during the loss: exit 130 in < 2.5 s ({dt:.2f} s), no eval.json")


# ---------------------------------------------------------------- 8
def case_8():
    d = fresh("c8")
    data = data16(f"{d}/data.jsonl")
    t0 = time.time()
    p = run("eval", "--model", MODEL, "--data", data, "--max-new-tokens", "1000000", "--limit", "2", "--metrics", "em",
            "--out", f"{d}/ev", "--quiet", timeout=600)
    check(p.returncode == 0 and "does not fit" in p.stderr and time.time() - t0 < 120,
          f"8 eval --max-new-tokens 1000000 on a 512-context model: clamped with a warning ({time.time() - t0:.1f} s)")
    gens = [json.loads(x) for x in open(f"{d}/ev/generations.jsonl")]
    check(len(gens) == 2, "8 answers written")
    p = run("generate", "--model", MODEL, "--prompt", "Once upon a time", "--max-tokens", "3000")
    check(p.returncode == 0 and "does not fit" in p.stderr, "8 generate --max-tokens 3000: clamped with a warning")


# ---------------------------------------------------------------- 9
def case_9():
    d = fresh("c9")
    a = adapter(f"{d}/a.h5")
    junk = f"{d}/junk.h5"
    shutil.copy(a, junk)
    with h5py.File(junk, "r+") as f:  # 4 TiB declared, nothing stored: only a reader that loads it fails
        f.create_dataset("notes/huge", shape=(2 ** 40,), dtype="f4", chunks=(4096,))
    p = run("info", MODEL, "--adapter", junk)
    check(p.returncode == 0, "9 an adapter with an extra (huge, sparse) dataset: loads (only the format's names are read)")
    bad = f"{d}/shape.h5"
    shutil.copy(a, bad)
    with h5py.File(bad, "r+") as f:
        k = [k for k in f["adapter"] if "lora_A" in k][0]
        x = f["adapter"][k][...]
        del f["adapter"][k]
        f["adapter"].create_dataset(k, data=np.zeros((x.shape[0], x.shape[1] + 1), np.float32))
    p = run("generate", "--model", MODEL, "--adapter", bad, "--prompt", "Hi", "--max-tokens", "2")
    check(p.returncode == 1 and "shape" in p.stderr and k in p.stderr, "9 a wrong lora_A shape: refused, named")
    rng = np.random.default_rng(16)
    raw = open(a, "rb").read()
    crashes = 0
    for i in range(40):
        b = bytearray(raw)
        for _ in range(8):
            b[int(rng.integers(0, len(b)))] ^= 1 << int(rng.integers(0, 8))
        mp = f"{d}/flip{i}.h5"
        open(mp, "wb").write(bytes(b))
        q = subprocess.run([LORAC, "info", MODEL, "--adapter", mp], capture_output=True, text=True, env=ENV,
                           timeout=60)
        crashes += q.returncode not in (0, 1)
    check(crashes == 0, f"9 40 byte-flipped adapters: {crashes} crashes (exit not 0/1)")


# ---------------------------------------------------------------- 10, 11
def case_10():
    d = fresh("c10")
    p = run("generate", "--model", MODEL, "--chat-template", "nosuch", "--prompt", "Hi")
    check(p.returncode == 1 and "nosuch" in p.stderr, "10 generate --chat-template nosuch: a message naming it")
    a = adapter(f"{d}/a.h5")
    with h5py.File(a, "r+") as f:
        f["tokenizer"].attrs["chat_template"] = "nosuch"
    p = run("generate", "--model", MODEL, "--adapter", a, "--prompt", "Hi")
    check(p.returncode == 1 and "nosuch" in p.stderr and a in p.stderr,
          "10 an adapter storing an unknown template: a message naming file and value")


def case_11():
    d = fresh("c11")
    good = "prompt,completion\n" + "".join(f'"{p}","{c}"\n' for p, c in ROWS)
    for name, tail in (("fields", "a,b,c\n"), ("quote", '"unterminated,x\n')):
        data = w(f"{d}/{name}.csv", good + tail)
        cfg = config(f"{d}/{name}.yaml", f"{d}/run_{name}", data, "skip_bad_rows: true\nmax_steps: 1\n")
        p = run("train", "--config", cfg)
        check(p.returncode == 0 and "skipped" in p.stderr.lower(), f"11 csv with a bad last record ({name}): skipped")


# ---------------------------------------------------------------- 12
def case_12():
    d = fresh("c12")
    data = data16(f"{d}/data.jsonl")
    cfg = config(f"{d}/run.yaml", f"{d}/run", data, "max_steps: 2\n")
    check(run("train", "--config", cfg, "--quiet").returncode == 0, "12 run of 2 steps")
    ck = f"{d}/run/checkpoint-3.h5"
    good2 = open(f"{d}/run/checkpoint-2.h5", "rb").read()
    for kind in ("truncated", "garbage", "directory"):
        for x in (ck, ck + ".corrupt"):
            if os.path.isdir(x):
                os.rmdir(x)
            elif os.path.exists(x):
                os.unlink(x)
        if kind == "truncated":
            open(ck, "wb").write(good2[:len(good2) // 2])
        elif kind == "garbage":
            open(ck, "wb").write(b"\x00garbage" * 100)
        else:
            os.mkdir(ck)
        for f in os.listdir(f"{d}/run"):
            if f in ("checkpoint-4.h5", "adapter.h5"):
                os.unlink(f"{d}/run/{f}")
        p = run("train", "--resume", f"{d}/run", "--max_steps", "4", "--quiet")
        check(p.returncode == 0 and "checkpoint-3.h5" in p.stderr and "corrupt" in p.stderr and
              os.path.exists(f"{d}/run/checkpoint-4.h5") and os.path.exists(ck + ".corrupt"),
              f"12 --resume with a {kind} newest checkpoint: says so, keeps it aside, resumes from the previous one")


# ---------------------------------------------------------------- 13
def case_13():
    d = fresh("c13")
    data = data16(f"{d}/data.jsonl")
    os.makedirs(f"{d}/adir")
    p = run("train", "--config", config(f"{d}/a.yaml", f"{d}/r1", f"{d}/adir"))
    check(p.returncode == 1 and "directory" in p.stderr and "allocate" not in p.stderr, "13 data: a directory")
    for key in ("epochs", "max_steps"):
        p = run("train", "--config", config(f"{d}/e.yaml", f"{d}/r2", data), f"--{key}", "99999999999")
        check(p.returncode == 2 and key in p.stderr and ("1048576" in p.stderr or "2147483647" in p.stderr),
              f"13 {key} too large: the real limit is stated")
    p = run("train", "--config", config(f"{d}/e.yaml", f"{d}/r2", data), "--epochs", "1000000000")
    check(p.returncode == 2 and "1048576" in p.stderr, "13 epochs 1000000000: the limit 2^20 is stated")
    a = adapter(f"{d}/a.h5")
    with h5py.File(a, "r+") as f:
        f["adapter"].attrs["r"] = np.int64(2 ** 40)
    p = run("info", MODEL, "--adapter", a)
    check(p.returncode == 1 and a in p.stderr and "adapter/r" in p.stderr and str(2 ** 40) in p.stderr,
          "13 adapter r = 2^40: message names file, key and value")
    for key, val, want in (("num_hidden_layers", 2 ** 31 - 1, "num_hidden_layers"),
                           ("max_position_embeddings", 1, "max_position_embeddings")):
        m = f"{d}/model_{key}"
        shutil.copytree(MODEL, m)
        c = json.load(open(f"{m}/config.json"))
        c[key] = val
        json.dump(c, open(f"{m}/config.json", "w"))
        p = run("generate", "--model", m, "--prompt", "Hi", "--max-tokens", "2")
        check(p.returncode == 1 and want in p.stderr and str(val) in p.stderr and "config.json" in p.stderr,
              f"13 config.json {key} = {val}: message names file, key and value")
    p = run("generate", "--model", MODEL, "--prompts-file", f"{d}/adir", "--max-tokens", "2")
    check(p.returncode == 1 and "directory" in p.stderr, "13 --prompts-file a directory: exit 1 with a message")
    cfg2 = w(f"{d}/two.yaml", open(config(f"{d}/t.yaml", f"{d}/r3", data)).read() + "---\nlr: 5\n")
    p = run("train", "--config", cfg2)
    check(p.returncode == 2 and "second YAML document" in p.stderr and "two.yaml" in p.stderr,
          "13 a second YAML document: refused naming the file and line")
    dup = w(f"{d}/dup.csv", "prompt,completion,prompt\n" + "".join(f'"{p}","{c}","x"\n' for p, c in ROWS))
    p = run("train", "--config", config(f"{d}/dup.yaml", f"{d}/r4", dup))
    check(p.returncode == 1 and "twice" in p.stderr and "dup.csv" in p.stderr, "13 duplicate csv columns: refused")
    nul = f"{d}/nul.csv"
    open(nul, "wb").write(("prompt,completion\n" + "".join(f'"{p}","{c}"\n' for p, c in ROWS)).encode()
                          + b'"a\x00b","c"\n')
    p = run("train", "--config", config(f"{d}/nul.yaml", f"{d}/r5", nul))
    check(p.returncode == 1 and "NUL" in p.stderr and "nul.csv:18" in p.stderr, "13 NUL in a csv field: refused with its line")
    p = run("export", "--adapter", adapter(f"{d}/b.h5"), "--model", MODEL, "--format", "peft", "--out",
            f"{d}/new/sub/peft")
    check(p.returncode == 0 and os.path.exists(f"{d}/new/sub/peft/adapter_config.json"),
          "13 export --format peft --out a/b without a/: parents created")


CASES = {str(i): globals()[f"case_{i}"] for i in range(1, 14) if f"case_{i}" in globals()}

if __name__ == "__main__":
    os.makedirs(WORK, exist_ok=True)
    ran = 0
    for name, fn in CASES.items():
        if ONLY and name not in ONLY:
            continue
        print(f"--- case {name}", flush=True)
        t0 = time.time()
        try:
            fn()
        except (subprocess.TimeoutExpired, subprocess.CalledProcessError, OSError, ValueError, KeyError) as e:
            check(False, f"{name} raised {type(e).__name__}: {e}")
        ran += 1
        print(f"    ({time.time() - t0:.1f} s)", flush=True)
    print(f"{ran} cases, {checks} checks, {failures} failed")
    sys.exit(1 if failures else 0)
