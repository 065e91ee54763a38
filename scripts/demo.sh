#!/usr/bin/env bash
# demo.sh — the built-in demo (README's first command), end to end in a few
# minutes on 2 CPU cores:
#   1. `lorac train --config configs/demo.yaml`: LoRA-tune SmolLM2-135M-Instruct
#      (Q4_1 GGUF) on the Lumen lamp support Q&A (data/demo/, 144 pairs) into
#      runs/demo/ (an earlier demo run there is replaced);
#   2. `lorac eval`: base vs tuned on the 8 held-out questions of
#      data/demo/test.jsonl (phrasings training never saw): answer-token loss,
#      token F1 and ROUGE-L of the greedy answers, into runs/demo/eval/;
#   3. prints every held-out question with the start of the base answer, the
#      tuned answer and the reference (or "the same" when the tuned answer is
#      it word for word), the scores, and where report.html is.
# usage: scripts/demo.sh [extra `lorac train` flags, e.g. --epochs 2]
set -euo pipefail
cd "$(dirname "$0")/.."
LORAC=./build/lorac
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
OUT=runs/demo
if [ ! -x "$LORAC" ] || [ ! -f "$MODEL" ]; then
  echo "demo.sh: $LORAC or $MODEL is missing: run scripts/setup.sh first" >&2
  exit 1
fi
t0=$(date +%s)

echo "== 1/3 train: LoRA on data/demo/train.jsonl (configs/demo.yaml) =="
"$LORAC" train --config configs/demo.yaml --out_dir "$OUT" --overwrite "$@"
t1=$(date +%s)

echo
echo "== 2/3 eval: base vs tuned on the held-out questions (data/demo/test.jsonl) =="
"$LORAC" eval --model "$MODEL" --adapter "$OUT/adapter.h5" --data data/demo/test.jsonl \
  --metrics loss,f1,rougeL --max-new-tokens 64 --out "$OUT/eval" --quiet
t2=$(date +%s)

echo
echo "== 3/3 held-out questions: base answer, tuned answer, reference =="
python3 - "$OUT/eval/generations.jsonl" data/demo/test.jsonl <<'EOF'  # the standard library only
import json, sys, textwrap
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
test = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]  # the question without the chat template
BASE_CHARS = 200  # the base model rambles up to the 64-token limit: show its start
def flat(text):
    return " ".join(text.split())
def show(label, text):
    print(textwrap.fill(text or "(empty)", width=100, initial_indent=f"  {label:<10} ",
                        subsequent_indent=" " * 13))
n_same = 0
for r in rows:
    base = flat(r["answers"]["base"])
    tuned = flat(next(v for k, v in r["answers"].items() if k != "base"))
    same = tuned == flat(r["reference"])
    n_same += same
    print(f"\nQ: {test[r['line'] - 1]['prompt']}")
    show("base", base if len(base) <= BASE_CHARS else base[:BASE_CHARS].rsplit(" ", 1)[0] + " ...")
    show("tuned", tuned)
    show("reference", "(the same, word for word)" if same else flat(r["reference"]))
ev = json.load(open(sys.argv[1].replace("generations.jsonl", "eval.json"), encoding="utf-8"))
b, t = ev["candidates"][0], ev["candidates"][1]
print(f"\nheld-out, all {ev['n_examples']} questions (base -> tuned): token F1 {b['f1']:.1f} -> {t['f1']:.1f}, "
      f"ROUGE-L {b['rougeL']:.1f} -> {t['rougeL']:.1f}, answer loss {b['loss']:.3f} -> {t['loss']:.3f}")
print(f"{n_same} of {len(rows)} tuned answers are the reference word for word")
EOF
echo
echo "demo: train $((t1 - t0)) s, eval $((t2 - t1)) s, total $(($(date +%s) - t0)) s"
echo "report: $OUT/report.html (curves, base vs tuned, every answer); eval only: $OUT/eval/report.html"
