# Bad datasets on 2 ranks: each gives one clear line naming the file (and line and
# column where there is one) and a non-zero exit of the whole job within seconds.
. tests/lib.sh
cd "$TMP"
check() {
  local want=$1; shift
  set +e
  MPI_TIMEOUT=20 mpi 2 -- "$DPTRAIN" train "$@" > out.txt 2> err.txt
  local rc=$?
  set -e
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat err.txt; fail "expected a failure (status $rc): $*"; }
  expect_contains err.txt "$want"
  test "$(grep -c '^dptrain: rank' err.txt)" -eq 1 || { cat err.txt; fail "expected one line: $*"; }
}
csv() { printf '[data]\ntrain = %s\n%s\n[model]\nlayers = dense 2\n[loss]\nkind = cross_entropy\n' "$1" "${2:-}" > "$1.ini"; }
printf 'a,b,label\n1,2,0\n3,x7,1\n' > nan.csv;            csv nan.csv
check "nan.csv:3: column 2: 'x7' is not a number" nan.csv.ini
printf '1,2,0\n3,4,1\n5,1\n' > ragged.csv;                csv ragged.csv
check "ragged.csv:3" ragged.csv.ini
printf '1,2,0\nnan,4,1\n' > nonfinite.csv;               csv nonfinite.csv
check "nonfinite.csv" nonfinite.csv.ini
printf '1,2,0\n3,4,-1\n' > negative.csv;                 csv negative.csv
check "negative.csv:2" negative.csv.ini
printf '1,2,0\n3,4,5\n' > range.csv;                     csv range.csv 'classes = 3'
check "range.csv:2" range.csv.ini
: > empty.csv;                                           csv empty.csv
check "empty.csv" empty.csv.ini
# IDX: wrong magic; images and labels that disagree in count; a truncated file.
printf '\x01\x02\x08\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02abcd' > magic-idx3-ubyte
printf '\x00\x00\x08\x01\x00\x00\x00\x01\x00' > one-idx1-ubyte
idx() { printf '[data]\ntrain = %s\ntrain_targets = %s\n[model]\nlayers = dense 2\n' "$1" "$2" > "$1.ini"; }
idx magic-idx3-ubyte one-idx1-ubyte;   check "magic-idx3-ubyte" magic-idx3-ubyte.ini
printf '\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x02abcd' > two-idx3-ubyte
idx two-idx3-ubyte one-idx1-ubyte;     check "two-idx3-ubyte has 2 samples but one-idx1-ubyte has 1 targets" two-idx3-ubyte.ini
printf '\x00\x00\x08\x03\x00\x00\x00\x05\x00\x00\x00\x02\x00\x00\x00\x02abcd' > short-idx3-ubyte
idx short-idx3-ubyte one-idx1-ubyte;   check "short-idx3-ubyte" short-idx3-ubyte.ini
# NPY: a header that is not numpy's.
printf '\x93NUMPY\x01\x00\x10\x00{garbage}      \n' > bad.npy
printf '[data]\ntrain = bad.npy\ntrain_targets = bad.npy\n[model]\nlayers = dense 2\n' > npy.ini
check "bad.npy" npy.ini
