#!/usr/bin/env bash
# Issue 25's controls: which mechanism carries the adaptive profile's gain, a low temperature or a fall to it?
# Every run is the main job's recipe (`dystress demo`'s defaults: ResNet-18 width 16, 12 epochs, bf16 where the CPU
# has it) with one temperature setting, pretrained on all 60 000 training images (no labels are used). Each
# checkpoint is then evaluated twice: on a validation split (5 000 training images held out of the kNN bank and the
# probe's training set, --val-size 5000 --val-seed 0: the choice is made on these) and on the test split (reported),
# and with 1 % and 10 % of the training labels (--label-fraction, one --label-seed for all runs: paired).
# Runs that finished are kept (a run directory with all its JSON files is skipped), so the script can be stopped and
# started again, across sessions; `scripts/tau_controls.sh table` prints the table of what has finished.
#   scripts/tau_controls.sh                      every control, seeds 0 1 2, in the order below
#   ORDER="adaptive const-0.03" SEEDS="0" scripts/tau_controls.sh
# The "followed" schedule is the path the adaptive run of seed 0 took (tools/tau_schedule_from_metrics.py), the same
# fixed table for every seed; it needs runs/tau-controls/adaptive-seed0 first.
set -eu
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/tau-controls}
SEEDS=${SEEDS:-"0 1 2"}
ORDER=${ORDER:-"adaptive const-0.03 followed anneal-cos cosine-replay cosine-anneal const-0.2"}
PRECISION=${PRECISION:-bf16}
FOLLOWED_LEVEL="$OUT/followed-level.csv"
FOLLOWED_BOUNDS="$OUT/followed-bounds.csv"
declare -A PROFILE=(
  [adaptive]="--profile cosine --tau-min 0.255 --tau-max 0.547 --tau-adapt band"
  [const-0.2]="--tau-adapt none --profile const --tau 0.2"
  [const-0.03]="--tau-adapt none --profile const --tau 0.03"
  [followed]="--tau-adapt none --profile const --tau-schedule file --tau-schedule-file $FOLLOWED_LEVEL"
  [anneal-cos]="--tau-adapt none --profile const --tau 0.2 --tau-schedule cosine --tau-end 0.02"
  [cosine-replay]="--tau-adapt none --profile cosine --tau-schedule file --tau-schedule-file $FOLLOWED_BOUNDS"
  [cosine-anneal]="--tau-adapt none --profile cosine --tau-min 0.255 --tau-max 0.547 --tau-schedule cosine --tau-end-ratio 0.04"
)
# the main job's recipe (src/cli/cmd_demo.c, demo_defaults), but the profile
RECIPE="--width 16 --epochs 12 --batch-size 128 --lr 0.25 --momentum 0.9 --weight-decay 1e-4 --warmup-epochs 0
        --knn-every -1 --aug scale=0.2,1"
EVALS="knn-test linear-test knn-val linear-val knn-1pc linear-1pc knn-10pc linear-10pc"

eval_args() {
  case $1 in
    knn-test) echo "knn" ;;
    linear-test) echo "linear" ;;
    knn-val) echo "knn --val-size 5000 --val-seed 0" ;;
    linear-val) echo "linear --val-size 5000 --val-seed 0" ;;
    knn-1pc) echo "knn --label-fraction 0.01 --label-seed 0" ;;
    linear-1pc) echo "linear --label-fraction 0.01 --label-seed 0" ;;
    knn-10pc) echo "knn --label-fraction 0.1 --label-seed 0" ;;
    linear-10pc) echo "linear --label-fraction 0.1 --label-seed 0" ;;
  esac
}

top1() { sed -n -e 's/.*"top1": *\([0-9.eE+-]*\).*/\1/p' "$1" | head -n 1; }

table() {
  echo "| profile | seeds | kNN val | linear val | kNN test | linear test | kNN 1 % | linear 1 % | kNN 10 % | linear 10 % |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for name in $ORDER; do
    seeds=""; cols=""
    for s in $SEEDS; do [ -f "$OUT/$name-seed$s/linear-10pc.json" ] && seeds="$seeds $s"; done
    [ -n "$seeds" ] || continue
    for e in knn-val linear-val knn-test linear-test knn-1pc linear-1pc knn-10pc linear-10pc; do
      vals=""; for s in $seeds; do vals="$vals $(top1 "$OUT/$name-seed$s/$e.json")"; done
      cols="$cols | $(echo "$vals" | awk '{n=NF; s=0; for(i=1;i<=n;i++) s+=$i; m=s/n; v=0;
        for(i=1;i<=n;i++) v+=($i-m)^2; if (n>1) printf "%.2f ± %.2f", 100*m, 100*sqrt(v/(n-1)); else printf "%.2f", 100*m}')"
    done
    echo "| $name |$seeds$cols |"
  done
  echo
  echo "Per seed (kNN test / linear test; kNN val / linear val):"
  for name in $ORDER; do for s in $SEEDS; do d="$OUT/$name-seed$s"; [ -f "$d/linear-10pc.json" ] || continue
    printf '  %-14s seed %s: %s / %s; %s / %s\n' "$name" "$s" "$(top1 "$d/knn-test.json")" "$(top1 "$d/linear-test.json")" \
      "$(top1 "$d/knn-val.json")" "$(top1 "$d/linear-val.json")"; done; done
}

if [ "${1:-}" = table ]; then table; exit 0; fi

mkdir -p "$OUT"
for seed in $SEEDS; do
  for name in $ORDER; do
    dir="$OUT/$name-seed$seed"
    [ -f "$dir/linear-10pc.json" ] && continue
    case $name in followed|cosine-replay)
      src="$OUT/adaptive-seed0/metrics.jsonl"
      [ -f "$src" ] || { echo "$name needs $src (run ORDER=adaptive SEEDS=0 first)"; exit 1; }
      [ -f "$FOLLOWED_LEVEL" ] || /usr/bin/python3 tools/tau_schedule_from_metrics.py "$src" --level geomean -o "$FOLLOWED_LEVEL"
      [ -f "$FOLLOWED_BOUNDS" ] || /usr/bin/python3 tools/tau_schedule_from_metrics.py "$src" -o "$FOLLOWED_BOUNDS" ;;
    esac
    if [ ! -f "$dir/checkpoint-final.safetensors" ]; then
      rm -rf "$dir"
      echo "== $name seed $seed ($(date -u +%H:%M:%S))"
      start=$(date +%s)
      ./dystress pretrain $RECIPE --precision "$PRECISION" ${PROFILE[$name]} --seed "$seed" --run-dir "$dir" \
        > "$OUT/$name-seed$seed.log" 2>&1 || { echo "run $dir failed: see $OUT/$name-seed$seed.log"; exit 1; }
      echo "   pretrained in $(( $(date +%s) - start )) s"
    fi
    for e in $EVALS; do
      [ -f "$dir/$e.json" ] && continue
      ./dystress eval $(eval_args "$e") --checkpoint "$dir/checkpoint-final.safetensors" --json "$dir/$e.json" \
        > "$dir/$e.log" 2>&1 || { echo "eval $e of $dir failed: see $dir/$e.log"; exit 1; }
    done
    echo "   $name seed $seed: kNN test $(top1 "$dir/knn-test.json"), linear test $(top1 "$dir/linear-test.json"), kNN val $(top1 "$dir/knn-val.json"), linear val $(top1 "$dir/linear-val.json")"
  done
done
table
