#!/usr/bin/env bash
# Data parallelism on one machine: 2 processes x 1 thread (mpirun) against 1 process x 2 threads, the same run
# (Fashion-MNIST, ResNet-18, global batch, steps). Prints one line per configuration: images/s (median over the timed
# steps), the mean step, the share of the step spent in communication calls (metrics.jsonl's comm_s: time inside the
# all-gather, the all-reduces and the waits; with buckets, the part of the all-reduce the backward did not hide), and
# the bytes per step each process hands to MPI: gradients all-reduced (grad_bytes) and embeddings gathered
# (gather_bytes: the global batch's rows). Run it on a quiet machine: every configuration uses both cores.
# Usage: bench/bench_mpi.sh [width (16)] [global batch (128)] [steps (25)] [warm-up steps left out (5)]
#        DY_CLI=path/to/dystress to bench another build.
set -eu
width=${1:-16}; batch=${2:-128}; steps=${3:-25}; skip=${4:-5}
cli=${DY_CLI:-./dystress}
[ "$steps" -gt "$skip" ] || { echo "bench_mpi: steps ($steps) must exceed the warm-up steps left out ($skip)"; exit 2; }
"$cli" --version | grep -q 'MPI: yes' || { echo "bench_mpi: $cli was built without MPI"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
common="pretrain --data fashion-mnist --width $width --batch-size $batch --max-steps $steps --knn-every -1
        --loader-threads 1 --seed 1 --checkpoint-every 1000000 --no-report"
mpi="mpirun --oversubscribe --allow-run-as-root --bind-to core -np 2"
# One line from the figures of steps skip+1 .. steps of a run directory (plain awk: mawk has no sort).
summary() {
  local name=$1 dir=$2
  awk -v skip="$skip" -v views=$((2 * batch)) '
    function num(key,   r) { if (!match($0, "\"" key "\": [0-9.e+-]+")) return 0
                             r = substr($0, RSTART + length(key) + 4, RLENGTH - length(key) - 4); return r + 0 }
    /"images_per_s"/ {
      if (num("step") <= skip) next
      print num("images_per_s"), views / num("images_per_s"), num("comm_s"), num("grad_bytes"), num("gather_bytes")
    }' "$dir/metrics.jsonl" | sort -n | awk -v name="$name" '
    { v[n++] = $1; step += $2; comm += $3; grad += $4; gather += $5 }
    END {
      if (n == 0) { printf "%-44s no timed steps\n", name; exit 1 }
      med = n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2
      printf "%-44s %8.1f img/s (median of %d steps)  step %.3f s  communication %5.1f %% (%.4f s/step)  " \
             "gradients %.2f MB/step  gathered %.3f MB/step\n",
             name, med, n, step / n, 100 * comm / step, comm / n, grad / n / 1e6, gather / n / 1e6
    }'
}
# run NAME DIR LAUNCHER OPTIONS...: one configuration, its line; its log's tail when it fails
run() {
  local name=$1 dir=$2 launcher=$3; shift 3
  if ! $launcher $cli $common "$@" --run-dir "$work/$dir" > "$work/$dir.log" 2>&1; then
    echo "$name: failed"; tail -n 20 "$work/$dir.log"; exit 1
  fi
  summary "$name" "$work/$dir"
}
echo "bench_mpi: width $width, global batch $batch (2 views each), steps $((skip + 1))-$steps timed; $(nproc) cores"
run "1 process x 2 threads"                         one  ""   --threads 2
run "2 processes x 1 thread (buckets of 25 MiB)"    two  "$mpi" --threads 1
run "2 processes x 1 thread (buckets of 1 MiB)"     small "$mpi" --threads 1 --bucket-mb 1
run "2 processes x 1 thread, one all-reduce after"  fused "$mpi" --threads 1 --bucket-mb 0
run "2 processes x 1 thread, --sync-bn"             sync "$mpi" --threads 1 --sync-bn
