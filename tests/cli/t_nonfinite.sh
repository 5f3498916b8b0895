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
# Skip mode: every rank skips the same steps and the run reaches its last step. Here the first
# update already overflowed the weights (lr 1e30), so every save is refused and told, and the run
# fails at the end because its final state cannot be kept.
set +e
mpi 2 -- "$DPTRAIN" "${args[@]}" --set training.nonfinite=skip --set run.name=skip > skip.txt 2> skip.err
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat skip.err; fail "skip mode: expected a failure at the end, got $rc"; }
expect_contains skip.txt "step 50/50"
expect_contains skip.err "step-0000000050.safetensors: not saved: parameter 0 is not finite at step 50"
! grep -q "^dptrain: rank 1" skip.err || { cat skip.err; fail "rank 1 spoke: the ranks did not agree"; }
