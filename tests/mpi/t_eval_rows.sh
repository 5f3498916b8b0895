# Evaluation has a chunk size of its own: with three training samples (data.val_fraction = 0.999)
# the 2997 validation samples are still forwarded 256 at a time, on 1 and on 2 ranks.
. tests/lib.sh
cd "$TMP"
make_regression data.csv 3000
"$ROOT/$BUILD/tests/mpi_eval_rows" data.csv > one.txt || { cat one.txt; fail "one rank"; }
expect_contains one.txt "256 rows per forward pass"
mpi 2 -- "$ROOT/$BUILD/tests/mpi_eval_rows" data.csv > two.txt || { cat two.txt; fail "two ranks"; }
