# A non-finite loss or gradient norm is agreed on by every rank: the run stops
# with a message naming the step and keeps its good checkpoints, or, with
# training.nonfinite = skip, all ranks skip those steps together.
. tests/lib.sh
cd "$TMP"
# SGD with an absurd learning rate overflows within a few steps.
args=(train --set optimizer.kind=sgd --set optimizer.lr=1e30 --set training.epochs=50
      --set checkpoint.every_steps=1 --set checkpoint.keep_last=2)
set +e
mpi 2 -- "$DPTRAIN" "${args[@]}" --set run.name=stop > out.txt 2> err.txt
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat err.txt; fail "expected a failure, got $rc"; }
expect_contains err.txt "non-finite"
expect_contains err.txt "at step"
test "$(grep -c '^dptrain: rank .*non-finite' err.txt)" -eq 1 || { cat err.txt; fail "expected the failure told once"; }
step=$(sed -n 's/.*non-finite.* at step \([0-9]*\).*/\1/p' err.txt)
# The newest checkpoint comes from before the failure and is readable and finite
# (a step whose update overflowed the weights is not saved over it).
ck=$(last_ckpt runs/stop)
ckstep=$(basename "$ck" | sed 's/step-0*\([0-9]*\).safetensors/\1/')
[ "$ckstep" -lt "$step" ] || fail "newest checkpoint $ck, failure at step $step"
expect_contains err.txt "not saved"
"$DPTRAIN" info "$ck" > info.txt
$PY - "$ck" <<'PYEOF'
import json, struct, sys, numpy as np
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n]); data = raw[8 + n:]
for k, t in h.items():
    if k.startswith("layers."):
        b, e = t["data_offsets"]; assert np.all(np.isfinite(np.frombuffer(data[b:e], "<f4"))), k
PYEOF
# Skip mode: every rank skips the same steps, and says so. Here the first update already
# overflowed the weights (lr 1e30), so every later step is skipped: after training.max_skipped
# (default 10) in a row the run stops, naming the bound, instead of skipping to its end.
set +e
mpi 2 -- "$DPTRAIN" "${args[@]}" --set training.nonfinite=skip --set run.name=skip > skip.txt 2> skip.err
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat skip.err; fail "skip mode: expected a failure, got $rc"; }
expect_contains skip.err "steps in a row skipped (training.max_skipped = 10); stopping"
expect_contains skip.err "step skipped (1 skipped so far)"
test "$(grep -c 'training.max_skipped' skip.err)" -eq 1 || { cat skip.err; fail "expected the stop told once"; }
! grep -q "^dptrain: rank 1" skip.err || { cat skip.err; fail "rank 1 spoke: the ranks did not agree"; }
for ck in runs/skip/checkpoints/step-*.safetensors; do
  [ -e "$ck" ] || continue
  "$DPTRAIN" info "$ck" > /dev/null || fail "a spoilt checkpoint was written: $ck"
done

# A row whose huge feature overflows the gradient: with the full batch every step meets it.
printf 'a,b,y\n' > bad.csv
for i in $(seq 1 40); do echo "0.$i,0.$((i % 7)),$i" >> bad.csv; done
echo "1e30,0.5,1" >> bad.csv
bad=(train --set data.synthetic=none --set data.train=bad.csv --set data.task=regress
     --set training.nonfinite=skip --set training.epochs=30)
# No bound (0): all 30 steps skipped, told at most 10 times (rate-limited), counted in summary.json.
set +e
mpi 2 -- "$DPTRAIN" "${bad[@]}" --set training.batch=0 --set training.max_skipped=0 --set run.name=nolimit \
  > nolimit.txt 2> nolimit.err
rc=$?
set -e
[ "$rc" -eq 0 ] || { cat nolimit.err; fail "max_skipped = 0: expected success, got $rc"; }
n=$(grep -c 'step skipped' nolimit.err || true)
[ "$n" -eq 10 ] || { cat nolimit.err; fail "expected the first 10 skips told, got $n lines"; }
expect_contains nolimit.err "from now on every 100th is told"
expect_contains runs/nolimit/summary.json '"skipped_steps":	30'
# Batches of 8: only the batch holding the bad row is skipped (one a epoch), never 10 in a row,
# so the default bound lets the run finish; each skip is told and counted.
set +e
mpi 2 -- "$DPTRAIN" "${bad[@]}" --set training.epochs=5 --set training.batch=8 --set run.name=some \
  > some.txt 2> some.err
rc=$?
set -e
[ "$rc" -eq 0 ] || { cat some.err; fail "isolated skips: expected success, got $rc"; }
test "$(grep -c '^dptrain: rank 0: non-finite gradient norm at step .*: step skipped' some.err)" -eq 5 \
  || { cat some.err; fail "expected 5 skips told"; }
expect_contains runs/some/summary.json '"skipped_steps":	5'
# A resume keeps the count of skips in a row: 5 saved at step 5, so max_skipped = 8 stops the
# resumed run at step 8 again (a count that restarted would run on to step 13).
row=("${bad[@]}" --set training.batch=0 --set training.max_skipped=8 --set checkpoint.every_steps=5
     --set run.name=row)
mpi 2 -- "$DPTRAIN" "${row[@]}" > row1.txt 2> row1.err && fail "max_skipped = 8: the run did not stop"
expect_contains row1.err "at step 8 (epoch 8): 8 steps in a row skipped"
mpi 2 -- "$DPTRAIN" "${row[@]}" --resume auto > row2.txt 2> row2.err && fail "the resumed run did not stop"
expect_contains row2.txt "resumed from runs/row/checkpoints/step-0000000005.safetensors at step 5"
expect_contains row2.err "at step 8 (epoch 8): 8 steps in a row skipped"
# The full batch with the default bound: stops at step 10, exit 1.
set +e
mpi 2 -- "$DPTRAIN" "${bad[@]}" --set training.batch=0 --set run.name=bound > bound.txt 2> bound.err
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat bound.err; fail "expected the bound to stop the run, got $rc"; }
expect_contains bound.err "at step 10 (epoch 10): 10 steps in a row skipped (training.max_skipped = 10)"
[ ! -e runs/bound/summary.json ] || fail "a failed run wrote summary.json"
