# Early stopping on a validation curve we control: with min_delta too large to
# ever beat, the first evaluation stays best and patience 2 stops after epoch 3.
# best.safetensors holds epoch 1 and becomes the run's model; summary.json keeps the
# last step's model and the best one apart, each with its own metrics; the last step
# checkpoint keeps the true final state, marked stopped, so resuming the finished
# run trains nothing more.
. tests/lib.sh
cd "$TMP"
make_blobs train.csv 200
make_blobs test.csv 60
cat > exp.ini <<'INI'
[data]
train = train.csv
test = test.csv
val_fraction = 0.2
[model]
layers = dense 8, relu, dense 3
[loss]
kind = cross_entropy
[training]
epochs = 20
batch = 20
[early_stopping]
metric = val_loss
patience = 2
min_delta = 1000
[checkpoint]
every_epochs = 1
keep_last = 10
INI
mpi 2 -- "$DPTRAIN" train exp.ini --set run.name=es > es.log || { cat es.log; fail "training failed"; }
$PY - runs/es/metrics.jsonl runs/es/summary.json <<'PYEOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [l["epoch"] for l in lines] == [1, 2, 3], [l["epoch"] for l in lines]
s = json.load(open(sys.argv[2]))
assert s["epochs"] == 3 and s["best"]["step"] == 8, s
PYEOF
"$CKPTDIFF" runs/es/checkpoints/best.safetensors runs/es/checkpoints/step-0000000008.safetensors bitwise \
  || fail "best.safetensors is not epoch 1"
# Rank 0 says that training stopped early and which step's model it restored.
expect_contains es.log "stopped early at step 24 of 160 (epoch 3): val_loss did not improve"
expect_contains es.log "restored the model of step 8"
expect_contains es.log "samples, model of step 8)"
# summary.json: "final" is the last step's model (the newest checkpoint), "best" the restored one
# (best.safetensors); each object's metrics are its own model's, as eval of its checkpoint says.
"$DPTRAIN" eval runs/es/checkpoints/best.safetensors > eval-best.txt
"$DPTRAIN" eval "$(last_ckpt runs/es)" > eval-final.txt
$PY - runs/es/summary.json eval-best.txt eval-final.txt <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
best = dict(l.split() for l in open(sys.argv[2]))
final = dict(l.split() for l in open(sys.argv[3]))
close = lambda a, b: abs(a - float(b)) <= 1e-6 * abs(float(b))
assert s["stopped_early"] is True and s["model"] == "best", s
assert s["final"]["step"] == 24 and s["best"]["step"] == 8, s
assert close(s["best"]["test_loss"], best["loss"]) and close(s["best"]["test_accuracy"], best["accuracy"]), (s, best)
assert close(s["final"]["test_loss"], final["loss"]) and close(s["final"]["test_accuracy"], final["accuracy"]), (s, final)
assert s["best"]["value"] == s["best"]["val_loss"], s
assert s["final"]["test_loss"] != s["best"]["test_loss"], s
PYEOF
"$CKPTDIFF" runs/es/checkpoints/best.safetensors "$(last_ckpt runs/es)" bitwise && fail "final state lost"
"$DPTRAIN" info "$(last_ckpt runs/es)" > /dev/null
mpi 2 -- "$DPTRAIN" train exp.ini --set run.name=es --resume auto > again.log
expect_contains again.log "resumed from"
test "$(wc -l < runs/es/metrics.jsonl)" -eq 3 || fail "resuming a stopped run trained on"
# Without early stopping the same run goes on and ends elsewhere, and still keeps its best point.
mpi 2 -- "$DPTRAIN" train exp.ini --set early_stopping.patience=0 --set run.name=all > all.log
"$CKPTDIFF" runs/es/checkpoints/best.safetensors "$(last_ckpt runs/all)" bitwise && fail "control run equals best"
"$CKPTDIFF" runs/es/checkpoints/best.safetensors runs/all/checkpoints/best.safetensors bitwise \
  || fail "keep_best without early stopping did not keep the same best point"
exit 0
