# A disk that fills up: a periodic checkpoint that cannot be saved is reported and training goes
# on; a final checkpoint that cannot be saved fails the run on every rank (exit 1, one line naming
# the file), and no partial file is left behind. The run directory lives on a 300 KB tmpfs in a
# private mount namespace (root, as the tests run); the model's checkpoint needs about 1 MB.
. tests/lib.sh
cd "$TMP"
mkdir runs
args=(train --set "model.layers=dense 256, relu, dense 256, relu, dense 1" --set data.synthetic_samples=64
      --set training.batch=16 --set training.steps=6 --set checkpoint.every_epochs=1)
set +e
with_tmpfs runs 300k 'mpi 2 -- "$DPTRAIN" "$@"; rc=$?; ls -A runs/linreg/checkpoints > ls.txt; exit $rc' \
  "${args[@]}" > out.txt 2> err.txt
rc=$?
set -e
[ "$rc" -ne 0 ] || { cat out.txt err.txt; fail "a run whose final checkpoint was lost exited 0"; }
[ "$rc" -ne 124 ] || fail "the run hung"
[ ! -s ls.txt ] || { cat ls.txt; fail "a partial checkpoint was left behind"; }
# The periodic save after epoch 1 (step 4) was told and training went on; the final one (step 6)
# failed the run, told once.
grep -q "^dptrain: rank 0: .*step-0000000004.safetensors" err.txt \
  || { cat out.txt err.txt; fail "the failed periodic save was not reported"; }
grep -q "step 6/6" out.txt || { cat out.txt; fail "training did not go on after the failed periodic save"; }
[ "$(grep -c "^dptrain: rank 0: .*step-0000000006.safetensors" err.txt)" -eq 1 ] \
  || { cat out.txt err.txt; fail "no single one-line error naming the final checkpoint"; }
[ "$(grep -c '^dptrain: ' err.txt)" -eq 2 ] || { cat err.txt; fail "expected two lines from dptrain"; }
