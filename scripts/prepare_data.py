#!/usr/bin/env python3
"""prepare_data.py — convert the raw question/answer sets in ../shared/data into
lorac training files: OUT_DIR/train.jsonl, valid.jsonl, test.jsonl with one
{"prompt", "completion"} object per line (or {"messages": [...]} with --chat).

    python3 scripts/prepare_data.py pubmedqa OUT_DIR [--label-only] [--with-contexts]
    python3 scripts/prepare_data.py gsm8k OUT_DIR
    python3 scripts/prepare_data.py mental-health OUT_DIR
    python3 scripts/prepare_data.py squad OUT_DIR

Splits are deterministic (--seed). Sets that ship a test file (GSM8K) keep it
as test.jsonl; the others get a --test fraction. Standard library only.
See docs/data.md for the exact prompt layouts.
"""
import argparse
import csv
import json
import os
import random
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")

DEFAULT_INPUT = {
    "pubmedqa": os.path.join(SHARED, "pubmedqa", "ori_pqal.json"),
    "gsm8k": os.path.join(SHARED, "gsm8k"),
    "mental-health": os.path.join(SHARED, "mental-health-faq", "Mental_Health_FAQ.csv"),
    "squad": os.path.join(SHARED, "squad-sample", "squad_sample.json"),
}

# ---------------------------------------------------------------- mojibake
# Text that was UTF-8, decoded as Windows-1252 and saved again as UTF-8 shows
# runs like "â€™" for "’". Like ftfy, fix it run by run: a run of characters
# that all exist in (sloppy) cp1252, starting with a UTF-8 lead byte, is
# encoded back to bytes and decoded as UTF-8; it is replaced only if that
# decoding succeeds, so correct text (e.g. "café") is never touched.

_C1_UNDEFINED = "\x81\x8d\x8f\x90\x9d"  # bytes cp1252 leaves undefined; sloppy decoders keep them
_CP1252_HIGH = "".join(bytes([b]).decode("cp1252", errors="ignore") for b in range(0x80, 0x100))
_RUN = re.compile("[\u00c2-\u00f4][%s%s]+" % (re.escape(_CP1252_HIGH), re.escape(_C1_UNDEFINED)))


def _sloppy_cp1252_bytes(s):
    out = bytearray()
    for ch in s:
        if ch in _C1_UNDEFINED:
            out.append(ord(ch))
        else:
            out += ch.encode("cp1252")
    return bytes(out)


def fix_mojibake(text):
    def repl(m):
        run = m.group(0)
        try:
            return _sloppy_cp1252_bytes(run).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return run
    # apply until stable (doubly mis-decoded text needs two rounds)
    for _ in range(3):
        fixed = _RUN.sub(repl, text)
        if fixed == text:
            break
        text = fixed
    return text


# ---------------------------------------------------------------- readers
# Each returns (examples, test_examples or None); an example is (prompt, completion).

def read_pubmedqa(path, args):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    out = []
    for pmid in sorted(data):  # sorted: the same order on every run
        row = data[pmid]
        q, label = row["QUESTION"].strip(), row["final_decision"].strip()
        prompt = ""
        if args.with_contexts:
            prompt += "Context: " + " ".join(c.strip() for c in row["CONTEXTS"]) + "\n\n"
        prompt += "Question: " + q + "\nAnswer (yes, no or maybe):"
        completion = " " + label if args.label_only else " " + label + ". " + row["LONG_ANSWER"].strip()
        out.append((prompt, completion))
    return out, None


def _read_gsm8k_file(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "question" not in row or "answer" not in row:
                sys.exit("%s:%d: expected keys question, answer; found %s" % (path, n, ", ".join(row)))
            out.append(("Question: " + row["question"].strip() + "\nAnswer:", " " + row["answer"].strip()))
    return out


def read_gsm8k(path, args):
    if os.path.isdir(path):
        return _read_gsm8k_file(os.path.join(path, "train.jsonl")), _read_gsm8k_file(os.path.join(path, "test.jsonl"))
    return _read_gsm8k_file(path), None


def read_mental_health(path, args):
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        for col in ("prompt", "response"):
            if col not in reader.fieldnames:
                sys.exit("%s:1: expected a column '%s', found %s" % (path, col, reader.fieldnames))
        for row in reader:
            q, a = fix_mojibake(row["prompt"]).strip(), fix_mojibake(row["response"]).strip()
            if q and a:
                out.append((q + "\n", a))
    return out, None


def read_squad(path, args):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    out = []
    for row in data:
        prompt = "Context: " + row["context"].strip() + "\n\nQuestion: " + row["question"].strip() + "\nAnswer:"
        out.append((prompt, " " + row["answer"].strip()))
    return out, None


READERS = {"pubmedqa": read_pubmedqa, "gsm8k": read_gsm8k, "mental-health": read_mental_health,
           "squad": read_squad}


# ---------------------------------------------------------------- writing

def to_row(ex, args):
    prompt, completion = ex
    if not args.chat:
        return {"prompt": prompt, "completion": completion}
    msgs = [{"role": "system", "content": args.system}] if args.system else []
    msgs += [{"role": "user", "content": prompt.strip()}, {"role": "assistant", "content": completion.strip()}]
    return {"messages": msgs}


def write_jsonl(path, rows, args):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for ex in rows:
            f.write(json.dumps(to_row(ex, args), ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def split(examples, test, args):
    order = list(range(len(examples)))
    random.Random(args.seed).shuffle(order)
    n_test = 0 if test is not None else int(round(args.test * len(examples)))
    n_valid = int(round(args.valid * len(examples)))
    test_idx, valid_idx = order[:n_test], order[n_test:n_test + n_valid]
    train_idx = order[n_test + n_valid:]
    pick = lambda idx: [examples[i] for i in sorted(idx)]  # keep the file order within a split
    return pick(train_idx), pick(valid_idx), test if test is not None else pick(test_idx)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", choices=sorted(READERS))
    ap.add_argument("out_dir")
    ap.add_argument("--input", help="raw file (or GSM8K directory); default: ../shared/data/...")
    ap.add_argument("--valid", type=float, default=0.1, help="validation fraction (default 0.1)")
    ap.add_argument("--test", type=float, default=0.1, help="test fraction when the set has no test file (default 0.1)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--limit", type=int, default=0, help="keep only the first N examples (before splitting)")
    ap.add_argument("--label-only", action="store_true", help="pubmedqa: completion is just yes/no/maybe")
    ap.add_argument("--with-contexts", action="store_true", help="pubmedqa: put the abstract's contexts in the prompt")
    ap.add_argument("--chat", action="store_true", help="write {\"messages\": [...]} rows instead of prompt/completion")
    ap.add_argument("--system", default="", help="with --chat: a system message for every row")
    args = ap.parse_args(argv)
    if not (0 <= args.valid < 1 and 0 <= args.test < 1 and args.valid + args.test < 1):
        ap.error("--valid and --test must be fractions in [0, 1) with a sum < 1")

    path = args.input or DEFAULT_INPUT[args.dataset]
    examples, test = READERS[args.dataset](path, args)
    if args.limit:
        examples = examples[:args.limit]
    train, valid, test = split(examples, test, args)
    os.makedirs(args.out_dir, exist_ok=True)
    for name, rows in (("train", train), ("valid", valid), ("test", test)):
        write_jsonl(os.path.join(args.out_dir, name + ".jsonl"), rows, args)
    print("%s: %d train, %d valid, %d test rows -> %s" % (args.dataset, len(train), len(valid), len(test),
                                                         args.out_dir))


if __name__ == "__main__":
    main()
