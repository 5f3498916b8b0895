# A rank that fails alone (its input file is missing: each rank resolves the
# relative data path in its own working directory) ends the whole job
# within seconds with a non-zero status, and stderr names that rank.
. tests/lib.sh
cd "$TMP"
mkdir a b
printf 'x,y\n' > a/data.csv
for i in $(seq 1 20); do printf '%d,%d\n' "$i" "$((2 * i))" >> a/data.csv; done
cat > exp.ini <<'INI'
[data]
train = data.csv
task = regress
[model]
layers = dense 1
[training]
epochs = 2
INI
cp exp.ini a/ && cp exp.ini b/
start=$(date +%s)
set +e
MPI_TIMEOUT=30 mpi 1 -wdir "$TMP/a" -- "$DPTRAIN" train exp.ini --set run.dir="$TMP/runs" : \
  -np 1 -wdir "$TMP/b" "$DPTRAIN" train exp.ini --set run.dir="$TMP/runs" > out.txt 2> err.txt
rc=$?
set -e
elapsed=$(( $(date +%s) - start ))
cat err.txt
[ "$rc" -ne 0 ] || fail "mpirun exited 0"
[ "$rc" -ne 124 ] || fail "the job hung until the timeout"
[ "$elapsed" -le 20 ] || fail "took $elapsed s"
expect_contains err.txt "dptrain: rank 1: "
expect_contains err.txt "data.csv"
