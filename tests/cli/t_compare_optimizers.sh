# scripts/compare-optimizers.sh in quick mode (the 10000-image file, 3 epochs):
# the CSV holds every epoch of all six optimizers, Adam's loss goes down, the
# PNG is written and the winner is the optimizer with the lowest final loss.
. tests/lib.sh
[ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] \
  || fail "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"
cd "$TMP"
QUICK=1 DPTRAIN=$DPTRAIN "$ROOT/scripts/compare-optimizers.sh" out > out.txt 2> err.txt \
  || { cat out.txt err.txt; fail "compare-optimizers.sh failed"; }
csv=out/optimizers.csv
[ -f "$csv" ] || fail "$csv not written"
test "$(head -1 "$csv")" = "optimizer,epoch,train_loss" || fail "bad CSV header: $(head -1 "$csv")"
for opt in gd sgd sgd+momentum adagrad rmsprop adam; do
  # Epochs 1, 2, 3 in order, each with a finite positive loss.
  got=$(awk -F, -v o="$opt" '$1 == o && $3 + 0 > 0 && $3 !~ /nan|inf/ { printf "%s ", $2 }' "$csv")
  test "$got" = "1 2 3 " || { cat "$csv"; fail "$opt: expected epochs 1 2 3 with positive losses, got '$got'"; }
done
test "$(wc -l < "$csv")" -eq 19 || { cat "$csv"; fail "expected 1 + 6 x 3 lines in $csv"; }
awk -F, '$1 == "adam" { if (first == "") first = $3; last = $3 }
  END { exit !(last + 0 < first + 0) }' "$csv" || { cat "$csv"; fail "adam's loss did not decrease"; }
# Each run left its metrics where the script says.
[ -s out/runs/adam/metrics.jsonl ] || fail "out/runs/adam/metrics.jsonl missing"
png=out/optimizers.png
[ -f "$png" ] || fail "$png not written"
[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$png is not a PNG"
[ "$(stat -c %s "$png")" -ge 10000 ] || fail "$png is only $(stat -c %s "$png") bytes"
# The winner named is the lowest final loss in the CSV.
best=$(awk -F, 'NR > 1 { last[$1] = $3 } END { for (k in last) if (b == "" || last[k] + 0 < last[b] + 0) b = k; print b }' "$csv")
expect_contains out.txt "winner: $best ("
# A bad argument is refused with a clear line.
if QUICK=1 DATA="$TMP/none" DPTRAIN=$DPTRAIN "$ROOT/scripts/compare-optimizers.sh" out2 > /dev/null 2> err2.txt; then
  fail "a missing dataset directory should fail"
fi
expect_contains err2.txt "$TMP/none/t10k-images-idx3-ubyte.gz: not found"
echo "PASS compare-optimizers"
