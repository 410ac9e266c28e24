#!/usr/bin/env bash
# The paper's comparison on Fashion-MNIST at a small budget: the DySTreSS cosine profile (the paper's small-image
# tau 0.07-0.2) against constant temperatures 0.2 and 0.5 and the shifted profile (ORDER can add cosine-0.1-0.3);
# same model, recipe, epochs and seeds; several seeds. The recipe is the main job's (`dystress demo`). Each
# run is pretrained, then evaluated with weighted kNN and the linear probe (cached features); the table goes to
# docs/RESULTS.md (between the markers) with the command and the time it took.
#   make reproduce                         (defaults below)
#   EPOCHS=10 WIDTH=32 SEEDS="0 1 2" ORDER="cosine const-0.2" scripts/reproduce.sh
#   EPOCHS=10 SEEDS="0 1" ORDER="adaptive const-0.2" MARK=reproduce-10 scripts/reproduce.sh
#   PRECISION=bf16 EPOCHS=12 ORDER="adaptive const-0.1" scripts/reproduce.sh   (bf16 where the CPU has it)
# MARK names the block of docs/RESULTS.md the table replaces (<!-- MARK:begin --> .. <!-- MARK:end -->; default
# reproduce); without such a block the table is only printed.
set -eu
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-2}
WIDTH=${WIDTH:-16}
SEEDS=${SEEDS:-"0 1 2"}
BATCH=${BATCH:-128}
LR=${LR:-0.25}
PRECISION=${PRECISION:-fp32}
OUT=${OUT:-runs/reproduce}
MARK=${MARK:-reproduce}
COMMON="--width $WIDTH --epochs $EPOCHS --batch-size $BATCH --lr $LR --momentum 0.9 --weight-decay 1e-4
        --aug scale=0.2,1 --knn-every -1 --precision $PRECISION"
declare -A PROFILE=(
  [cosine]="--profile cosine --tau-min 0.07 --tau-max 0.2"
  [cosine-0.1-0.3]="--profile cosine --tau-min 0.1 --tau-max 0.3"
  [const-0.2]="--profile const --tau 0.2"
  [const-0.5]="--profile const --tau 0.5"
  [shifted]="--profile shifted --tau-min 0.07 --tau-max 0.2 --shift-offset -0.4 --shift-scale 0.7"
  [const-0.1]="--profile const --tau 0.1"
  # the winner of the Fashion-MNIST tune (docs/RESULTS.md, "Choosing the profile with dystress tune")
  [adaptive]="--profile cosine --tau-min 0.255 --tau-max 0.547 --tau-adapt band"
)
ORDER=${ORDER:-"cosine const-0.2 const-0.5 shifted"}
start=$(date +%s)
rows=""
for name in $ORDER; do
  k_all=""; l_all=""
  for seed in $SEEDS; do
    dir="$OUT/$name-seed$seed"
    rm -rf "$dir"
    echo "== $name seed $seed"
    ./dystress pretrain $COMMON ${PROFILE[$name]} --seed "$seed" --run-dir "$dir" 2>&1 | grep -v '^epoch' || true
    [ -f "$dir/checkpoint-final.safetensors" ] || { echo "run $dir failed"; exit 1; }
    ./dystress eval knn --checkpoint "$dir/checkpoint-final.safetensors" --json "$dir/knn.json" >/dev/null
    ./dystress eval linear --checkpoint "$dir/checkpoint-final.safetensors" --json "$dir/linear.json" >/dev/null
    k=$(sed -e 's/.*"top1": \([0-9.]*\).*/\1/' "$dir/knn.json")
    l=$(sed -e 's/.*"top1": \([0-9.]*\).*/\1/' "$dir/linear.json")
    echo "   kNN $k  linear $l"
    k_all="$k_all $k"; l_all="$l_all $l"
  done
  stats() { echo "$1" | awk '{n=NF; s=0; for(i=1;i<=n;i++) s+=$i; m=s/n; v=0; for(i=1;i<=n;i++) v+=($i-m)^2;
                           sd=(n>1)?sqrt(v/(n-1)):0; printf "%.2f ± %.2f", 100*m, 100*sd}'; }
  per_seed() { echo "$1" | awk '{for(i=1;i<=NF;i++) printf "%s%.2f", (i>1?", ":""), 100*$i}'; }
  rows="$rows| $name | $(stats "$k_all") | $(stats "$l_all") | $(per_seed "$k_all") | $(per_seed "$l_all") |\n"
done
secs=$(( $(date +%s) - start ))
table="Fashion-MNIST, ResNet-18 width $WIDTH (CIFAR stem), SimCLR, $PRECISION, batch $BATCH, $EPOCHS epochs, SGD lr $LR momentum
0.9, weight decay 1e-4, cosine schedule, crops of 20-100 % of the image; seeds: $SEEDS. Test top-1 in %, mean ± sample
std over seeds; kNN k 200, t 0.1; linear probe Adam 1e-3, batch 512, 100 epochs on cached features.

| profile | kNN top-1 | linear top-1 | kNN per seed | linear per seed |
|---|---|---|---|---|
$(printf "$rows")

Command: \`PRECISION=$PRECISION EPOCHS=$EPOCHS WIDTH=$WIDTH SEEDS=\"$SEEDS\" ORDER=\"$ORDER\" BATCH=$BATCH LR=$LR scripts/reproduce.sh\` — took ${secs} s on
$(nproc) cores ($(date -u +%Y-%m-%d))."
echo
echo "$table"
if [ -f docs/RESULTS.md ] && grep -q "<!-- $MARK:begin -->" docs/RESULTS.md; then
  awk -v t="$table" -v b="<!-- $MARK:begin -->" -v e="<!-- $MARK:end -->" 'BEGIN{skip=0} $0 == b {print; print t; skip=1; next}
                     $0 == e {skip=0} !skip{print}' docs/RESULTS.md > docs/RESULTS.md.tmp
  mv docs/RESULTS.md.tmp docs/RESULTS.md
  echo "(docs/RESULTS.md updated)"
fi
