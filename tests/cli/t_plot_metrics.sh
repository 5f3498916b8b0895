# scripts/plot-metrics: two real runs' metrics.jsonl make one PNG (with the
# accuracy panel only when a run measured accuracy); a missing file, an empty
# file and a line that is not JSON each fail with one line naming the file.
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
echo "PASS plot-metrics"
