# scripts/plot-metrics: two real runs' metrics.jsonl make one PNG (with the
# accuracy panel only when a run measured accuracy); a missing file, an empty
# file and a line that is not JSON each fail with one line naming the file. A k-fold run draws
# one line per fold; a study directory one mean curve per setting with a +-1 sd band (the
# gnuplot script and data that --keep leaves are checked, not pixels).
. tests/lib.sh
PLOT=$ROOT/scripts/plot-metrics
cd "$TMP"

# is_png FILE MIN_BYTES: FILE starts with the PNG signature and is at least that big.
is_png() {
  [ -f "$1" ] || fail "$1 not written"
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$1 is not a PNG"
  [ "$(stat -c %s "$1")" -ge "$2" ] || fail "$1 is only $(stat -c %s "$1") bytes"
}
# png_width FILE: the width from the IHDR chunk (bytes 17-20, big-endian).
png_width() { echo $((16#$(od -An -tx1 -j16 -N4 "$1" | tr -d ' \n'))); }

"$DPTRAIN" train --set run.dir="$TMP/runs" --set run.name=a --set training.epochs=50 \
  --set training.log_every=5 > a.txt
"$DPTRAIN" train --set run.dir="$TMP/runs" --set run.name=b --set training.epochs=50 \
  --set training.log_every=5 --set optimizer.lr=0.05 > b.txt
# log_every thins the console only: metrics.jsonl holds all 50 epochs.
test "$(wc -l < runs/a/metrics.jsonl)" -eq 50 || fail "expected 50 metrics lines in run a"
test "$(grep -c '^epoch ' a.txt)" -eq 10 || fail "expected 10 progress lines in run a"
cmp -s runs/a/metrics.jsonl runs/b/metrics.jsonl && fail "runs a and b should differ"

"$PLOT" -o ab.png --title "a vs b" runs/a/metrics.jsonl runs/b/metrics.jsonl > plot.txt 2> plot.err \
  || { cat plot.err; fail "plot-metrics failed on two good files"; }
is_png ab.png 10000
expect_contains plot.txt ab.png
test ! -s plot.err || { cat plot.err; fail "plot-metrics wrote to stderr on success"; }
# No accuracy in a regression run: one panel.
test "$(png_width ab.png)" -eq 900 || fail "loss-only plot should be 900 px wide, is $(png_width ab.png)"

# Default output: metrics.png beside the first file.
"$PLOT" runs/b/metrics.jsonl > /dev/null
is_png runs/b/metrics.png 5000

# A run with validation accuracy (nulls where not measured) adds the accuracy panel.
mkdir -p runs/c
for ep in 1 2 3 4; do
  acc=null; [ $((ep % 2)) -eq 0 ] && acc=0.$((6 + ep))
  printf '{"step":%d,"epoch":%d,"lr":0.1,"train_loss":%s,"penalty":0,"grad_norm":1,"val_loss":%s,"val_accuracy":%s,"samples_per_s":1,"elapsed_s":1}\n' \
    $((ep * 10)) "$ep" "1.$((9 - ep))" "$( [ "$acc" = null ] && echo null || echo 1.5)" "$acc"
done > runs/c/metrics.jsonl
"$PLOT" -o ac.png runs/a/metrics.jsonl runs/c/metrics.jsonl > /dev/null
is_png ac.png 10000
test "$(png_width ac.png)" -eq 1400 || fail "plot with accuracy should have two panels (1400 px), is $(png_width ac.png)"

# expect_error TEXT ARGS...: plot-metrics fails, its one stderr line holds TEXT, no PNG left behind.
expect_error() {
  local want=$1; shift
  rm -f err.png
  set +e
  "$PLOT" -o err.png "$@" > out.txt 2> err.txt
  local rc=$?
  set -e
  [ "$rc" -ne 0 ] || fail "expected a failure for: $*"
  expect_contains err.txt "$want"
  test "$(wc -l < err.txt)" -eq 1 || { cat err.txt; fail "expected one error line for: $*"; }
  test ! -e err.png || fail "a PNG was written despite the error for: $*"
}
expect_error "nothere/metrics.jsonl: no such file" runs/a/metrics.jsonl nothere/metrics.jsonl
: > empty.jsonl
expect_error "empty.jsonl: no metrics lines" empty.jsonl
{ head -3 runs/a/metrics.jsonl; echo '{"step":20,"epoch":'; tail -2 runs/a/metrics.jsonl; } > bad.jsonl
expect_error "bad.jsonl:4: not JSON" runs/b/metrics.jsonl bad.jsonl
echo '[1, 2]' > array.jsonl
expect_error "array.jsonl:1: not a JSON object" array.jsonl
echo '{"train_loss": 1}' > noepoch.jsonl
expect_error "noepoch.jsonl:1: no numeric \"epoch\"" noepoch.jsonl
# k-fold: each fold its own line (not one zigzag through all folds' epochs).
mkdir -p runs/kf
for fold in 0 1; do for ep in 1 2 3; do
  printf '{"step":%d,"epoch":%d,"fold":%d,"train_loss":%d.5,"val_loss":null,"val_accuracy":null}\n' $((ep * 4)) $ep $fold $((fold + 4 - ep))
done; done > runs/kf/metrics.jsonl
"$PLOT" -o kf.png --keep kfkeep runs/kf/metrics.jsonl > /dev/null
is_png kf.png 5000
printf '0\tkf fold 0\tline\t1 0 0\n1\tkf fold 1\tline\t1 0 0\n' | diff - kfkeep/manifest || fail "k-fold: not one line per fold"
printf '1 3.5\n2 2.5\n3 1.5\n' | diff - kfkeep/0.train || fail "k-fold: fold 0's data"
printf '1 4.5\n2 3.5\n3 2.5\n' | diff - kfkeep/1.train || fail "k-fold: fold 1's data"

# A study: setting 1 has two finished trials (train_loss 1 and 3 at each point: mean 2, sd sqrt 2)
# and a failed one, setting 2 one trial (no band: low = high = mean); --x step.
S=runs/st
trial() { # DIR SETTING STATUS VALUE
  mkdir -p "$S/$1"
  printf '{"trial":"%s","setting":%d,"status":"%s"}\n' "$1" "$2" "$3" > "$S/$1/trial.json"
  for ep in 1 2; do
    printf '{"step":%d,"epoch":%d,"train_loss":%s,"val_loss":null,"val_accuracy":%s}\n' $((ep * 10)) $ep "$4" "0.$((ep + 7))"
  done > "$S/$1/metrics.jsonl"
}
trial s1-seed1 1 done 1; trial s1-seed2 1 done 3; trial s1-seed3 1 failed 100; trial s2-seed1 2 done 5
printf 'trial,setting,optimizer.lr,run.seed,status\ns1-seed1,1,0.1,1,done\ns2-seed1,2,0.01,1,done\n' > "$S/trials.csv"
"$PLOT" --x step --keep stkeep "$S" > st.txt || fail "plot-metrics failed on a study directory"
is_png "$S/metrics.png" 10000
printf '0\ts1 lr=0.1 (n=2)\tband\t1 0 1\n1\ts2 lr=0.01 (n=1)\tband\t1 0 1\n' | diff - stkeep/manifest \
  || fail "study: one band per setting over its finished trials, labelled by its swept values"
$PY - stkeep <<'PYEOF' || fail "study: the band is not mean +- 1 sample sd"
import math, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1] + "/0.train")]
r = math.sqrt(2)
assert [r[0] for r in rows] == [10, 20], rows
for x, mean, lo, hi, n in rows:
    assert (mean, n) == (2, 2) and abs(lo - (2 - r)) < 1e-12 and abs(hi - (2 + r)) < 1e-12, rows
assert [list(map(float, l.split())) for l in open(sys.argv[1] + "/1.train")] == [[10, 5, 5, 5, 1], [20, 5, 5, 5, 1]]
assert [l.split()[1] for l in open(sys.argv[1] + "/0.acc")] == ["0.80000000000000004", "0.90000000000000002"]
PYEOF
expect_contains stkeep/plot.gp "set xlabel 'step'"
expect_contains stkeep/plot.gp "0.train' using 1:3:4 with filledcurves"
expect_contains stkeep/plot.gp "0.train' using 1:2 with lines"
expect_contains stkeep/plot.gp "title 's2 lr=0.01 (n=1) train'"
expect_error "--x time: expected epoch or step" --x time runs/a/metrics.jsonl
mkdir -p nostudy
expect_error "nostudy: a directory, but no study" nostudy
echo "PASS plot-metrics"
