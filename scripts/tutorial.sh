#!/usr/bin/env bash
# tutorial.sh — every command of docs/tutorial.md in order, with its output saved
# under runs/tutorial/logs/. Needs scripts/setup.sh to have run (build/lorac and the
# SmolLM2 GGUF in models/). About 15-20 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
T=runs/tutorial
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p $T/logs
run() { # run NAME CMD...: echo, run, keep stdout+stderr in logs/NAME.txt
  local name=$1; shift
  echo "\$ $*" | tee $T/logs/$name.txt
  if [ -x /usr/bin/time ]; then { /usr/bin/time -f "[%e s wall, %M KB peak RSS]" "$@" 2>&1; } | tee -a $T/logs/$name.txt
  else { "$@" 2>&1; } | tee -a $T/logs/$name.txt; fi
}
# 1. the data
run prepare python3 scripts/prepare_data.py pubmedqa $T/data --label-only
# 2. three learning rates in one pass
run sweep ./build/lorac sweep --config configs/tutorial-pubmedqa.yaml --lr 3e-4,1e-3,3e-3 --one-pass --out $T/sweep
best=$(python3 -c "import json; print(json.load(open('$T/sweep/summary.json'))['best_dir'])")
echo "best trial: $best"
# 3. merge the best adapter (its best validation step) into an fp32 GGUF
run merge ./build/lorac merge --model $M --adapter $best/best.h5 --out $T/merged-f32.gguf --gguf-type f32
# 4. base vs best adapter vs merged on the held-out test set
run eval ./build/lorac eval --model $M --adapter $best/best.h5 --merged $T/merged-f32.gguf \
  --data $T/data/test.jsonl --labels yes,no,maybe --max-new-tokens 8 --out $T/eval
# 5. generate with the merged model, and with the base for comparison
q=$(python3 -c "import json; print(json.loads(open('$T/data/test.jsonl').readline())['prompt'])")
run generate_merged ./build/lorac generate --model $T/merged-f32.gguf --prompt "$q" --max-tokens 8
run generate_base ./build/lorac generate --model $M --prompt "$q" --max-tokens 24
