# Every rank reads the data files itself: a file of the same shape but other contents on one
# rank (a stale copy on one node) stops the job before training, naming the file and the rank,
# instead of training the ranks on different data. Each rank resolves the relative paths in its
# own working directory, as on nodes that do not share a file system.
. tests/lib.sh
cd "$TMP"
mkdir a b
make_regression a/data.csv 40
make_regression a/test.csv 10
cp a/test.csv b/test.csv
# The same rows but one value changed: the same counts, other contents.
sed '7s/^0/1/' a/data.csv > b/data.csv
! cmp -s a/data.csv b/data.csv || fail "the copy did not change"
cat > exp.ini <<'INI'
[data]
train = data.csv
test = test.csv
task = regress
[model]
layers = dense 1
[training]
epochs = 2
INI
cp exp.ini a/ && cp exp.ini b/
# run: launches rank 0 in a/ and rank 1 in b/.
run() {
  MPI_TIMEOUT=30 mpi 1 -wdir "$TMP/a" -- "$DPTRAIN" train exp.ini --set run.dir="$TMP/runs" : \
    -np 1 -wdir "$TMP/b" "$DPTRAIN" train exp.ini --set run.dir="$TMP/runs"
}
set +e
run > out.txt 2> err.txt
rc=$?
set -e
cat err.txt
[ "$rc" -ne 0 ] || fail "mpirun exited 0: the ranks trained on different data"
[ "$rc" -ne 124 ] || fail "the job hung until the timeout"
expect_contains err.txt "dptrain: rank 0: data.train = 'data.csv': rank 1 loaded other contents than rank 0"
[ ! -e runs/default/summary.json ] || fail "the run trained"
# The same for the test set: the training files agree, the test files do not.
cp a/data.csv b/data.csv
sed '3s/^0/1/' a/test.csv > b/test.csv
set +e
run > out2.txt 2> err2.txt
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat err2.txt; fail "test set differs: expected a failure, got $rc"; }
expect_contains err2.txt "data.test = 'test.csv': rank 1 loaded other contents than rank 0"
# Identical files train as before.
cp a/test.csv b/test.csv
run > out3.txt 2> err3.txt || { cat err3.txt; fail "identical files: the run failed"; }
