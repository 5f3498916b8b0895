# metrics.jsonl's train_accuracy (counted in the training forward passes, summed over the ranks)
# and training.test_every_epochs: present where due, in [0, 1], the same on 1 and 2 ranks
# (deterministic mode, so the models are the same bits), carried through a mid-epoch checkpoint,
# and equal to the accuracy `dptrain eval` measures when nothing learns (lr 0).
. tests/lib.sh
cd "$TMP"
blobs_experiment exp.ini 150 "dense 8, relu, dense 3" 0 30 <<'INI'
epochs = 5
test_every_epochs = 2
deterministic = true
[data]
test = blobs.csv
[optimizer]
lr = 0.03
[checkpoint]
every_steps = 7
every_epochs = 2
keep_last = 100
INI
# check FILE: train_accuracy on every line, test metrics at the ends of epochs 2 and 4 only.
check() { $PY - "$1" <<'PYEOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 5, len(lines)
for d in lines:
    assert 0 <= d["train_accuracy"] <= 1, d
    tested = d["test_loss"] is not None
    assert tested == (d["epoch"] in (2, 4)), d
    assert tested == (d["test_accuracy"] is not None), d
    if tested:
        assert 0 <= d["test_accuracy"] <= 1 and d["test_loss"] > 0, d
print(" ".join("%.6f" % d["train_accuracy"] for d in lines))
PYEOF
}
"$DPTRAIN" train exp.ini --set run.name=one > one.log 2>&1 || { cat one.log; fail "1 rank"; }
mpi 2 -- "$DPTRAIN" train exp.ini --set run.name=two > two.log 2>&1 || { cat two.log; fail "2 ranks"; }
a1=$(check runs/one/metrics.jsonl) || fail "1 rank's metrics"
a2=$(check runs/two/metrics.jsonl) || fail "2 ranks' metrics"
echo "MEASURED train_accuracy by epoch: $a1"
[ "$a1" = "$a2" ] || fail "train_accuracy on 1 rank ($a1) and 2 ranks ($a2) differ"
# Resumed from step 14, in the middle of epoch 4 (4 steps an epoch): the epoch's count so far
# comes from the checkpoint, so the lines after it match.
mkdir -p runs/part/checkpoints
cp runs/one/checkpoints/step-0000000014.safetensors runs/part/checkpoints/
"$DPTRAIN" train exp.ini --set run.name=part --resume auto > part.log 2>&1 || { cat part.log; fail "resume"; }
# Only run.name differs (training.test_every_epochs = 2 and checkpoint.every_epochs = 2 are no
# change; the comparison once took a line ending another key's line for it).
expect_contains part.log "resuming with settings that differ from the checkpoint's: run.name"
! grep -q "every_epochs" part.log || { cat part.log; fail "resume told of a difference that is none"; }
ap=$(check <(cat <(head -3 runs/one/metrics.jsonl) runs/part/metrics.jsonl)) || fail "resumed metrics"
[ "$ap" = "$a1" ] || fail "train_accuracy after the resume ($ap) differs from the uninterrupted run's ($a1)"
# With lr 0 the model never changes: an epoch's train_accuracy is the model's accuracy on the
# training rows, as eval measures it (no validation split here).
"$DPTRAIN" train exp.ini --set run.name=still --set optimizer.lr=0 --set data.val_fraction=0 \
  --set training.epochs=1 --set training.test_every_epochs=0 > still.log 2>&1 || { cat still.log; fail "lr 0"; }
want=$("$DPTRAIN" eval "$(last_ckpt runs/still)" --data blobs.csv | awk '$1 == "accuracy" { print $2 }')
got=$($PY -c 'import json,sys; print("%.6f" % json.loads(open(sys.argv[1]).readline())["train_accuracy"])' runs/still/metrics.jsonl)
[ "$got" = "$want" ] || fail "train_accuracy $got, but eval measures $want"
# A test every N epochs needs a test set.
if "$DPTRAIN" train exp.ini --set data.test= --set run.name=notest > notest.log 2>&1; then fail "accepted without a test set"; fi
expect_contains notest.log "training.test_every_epochs = 2: there is no test set (set data.test)"
