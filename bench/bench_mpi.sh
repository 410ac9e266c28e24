#!/usr/bin/env bash
# Data parallelism on one machine: 2 processes x 1 thread (mpirun) against 1 process x 2 threads, the same run
# (Fashion-MNIST, ResNet-18, global batch, steps). Prints images/s (median over the timed steps) and, for the
# 2-process run, the share of a step spent in communication (the comm calls are timed: metrics.jsonl's comm_s).
# Run it on a quiet machine: both configurations use both cores.
# Usage: bench/bench_mpi.sh [width (16)] [global batch (128)] [steps (25)] [warm-up steps left out (5)]
set -eu
width=${1:-16}; batch=${2:-128}; steps=${3:-25}; skip=${4:-5}
cli=${DY_CLI:-./dystress}
"$cli" --version | grep -q 'MPI: yes' || { echo "bench_mpi: $cli was built without MPI"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common="pretrain --data fashion-mnist --width $width --batch-size $batch --max-steps $steps --knn-every -1
        --loader-threads 1 --seed 1 --checkpoint-every 1000000"
# the figures of steps skip+1 .. steps: images/s median, mean step seconds, comm share (plain awk: mawk has no sort)
summary() {
  awk -v skip="$skip" -v views=$((2 * batch)) '
    /"images_per_s"/ {
      match($0, /"step": [0-9]+/); s = substr($0, RSTART + 8, RLENGTH - 8) + 0
      if (s <= skip) next
      match($0, /"images_per_s": [0-9.e+-]+/); ips = substr($0, RSTART + 16, RLENGTH - 16) + 0
      c = 0; if (match($0, /"comm_s": [0-9.e+-]+/)) c = substr($0, RSTART + 10, RLENGTH - 10) + 0
      print ips, views / ips, c
    }' "$1/metrics.jsonl" | sort -n | awk '
    { v[n++] = $1; step += $2; comm += $3 }
    END {
      med = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
      printf "%.1f images/s (median of %d steps), step %.3f s, communication %.1f %% of the step (%.3f s/step)\n",
             med, n, step / n, 100 * comm / step, comm / n
    }'
}
echo "== 1 process x 2 threads (width $width, global batch $batch, steps $((skip + 1))-$steps)"
$cli $common --threads 2 --run-dir "$work/one" > "$work/one.log" 2>&1 || { tail -n 20 "$work/one.log"; exit 1; }
summary "$work/one"
echo "== 2 processes x 1 thread (mpirun -np 2, each half of the global batch)"
mpirun --oversubscribe --allow-run-as-root --bind-to core -np 2 $cli $common --threads 1 --run-dir "$work/two" \
  > "$work/two.log" 2>&1 || { tail -n 20 "$work/two.log"; exit 1; }
summary "$work/two"
echo "== 2 processes x 1 thread, --sync-bn"
mpirun --oversubscribe --allow-run-as-root --bind-to core -np 2 $cli $common --threads 1 --sync-bn \
  --run-dir "$work/sync" > "$work/sync.log" 2>&1 || { tail -n 20 "$work/sync.log"; exit 1; }
summary "$work/sync"
