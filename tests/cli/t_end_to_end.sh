# train -> info -> eval -> predict on a small CSV dataset, on 2 ranks; predict's
# outputs equal a numpy forward pass over the checkpoint's tensors
# (scripts/safetensors_predict.py); metrics.jsonl and summary.json parse.
. tests/lib.sh
cd "$TMP"
make_blobs train.csv 300
make_blobs test.csv 60
cat > exp.ini <<'INI'
[data]
train = train.csv
test = test.csv
label = label
val_fraction = 0.2
standardize = true
[model]
layers = dense 16, tanh, dense 3
[loss]
kind = cross_entropy
[optimizer]
kind = adam
lr = 0.01
[training]
epochs = 30
batch = 32
[checkpoint]
every_epochs = 10
[run]
name = blobs
INI
mpi 2 -- "$DPTRAIN" train exp.ini > train.log || { cat train.log; fail "train failed"; }
expect_contains train.log "test: loss"
ck=$(last_ckpt runs/blobs)
"$DPTRAIN" info "$ck" > info.txt
expect_contains info.txt "layers.0.weight"
expect_contains info.txt "[16, 4]"
expect_contains info.txt "layers = dense 16, tanh, dense 3"
mpi 2 -- "$DPTRAIN" eval "$ck" > eval.txt
expect_contains eval.txt "samples 60"
acc=$(awk '/^accuracy/ {print $2}' eval.txt)
awk -v a="$acc" 'BEGIN { exit !(a > 0.9) }' || fail "test accuracy $acc <= 0.9"
# Features only (drop the label column) for predict.
cut -d, -f1-4 test.csv | tail -n +2 > inputs.csv
"$DPTRAIN" predict "$ck" inputs.csv -o pred.csv
test "$(wc -l < pred.csv)" -eq 60 || fail "expected 60 prediction rows"
$PY "$ROOT/scripts/safetensors_predict.py" "$ck" inputs.csv > ref.csv
$PY - pred.csv ref.csv <<'PYEOF'
import sys, numpy as np
a = np.loadtxt(sys.argv[1], delimiter=","); b = np.loadtxt(sys.argv[2], delimiter=",")
err = np.max(np.abs(a - b) / (1e-3 + np.abs(b)))
print("predict vs numpy: largest relative difference", err)
sys.exit(0 if a.shape == b.shape and err < 1e-4 else 1)
PYEOF
$PY - runs/blobs/metrics.jsonl runs/blobs/summary.json <<'PYEOF'
import sys, json
steps = [json.loads(l)["step"] for l in open(sys.argv[1])]
assert len(steps) == 30 and all(b > a for a, b in zip(steps, steps[1:])), steps
s = json.load(open(sys.argv[2]))
assert s["steps"] == steps[-1] and s["final"]["test_accuracy"] > 0.9, s
PYEOF
# config.ini records what was used for the automatic settings (2 ranks on this node).
grep -q '^threads = [1-9]' runs/blobs/config.ini || fail "config.ini does not resolve training.threads"
grep -q '^bucket_mb = 0$' runs/blobs/config.ini || fail "config.ini does not resolve training.bucket_mb"
# The resolved config.ini lists every key and runs as an experiment of its own.
test "$(grep -c '^[a-z_0-9]* =' runs/blobs/config.ini)" -eq "$("$DPTRAIN" keys | grep -c '^| `')" || fail "config.ini misses keys"
"$DPTRAIN" train runs/blobs/config.ini --set run.name=again --set training.epochs=1 > again.log
