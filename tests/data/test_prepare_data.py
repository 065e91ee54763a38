#!/usr/bin/env python3
"""test_prepare_data.py — scripts/prepare_data.py on the real sets: row counts,
deterministic splits, no train/valid/test overlap, mojibake repaired (and
correct text untouched), --label-only completions. Exits non-zero on failure.

usage: test_prepare_data.py REPO_ROOT
"""
import json
import os
import subprocess
import sys
import tempfile

repo = sys.argv[1]
script = os.path.join(repo, "scripts", "prepare_data.py")
sys.path.insert(0, os.path.join(repo, "scripts"))
from prepare_data import fix_mojibake  # noqa: E402

fails = 0


def check(cond, what):
    global fails
    if not cond:
        fails += 1
        print("FAIL:", what)


def run(*args):
    subprocess.run([sys.executable, script, *args], check=True, stdout=subprocess.DEVNULL)


def rows(d, name):
    with open(os.path.join(d, name + ".jsonl"), encoding="utf-8") as f:
        return [json.loads(l) for l in f]


for bad, good in [("personâ€™s", "person’s"), ("â€œhiâ€\x9d", "“hi”"), ("Ã©tÃ©", "été"), ("â‚¬5", "€5")]:
    check(fix_mojibake(bad) == good, "fix_mojibake(%r) = %r, expected %r" % (bad, fix_mojibake(bad), good))
for ok in ["café", "naïve résumé", "person’s", "“quoted”", "plain", "µg/mL ± 2°C"]:
    check(fix_mojibake(ok) == ok, "fix_mojibake changed correct text %r" % ok)

expected = {"pubmedqa": (800, 100, 100), "gsm8k": (6726, 747, 1319), "mental-health": (78, 10, 10),
            "squad": (80, 10, 10)}
with tempfile.TemporaryDirectory() as tmp:
    for ds, counts in expected.items():
        out = os.path.join(tmp, ds)
        run(ds, out)
        got = tuple(len(rows(out, n)) for n in ("train", "valid", "test"))
        print("%-14s train/valid/test = %s" % (ds, got))
        check(got == counts, "%s: counts %s, expected %s" % (ds, got, counts))
        parts = [rows(out, n) for n in ("train", "valid", "test")]
        keys = [set(json.dumps(r, sort_keys=True) for r in p) for p in parts]
        if ds != "gsm8k":  # GSM8K's test file is its own
            check(not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2]),
                  "%s: splits overlap" % ds)
        check(all(set(r) == {"prompt", "completion"} for p in parts for r in p), "%s: row keys" % ds)
        # deterministic: a second run writes the same bytes
        out2 = os.path.join(tmp, ds + "-again")
        run(ds, out2)
        for n in ("train", "valid", "test"):
            with open(os.path.join(out, n + ".jsonl"), "rb") as a, open(os.path.join(out2, n + ".jsonl"), "rb") as b:
                check(a.read() == b.read(), "%s/%s.jsonl differs between runs" % (ds, n))
    mh = "".join(open(os.path.join(tmp, "mental-health", n + ".jsonl"), encoding="utf-8").read()
                 for n in ("train", "valid", "test"))
    check("â€" not in mh and "’" in mh, "mental-health: mojibake left or apostrophes lost")
    run("pubmedqa", os.path.join(tmp, "pl"), "--label-only", "--chat")
    labels = {r["messages"][-1]["content"] for r in rows(os.path.join(tmp, "pl"), "train")}
    check(labels <= {"yes", "no", "maybe"}, "label-only completions: %s" % sorted(labels)[:5])

print("data_prepare_script: %d failed" % fails)
sys.exit(1 if fails else 0)
