#!/usr/bin/env bash
# bench_dist.sh — data-parallel step time on this host (docs/scale-out.md):
# SmolLM2-135M r=8 all-linear (2.44 M LoRA floats), global batch G = 8 rows
# (batch_size 4 x grad_accum 2), the demo data; N=1 with T threads vs N=2
# ranks with T/2 threads each (the same cores), plus the gradient allreduce
# alone (bench_allreduce). Prints per-step medians (steps 2.. of each run)
# and the wall time of the (sharded) validation passes.
# usage: bench/bench_dist.sh [--steps 6] [--threads 2]
set -euo pipefail
cd "$(dirname "$0")/.."
steps=6 threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [--steps N] [--threads T]" >&2; exit 2 ;;
  esac
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
mpi="mpirun"; mpirun --version 2>/dev/null | grep -q "Open MPI" && mpi="mpirun --oversubscribe --bind-to none"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u '+%F %H:%M') UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
common=(train --config configs/demo.yaml --batch_size 4 --grad_accum 2 --max_steps "$steps" --epochs 1
        --test_data "" --eval_every 0 --save_every 0 --log_every 1000 --quiet)
median_step() { # median seconds per step of a run directory, steps 2..
  awk -F, 'NR>2 && $3!="" {d=$8-p; print d} NR>1 && $3!="" {p=$8}' "$1/metrics.csv" | sort -g |
    awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
# N=1 under the launcher too (-np 1: MPI started, nothing to sum) for its evaluation line
ev1=$(OMP_NUM_THREADS=$threads $mpi -np 1 ./build/lorac "${common[@]}" --threads "$threads" --out_dir "$work/n1" 2>&1 \
      >/dev/null | grep "MPI: evaluation" || true)
t1=$(median_step "$work/n1")
half=$((threads / 2 > 0 ? threads / 2 : 1))
log=$($mpi -np 2 ./build/lorac "${common[@]}" --threads "$half" --out_dir "$work/n2" 2>&1 >/dev/null || true)
t2=$(median_step "$work/n2")
ar=$(grep "MPI: .*allreduce" <<< "$log" || true)
echo "N=1 x $threads threads: $t1 s/step | N=2 x $half threads: $t2 s/step | ${ar#lorac: }"
# validation (sharded over the ranks, src/train/evaluate.c): the step-0 and final passes over valid.jsonl
echo "validation N=1: ${ev1#lorac: MPI: }"
echo "validation N=2: $(grep "MPI: evaluation" <<< "$log" | sed 's/lorac: MPI: //')"
# the same cores either way: efficiency = (1 rank x T threads) / (2 ranks x T/2 threads)
awk -v a="$t1" -v b="$t2" 'BEGIN {printf "parallel efficiency of N=2 (same %s cores): %.0f%%\n", '"$threads"', 100 * a / b}'
echo "allreduce alone (2 ranks, this host, shared memory):"
LORAC_DIST_QUIET=1 $mpi -np 2 ./build/bench/bench_allreduce --reps 40
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
