# The default experiment alone (no mpirun) and on 2 ranks: the learned line
# equals the least-squares solution of its 100 points, and both runs print
# the same numbers.
. tests/lib.sh
cd "$TMP"
"$DPTRAIN" > one.txt
expect_contains one.txt "learned weight"
expect_contains one.txt "predict x = 5"
test "$(grep -c '^epoch' one.txt)" -eq 10 || fail "expected the loss every 100 epochs (10 lines)"
"$ROOT/$BUILD/tests/mpi_linreg_ols" "$(last_ckpt runs/linreg)" 42 100 1e-3
mkdir two && cd two
mpi 2 -- "$DPTRAIN" > two.txt
# Same printed numbers: the progress lines apart from throughput, the fit and the predictions.
strip() { sed -e 's/  [0-9.]* samples\/s//' -e '/^dptrain /d' -e '/run directory/d' "$1"; }
diff <(strip ../one.txt) <(strip two.txt) || fail "1 and 2 ranks printed different numbers"
