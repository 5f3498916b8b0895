# early_stopping.metric = train_loss (sklearn MLP's stopping, early_stopping=False) without a
# validation set: with tol too large to ever beat, epoch 1 sets the best and epochs 2, 3, 4 count
# 1, 2, 3 epochs without improvement; 3 > n_iter_no_change 2 stops after epoch 4 (step 16). The
# run keeps its last model (no best.safetensors). The count lives in checkpoints: resumed from
# epoch 2's checkpoint, the run stops at the same step with the same parameters, bitwise.
. tests/lib.sh
cd "$TMP"
make_blobs train.csv 200
cat > exp.ini <<'INI'
[data]
train = train.csv
[model]
layers = dense 8, relu, dense 3
[loss]
kind = cross_entropy
[training]
epochs = 50
batch = 50
deterministic = true
[early_stopping]
metric = train_loss
tol = 1000
n_iter_no_change = 2
min_delta = 0.5
patience = 3
[checkpoint]
every_epochs = 1
keep_last = 10
INI
"$DPTRAIN" train exp.ini --set run.name=full > full.log 2>&1 || { cat full.log; fail "training failed"; }
expect_contains full.log "stopped early at step 16 of 200 (epoch 4): train_loss did not improve by more than tol 1000 in 3 epochs in a row (more than n_iter_no_change 2)"
expect_contains full.log "early_stopping.patience = '3' has no effect with early_stopping.metric = train_loss"
expect_contains full.log "early_stopping.min_delta = '0.5' has no effect with early_stopping.metric = train_loss"
[ ! -e runs/full/checkpoints/best.safetensors ] || fail "train_loss stopping wrote best.safetensors"
$PY - runs/full/metrics.jsonl runs/full/summary.json <<'PYEOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["epoch"] for l in lines] == [1, 2, 3, 4], lines
s = json.load(open(sys.argv[2]))
assert s["stopped_early"] is True and s["model"] == "final" and s["final"]["step"] == 16, s
# sklearn's best follows every decrease, even one smaller than tol that still counts as no improvement
assert all(a["train_loss"] > b["train_loss"] for a, b in zip(lines, lines[1:])), lines
assert s["best"]["metric"] == "train_loss" and s["best"]["step"] == 16, s
assert s["best"]["value"] == lines[-1]["train_loss"], (s, lines[-1])
PYEOF
"$DPTRAIN" train exp.ini --set run.name=part --resume runs/full/checkpoints/step-0000000008.safetensors \
  > part.log 2>&1 || { cat part.log; fail "resumed training failed"; }
expect_contains part.log "stopped early at step 16 of 200 (epoch 4)"
"$CKPTDIFF" "$(last_ckpt runs/full)" "$(last_ckpt runs/part)" bitwise || fail "the resumed run ends elsewhere"
exit 0
