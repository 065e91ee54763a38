#!/usr/bin/env bash
# att_sweep.sh — the long-context sweep of docs/benchmarks.md: for each T,
#  1. the attention kernel alone (tests/kernels/kernels_speed, SmolLM2-135M
#     heads: Hq 9, Hkv 3, hd 64), forward + backward GFLOP/s against a bare
#     sgemm timed in the same process (ratio = attention / sgemm);
#  2. bench_train (SmolLM2-135M, r=8 all-linear) at max(1024, T) tokens per
#     step (B = max(1, 1024 / T)): tokens/s and peak RSS.
# usage: bench/att_sweep.sh [--threads 2] [--kernel-threads 1] [T ...]
#        (default T: 256 512 1024 2048 4096 8192)
# One thread for the kernel probe by default: on a shared machine its
# cpu-time rates are then exact; training uses --threads.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=2 kthreads=1 Ts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --kernel-threads) kthreads=$2; shift 2 ;;
    [0-9]*) Ts+=("$1"); shift ;;
    *) echo "usage: $0 [--threads N] [--kernel-threads N] [T ...]" >&2; exit 2 ;;
  esac
done
[ ${#Ts[@]} -gt 0 ] || Ts=(256 512 1024 2048 4096 8192)
cmake --build build --target bench_train kernels_speed >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u '+%F %H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "T | B | attention fwd+bwd GFLOP/s (cpu/thr) | sgemm GFLOP/s | ratio | lorac tok/s | peak RSS MB"
for T in "${Ts[@]}"; do
  B=$(( T < 1024 ? 1024 / T : 1 ))
  k=$(./build/tests/kernels/kernels_speed "$kthreads" 128 att "$T")
  att=$(echo "$k" | awk '/forward \+ backward/ {print $(NF-1)}')
  gemm=$(echo "$k" | awk '/bare sgemm/ {print $(NF-1)}')
  ratio=$(echo "$k" | awk '/attention \/ sgemm/ {print $NF}')
  steps=2; [ "$T" -ge 2048 ] && steps=1
  tr=$(OMP_NUM_THREADS=$threads ./build/bench/bench_train --threads "$threads" --batch "$B" --seq "$T" \
       --steps "$steps" --warmup 1 | tail -1)
  tok=$(echo "$tr" | sed -n 's/.*"tokens_per_s":\([0-9.]*\).*/\1/p')
  rss=$(echo "$tr" | sed -n 's/.*"peak_rss_mb":\([0-9.]*\).*/\1/p')
  echo "$T | $B | $att | $gemm | $ratio | $tok | $rss"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
