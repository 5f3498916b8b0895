#!/usr/bin/env bash
# Trains one model (dense 64, relu, dense 10; cross-entropy) on Fashion-MNIST
# with six optimizers and compares their training loss per epoch:
#   GD (full batch), SGD, SGD + momentum (mini-batch 128), Adagrad, RMSprop, Adam.
# Writes OUTDIR/optimizers.csv (optimizer,epoch,train_loss), OUTDIR/optimizers.png
# and each run under OUTDIR/runs/NAME/ (metrics.jsonl, log), and names the
# optimizer with the lowest final training loss. Under a minute on 2 cores.
#   scripts/compare-optimizers.sh [OUTDIR]        (default: runs/compare-optimizers)
# Environment:
#   EPOCHS=N   epochs per optimizer (default 20)
#   QUICK=1    smoke test: the 10000-image test file as training set, 3 epochs
#   DATA=DIR   the Fashion-MNIST directory (default /usr/share/datasets/fashion-mnist)
#   DPTRAIN=…  the dptrain binary (default build/dptrain of this tree)
set -euo pipefail
me=compare-optimizers.sh

case ${1:-} in
  -h|--help) sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 0 ;;
  -?*) echo "$me: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "usage: $me [OUTDIR]" >&2; exit 2; }
die() { echo "$me: $*" >&2; exit 1; }

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${DPTRAIN:-$here/build/dptrain}
[ -x "$bin" ] || die "$bin not built (run make all)"
command -v gnuplot >/dev/null || die "gnuplot not found (apt-get install gnuplot-nox)"
py=/usr/bin/python3
[ -x "$py" ] || die "$py not found (apt-get install python3)"

outdir=${1:-runs/compare-optimizers}
data=${DATA:-/usr/share/datasets/fashion-mnist}
if [ "${QUICK:-0}" = 1 ]; then
  images=$data/t10k-images-idx3-ubyte.gz labels=$data/t10k-labels-idx1-ubyte.gz
  epochs=${EPOCHS:-3} set_name="Fashion-MNIST test set (10000 images, quick mode)"
else
  images=$data/train-images-idx3-ubyte.gz labels=$data/train-labels-idx1-ubyte.gz
  epochs=${EPOCHS:-20} set_name="Fashion-MNIST (60000 images)"
fi
for f in "$images" "$labels"; do
  [ -r "$f" ] || die "$f: not found (apt-get install dataset-fashion-mnist, or set DATA=DIR)"
done
case $epochs in ''|*[!0-9]*|0) die "EPOCHS=$epochs: expected a positive integer" ;; esac
batch=128

mkdir -p "$outdir/runs" || die "$outdir: cannot create"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
base=$(mktemp "${TMPDIR:-/tmp}/compare-optimizers.XXXXXX")
trap 'rm -f "$base" "$base".*' EXIT

# The base experiment; each optimizer overrides only [optimizer] and the batch.
cat >"$base" <<EOF
[data]
train = $images
train_targets = $labels
task = classify
[model]
layers = dense 64, relu, dense 10
[loss]
kind = cross_entropy
[training]
epochs = $epochs
batch = $batch
log_every = 1
[checkpoint]
keep_best = false
[run]
seed = 42
dir = $outdir/runs
EOF

# name|label|kind|lr|batch (0 = full batch)|momentum. Learning rates: each
# optimizer's usual value for this size of model (torch.optim's defaults for
# the adaptive ones); full-batch GD takes one step per epoch, so a larger one.
runs=(
  "gd|gd|gd|0.1|0|0"
  "sgd|sgd|sgd|0.05|$batch|0"
  "sgd-momentum|sgd+momentum|sgd|0.01|$batch|0.9"
  "adagrad|adagrad|adagrad|0.05|$batch|0"
  "rmsprop|rmsprop|rmsprop|0.001|$batch|0"
  "adam|adam|adam|0.001|$batch|0"
)

csv=$outdir/optimizers.csv
echo "optimizer,epoch,train_loss" >"$csv.tmp"
echo "$set_name, $epochs epochs each, mini-batch $batch"
printf '%-14s %-7s %-6s %-11s %s\n' optimizer lr batch final_loss seconds
for r in "${runs[@]}"; do
  IFS='|' read -r name label kind lr b mom <<<"$r"
  log=$outdir/runs/$name.log
  start=$(date +%s.%N)
  if ! "$bin" train "$base" --set run.name="$name" --set optimizer.kind="$kind" \
       --set optimizer.lr="$lr" --set training.batch="$b" --set optimizer.momentum="$mom" \
       >"$log" 2>&1; then
    tail -5 "$log" >&2
    die "$label: training failed (log: $log)"
  fi
  secs=$("$py" -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$start" "$(date +%s.%N)")
  # metrics.jsonl -> "label,epoch,train_loss" rows, one per epoch.
  "$py" - "$outdir/runs/$name/metrics.jsonl" "$label" >>"$csv.tmp" <<'PY' || die "$label: bad metrics"
import json, sys
path, label = sys.argv[1], sys.argv[2]
rows = 0
with open(path) as f:
    for n, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            o = json.loads(line)
            ep, loss = o["epoch"], o["train_loss"]
        except (ValueError, KeyError, TypeError) as e:
            sys.exit("%s:%d: %s" % (path, n, e))
        if loss is not None:
            print("%s,%d,%.6g" % (label, ep, loss))
            rows += 1
if rows == 0:
    sys.exit("%s: no train_loss values" % path)
PY
  final=$(tail -1 "$csv.tmp" | cut -d, -f3)
  printf '%-14s %-7s %-6s %-11s %s\n' "$label" "$lr" "$([ "$b" = 0 ] && echo full || echo "$b")" "$final" "$secs"
done
mv "$csv.tmp" "$csv"

# One gnuplot data block per optimizer (index i), in the order of runs above.
awk -F, 'NR > 1 { if ($1 != prev && NR > 2) printf "\n\n"; prev = $1; print $2, $3 }' "$csv" >"$base.dat"
titles=()
for r in "${runs[@]}"; do
  IFS='|' read -r name label kind lr b mom <<<"$r"
  if [ "$b" = 0 ]; then titles+=("$label, full batch, lr $lr"); else titles+=("$label, lr $lr"); fi
done
png=$outdir/optimizers.png
q() { printf "'%s'" "${1//\'/\'\'}"; }
{
  if gnuplot -e 'set terminal pngcairo' >/dev/null 2>&1; then
    echo "set terminal pngcairo size 900,600 noenhanced font 'sans,11'"
  else
    echo "set terminal png size 900,600 noenhanced"
  fi
  echo "set output $(q "$png")"
  echo "set title $(q "Training loss by optimizer: $set_name, dense 64-relu-dense 10, batch $batch")"
  echo "set xlabel 'epoch'"
  echo "set ylabel 'training loss (cross-entropy, mean over the epoch; log scale)'"
  echo "set logscale y"
  # A tight log axis with ticks at 1-2-3-5 steps: the curves of the mini-batch
  # optimizers lie close together and the default decade range flattens them.
  awk -F, 'NR > 1 { v = $3 + 0; if (v > 0 && (lo == "" || v < lo)) lo = v; if (v > hi) hi = v }
    END { if (lo == "") exit; lo *= 0.9; hi *= 1.1
          printf "set yrange [%g:%g]\nset ytics (", lo, hi; n = 0
          for (d = 1e-4; d <= 1e4; d *= 10) { split("1 2 3 5", m, " ")
            for (j = 1; j <= 4; j++) { t = d * m[j]; if (t >= lo && t <= hi) printf "%s%g", n++ ? ", " : "", t } }
          print ")" }' "$csv"
  echo "set grid xtics ytics"
  echo "set key top right box opaque"
  echo "set xrange [0.7:$epochs.3]"
  if [ "$epochs" -le 12 ]; then echo "set xtics 1"; fi
  colors=("#7f3fbf" "#2ca02c" "#17becf" "#ff7f0e" "#d62728" "#1f4fb4")
  printf 'plot'
  for i in "${!titles[@]}"; do
    [ "$i" -eq 0 ] || printf ','
    printf " \\\\\n  %s index %d using 1:2 with linespoints lw 2 dt %d pt %d ps 0.8 lc rgb '%s' title %s" \
      "$(q "$base.dat")" "$i" $((i % 2 + 1)) $((i + 4)) "${colors[$i]}" "$(q "${titles[$i]}")"
  done
  echo
} >"$base.gp"
gnuplot "$base.gp" 2>"$base.err" || die "gnuplot failed: $(tail -1 "$base.err")"

winner=$(awk -F, 'NR > 1 { last[$1] = $3; ep[$1] = $2 }
  END { for (k in last) if (best == "" || last[k] + 0 < last[best] + 0) best = k;
        printf "%s (training loss %s after epoch %s)", best, last[best], ep[best] }' "$csv")
echo "wrote $csv and $png"
echo "winner: $winner"
