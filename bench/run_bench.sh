#!/usr/bin/env bash
# run_bench.sh — the training benchmark of docs/benchmarks.md: lorac in each
# precision (fp32, bf16, auto; see docs/architecture.md "Precision") and the
# same LoRA job in PyTorch + PEFT in its three modes (fp32, autocast bf16,
# bf16 base weights), in one invocation, with the ratios against PyTorch's
# fastest mode. Every lorac line carries the compute path (CPU model and
# features, BLAS core, the frozen-matmul path that ran).
# Then the real variable-length jobs (bench/bench_real_jobs.py: the demo data
# and PubMedQA with abstracts, real SmolLM2, lorac padding-free and padded vs
# PyTorch padding to the longest row, real tokens/s).
# usage: bench/run_bench.sh [--threads 2] [--steps 3] [--real-steps 3] [--no-real]
#        (needs torch + peft for the peer; without them only lorac's lines are
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
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg)"
./build/lorac info | sed 's/^/  /'
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for prec in fp32 bf16 auto; do
  OMP_NUM_THREADS=$threads ./build/bench/bench_train --threads "$threads" --steps "$steps" --warmup 1 \
    --precision "$prec" | tee -a "$out"
done
if $py -c 'import torch, peft' 2>/dev/null; then
  for mode in fp32 autocast bf16-weights; do
    OMP_NUM_THREADS=$threads $py bench/pytorch_lora_bench.py --threads "$threads" --steps "$steps" --warmup 1 \
      --mode "$mode" | tail -1 | tee -a "$out"
  done
  $py - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
lc = [r for r in rows if r["impl"] == "lorac"]
pt = [r for r in rows if r["impl"] == "pytorch"]
best = max(pt, key=lambda r: r["tokens_per_s"])
print("pytorch's fastest mode: %s (%.1f tokens/s, %d MiB)" % (best["mode"], best["tokens_per_s"], best["peak_rss_mb"]))
for r in lc:
    print("lorac %-5s (%s): tokens/s %.2fx, peak RSS %.2fx of pytorch %s" % (
        r["precision"], r["matmul_path"], r["tokens_per_s"] / best["tokens_per_s"],
        r["peak_rss_mb"] / best["peak_rss_mb"], best["mode"]))
PY
else
  echo "pytorch peer skipped: torch/peft not importable"
fi
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
./build/bench/bench_tokenizer 2>/dev/null | tail -1 || true
