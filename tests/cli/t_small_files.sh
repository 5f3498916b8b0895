# Small files that used to ask for gigabytes (issue #12, section 6): each is refused or read
# within a 4 GB address space (under ASan, where ulimit -v cannot be used, within 2 GB single
# allocations instead), with one clear line when refused. The inputs are the fuzz corpus's.
. tests/lib.sh
F=$ROOT/tests/fuzz
cd "$TMP"
if [[ "$BUILD" == *asan* ]]; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:-}:max_allocation_size_mb=2048:allocator_may_return_null=0"
  limit() { "$@"; }
else
  limit() { (ulimit -v 4000000 && "$@"); }
fi
# A checkpoint whose metadata says 10^8 inputs and "dense 25" but whose tensors are a 1 x 1 model.
for cmd in info eval; do
  set +e
  limit "$DPTRAIN" $cmd "$F/checkpoint/crash-metadata-10gb.safetensors" > out.txt 2> err.txt
  rc=$?
  set -e
  [ "$rc" -eq 1 ] || { cat err.txt; fail "$cmd: expected status 1, got $rc"; }
  expect_contains err.txt "does not match the model: layers.0.weight is [1, 1] but the model has [25, 100000000]"
done
# A 158-byte .csv.gz of 40 001 columns then 40 000 blank lines is one sample.
tail -c +2 "$F/csv/crash-blank-lines-6gb.csv.gz" > wide.csv.gz
limit "$DPTRAIN" train --set data.synthetic=none --set data.train=wide.csv.gz --set data.task=regress \
  --set training.steps=1 --set run.name=wide > out.txt 2>&1 || { cat out.txt; fail "wide.csv.gz: training failed"; }
# A 29-byte IDX .gz whose gzip trailer claims 4 GiB: zlib finds the lie, after reading one byte.
cp "$F/idx/crash-gzip-trailer-4gib.gz" one-idx1-ubyte.gz
set +e
limit "$DPTRAIN" train --set data.synthetic=none --set data.train=one-idx1-ubyte.gz \
  --set data.train_targets=one-idx1-ubyte.gz --set data.task=regress --set run.name=gz > out.txt 2> err.txt
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat err.txt; fail "gzip with a lying trailer: expected status 1, got $rc"; }
expect_contains err.txt "one-idx1-ubyte.gz: truncated or corrupt gzip data"
# A 15-byte libsvm line naming feature 2^31.
tail -c +2 "$F/libsvm/crash-index-2g" > wide.svm
set +e
limit "$DPTRAIN" train --set data.synthetic=none --set data.train=wide.svm --set run.name=svm > out.txt 2> err.txt
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat err.txt; fail "wide.svm: expected status 1, got $rc"; }
expect_contains err.txt "wide.svm:1: index in '2147483648:1' is too large"
