#!/usr/bin/env bash
# run_bench.sh — the training benchmarks of docs/benchmarks.md: lorac and the
# same LoRA job in PyTorch + PEFT, in one invocation, with the ratio; then the
# real variable-length jobs (bench/bench_real_jobs.py: the demo data and
# PubMedQA with abstracts, real SmolLM2, lorac padding-free and padded vs
# PyTorch padding to the longest row, real tokens/s).
# usage: bench/run_bench.sh [--threads 2] [--steps 3] [--real-steps 3] [--no-real]
#        (needs torch + peft for the peer; without them only lorac's line is
#        printed and the real jobs are skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 steps=3 real=1 real_steps=3
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --real-steps) real_steps=$2; shift 2 ;;
    --no-real) real=0; shift ;;
    *) echo "usage: $0 [--threads N] [--steps N] [--real-steps N] [--no-real]" >&2; exit 2 ;;
  esac
done
py=python3
[ -x .venv/bin/python3 ] && .venv/bin/python3 -c 'import torch, peft' 2>/dev/null && py=.venv/bin/python3
cmake --build build --target bench_train bench_tokenizer lorac >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
lc=$(OMP_NUM_THREADS=$threads ./build/bench/bench_train --threads "$threads" --steps "$steps" --warmup 1)
echo "$lc"
if $py -c 'import torch, peft' 2>/dev/null; then
  pt=$(OMP_NUM_THREADS=$threads $py bench/pytorch_lora_bench.py --threads "$threads" --steps "$steps" --warmup 1 | tail -1)
  echo "$pt"
  $py - "$lc" "$pt" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("ratio lorac/pytorch: tokens/s %.2fx, peak RSS %.2fx" % (a["tokens_per_s"] / b["tokens_per_s"],
      a["peak_rss_mb"] / b["peak_rss_mb"]))
PY
else
  echo "pytorch peer skipped: torch/peft not importable"
fi
./build/bench/bench_tokenizer 2>/dev/null | tail -1 || true
if [ "$real" = 1 ]; then
  echo "load before the real jobs: $(cat /proc/loadavg)"
  if $py -c 'import torch, peft, gguf' 2>/dev/null; then
    # demo: short rows, 8 per micro-batch; PubMedQA with abstracts: long rows, 4 per micro-batch
    $py bench/bench_real_jobs.py --jobs demo --threads "$threads" --steps "$real_steps" --batch 8
    $py bench/bench_real_jobs.py --jobs pubmedqa --threads "$threads" --steps "$real_steps" --batch 4
  else
    echo "real jobs skipped: torch/peft/gguf not importable"
  fi
fi
