# config.ini and every checkpoint record what produced a run: the command and its launcher, the
# hosts and ranks, the CPU, the OpenBLAS core, the build and its flags, the environment variables
# that change numerics, each data file's path, size and checksum; `dptrain info` shows it; and a
# resume on data whose checksum changed is refused unless data.allow_changed = true.
. tests/lib.sh
cd "$TMP"
blobs_experiment exp.ini 300 "dense 16, relu, dense 3" 20 30 <<INI
[checkpoint]
every_steps = 10
INI
OMP_NUM_THREADS=1 mpi 2 -- "$DPTRAIN" train exp.ini --set run.name=rec > rec.log 2>&1 \
  || { cat rec.log; fail "training failed"; }
"$DPTRAIN" info "$(last_ckpt runs/rec)" > info.txt || fail "info failed"
size=$(stat -c %s blobs.csv)
core=$($PY -c 'import ctypes; l = ctypes.CDLL("libopenblas.so.0"); l.openblas_get_corename.restype = ctypes.c_char_p; print(l.openblas_get_corename().decode())')
host=$(hostname)
for where in runs/rec/config.ini info.txt; do
  expect_contains "$where" "command: $DPTRAIN train exp.ini --set run.name=rec"
  expect_contains "$where" "launched by: "
  expect_contains "$where" "hosts: $host (ranks 0-1); 2 ranks on 1 node"
  expect_contains "$where" "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores"
  expect_contains "$where" "blas core: $core"
  expect_contains "$where" "build: dptrain "
  expect_contains "$where" "cflags: -std=c11"
  expect_contains "$where" "OMP_NUM_THREADS=1"
  expect_contains "$where" "data train: $TMP/blobs.csv, $size bytes, checksum "
done
grep -q "^#   cpu: " runs/rec/config.ini || fail "config.ini's record is not commented out"
# The same checksum in both, and config.ini still runs as an experiment.
sum=$(grep -o 'data train: .*checksum [0-9a-f]*' runs/rec/config.ini | awk '{print $NF}')
grep -q "checksum $sum" info.txt || fail "config.ini and the checkpoint record other checksums"
"$DPTRAIN" train runs/rec/config.ini --set run.name=again --set training.steps=2 > again.log 2>&1 \
  || { cat again.log; fail "config.ini with its record does not load"; }
# Changed data: --resume auto refuses, naming the file, and leaves the checkpoints alone.
sed -i '2s/^[^,]*,/7.5,/' blobs.csv
before=$(ls runs/rec/checkpoints | sort)
if mpi 2 -- "$DPTRAIN" train exp.ini --set run.name=rec --set training.steps=30 --resume auto > changed.log 2>&1; then
  fail "a resume on changed data was accepted"
fi
expect_contains changed.log "was trained on other data: data.train = '$TMP/blobs.csv' now has checksum"
expect_contains changed.log "data.allow_changed"
[ "$(ls runs/rec/checkpoints | sort)" = "$before" ] || fail "the refused resume touched the checkpoints"
mpi 2 -- "$DPTRAIN" train exp.ini --set run.name=rec --set training.steps=30 --resume auto \
  --set data.allow_changed=true > allowed.log 2>&1 || { cat allowed.log; fail "data.allow_changed did not resume"; }
expect_contains allowed.log "resumed from"
exit 0
