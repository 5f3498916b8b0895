# Bad checkpoints given to info, eval, predict, --init and --resume: one clear
# line, a non-zero exit, never a crash; a checkpoint of another model lists the
# mismatching names and shapes.
. tests/lib.sh
cd "$TMP"
"$DPTRAIN" train --set training.epochs=5 --set run.name=good > /dev/null
good=$(last_ckpt runs/good)
printf 'not a checkpoint at all' > garbage.safetensors
head -c 200 "$good" > truncated.safetensors
cp "$good" flipped.safetensors
size=$(stat -c %s flipped.safetensors)
printf '\x7f' | dd of=flipped.safetensors bs=1 seek=$((size - 3)) conv=notrunc status=none
# A header length beyond the file.
$PY -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<Q", 1 << 40) + b"{}")' > huge.safetensors
# Valid JSON, unknown dtype.
$PY - <<'PYEOF'
import json, struct
h = json.dumps({"layers.0.weight": {"dtype": "F16", "shape": [1, 1], "data_offsets": [0, 2]}}).encode()
open("dtype.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + b"\0\0")
PYEOF
check() {
  local want=$1; shift
  set +e
  "$@" > out.txt 2> err.txt
  local rc=$?
  set -e
  [ "$rc" -eq 1 ] || { cat err.txt; fail "expected status 1, got $rc: $*"; }
  expect_contains err.txt "$want"
  test "$(wc -l < err.txt)" -eq 1 || { cat err.txt; fail "expected one line: $*"; }
}
for cmd in info eval; do
  check "garbage.safetensors" "$DPTRAIN" $cmd garbage.safetensors
  check "truncated.safetensors" "$DPTRAIN" $cmd truncated.safetensors
  check "checksum mismatch" "$DPTRAIN" $cmd flipped.safetensors
  check "huge.safetensors" "$DPTRAIN" $cmd huge.safetensors
  check "unknown dtype 'F16'" "$DPTRAIN" $cmd dtype.safetensors
  check "nothere.safetensors" "$DPTRAIN" $cmd nothere.safetensors
done
printf '1.0\n2.0\n' > in.csv
check "checksum mismatch" "$DPTRAIN" predict flipped.safetensors in.csv
check "checksum mismatch" "$DPTRAIN" train --init flipped.safetensors
check "garbage.safetensors" "$DPTRAIN" train --resume garbage.safetensors
# Wrong input width for predict.
printf '1,2\n' > wide.csv
check "2 features per row, but the model takes 1" "$DPTRAIN" predict "$good" wide.csv
# Another model's checkpoint: every mismatching tensor is named with both shapes.
check "layers.0.weight is [1, 1] but the model has [4, 1]" "$DPTRAIN" train --set "model.layers=dense 4, relu, dense 1" --init "$good"
expect_contains err.txt "layers.2.weight missing, the model has [1, 4]"
# On 2 ranks, still one line and status 1 from the job.
set +e
mpi 2 -- "$DPTRAIN" train --resume truncated.safetensors > out.txt 2> err.txt
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "2-rank resume from a bad file: status $rc"
test "$(grep -c '^dptrain: rank' err.txt)" -eq 1 || { cat err.txt; fail "expected one dptrain line"; }
# Metadata is not covered by the checksum: a non-number or out-of-range position is refused,
# and --resume auto falls back to the previous checkpoint (renaming the bad one aside).
# set_meta FILE KEY VALUE: sets KEY of checkpoint FILE's metadata to the string VALUE.
set_meta() {
  $PY - "$@" <<'PYEOF'
import json, struct, sys
raw = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n]); h["__metadata__"][sys.argv[2]] = sys.argv[3]
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(hb)) + hb + raw[8 + n:])
PYEOF
}
"$DPTRAIN" train --set training.epochs=10 --set checkpoint.every_epochs=5 --set run.name=meta > /dev/null
bad=runs/meta/checkpoints/step-0000000010.safetensors
set_meta "$bad" step nan
check "metadata 'step' = nan is not an integer" "$DPTRAIN" train --set run.name=meta2 --resume "$bad"
# The plateau schedule's state and the epoch's sums: each field out of range is refused by name.
plat=(--set schedule.kind=plateau --set data.val_fraction=0.2 --set training.epochs=4)
"$DPTRAIN" train "${plat[@]}" --set run.name=plat > /dev/null
while read -r key value want; do
  cp "$(last_ckpt runs/plat)" "$key.safetensors"
  set_meta "$key.safetensors" "$key" "$value"
  check "$key.safetensors: metadata '$key' = $want" "$DPTRAIN" train "${plat[@]}" --set run.name=plat2 \
    --resume "$key.safetensors"
done <<'CASES'
plateau_lr -1 -1 is out of range: must be a finite rate >= 0
plateau_best -inf -inf is out of range: must be a number or inf (the watched metric is minimized)
plateau_best nan nan is out of range: must be a number or inf
epoch_loss inf inf is out of range: must be finite
epoch_count -1 -1 is out of range: must be in [0, 2^53]
best_metric inf inf is out of range: must be finite or nan
plateau_bad 1.5 1.5 is not an integer
plateau_cooldown -1 -1 is not an integer
epoch_correct 1e9 1e+09 is out of range: must be in [0, epoch_count = 
CASES
"$DPTRAIN" train --set training.epochs=10 --set run.name=meta --resume auto > meta.log 2> meta.err
expect_contains meta.err "skipping damaged checkpoint"
expect_contains meta.log "resumed from runs/meta/checkpoints/step-0000000005.safetensors at step 5"
test -e "$bad.damaged" || fail "the bad checkpoint was not set aside"
# A fresh run into a directory with an earlier run moves that run aside, whole and kept, so that
# a later --resume auto cannot mix the two runs; running the same command twice just works.
"$DPTRAIN" train --set run.name=meta --set training.epochs=3 > fresh.log
expect_contains fresh.log "starting fresh: the earlier run in runs/meta is now in runs/meta/previous-1"
ls runs/meta/previous-1/checkpoints/step-0000000005.safetensors > /dev/null || fail "earlier checkpoints lost"
test "$(ls runs/meta/checkpoints)" = "step-0000000003.safetensors" || fail "new run mixed with the old one"
"$DPTRAIN" train --set run.name=meta --set training.epochs=3 > again.log || fail "the same run twice failed"
# Tiny batches: the closing predictions never overrun the model's buffers (checked under ASan).
"$DPTRAIN" train --set training.batch=2 --set training.epochs=2 --set run.name=tiny > tiny.log
expect_contains tiny.log "predict x = 5"
