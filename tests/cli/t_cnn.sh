# A small CNN end to end on 2 ranks: NPY images keep their 1x8x8 shape; train -> info -> eval ->
# predict; checkpoint tensors in torch's layout (layers.0.weight [4, 1, 3, 3]); predict equals a
# numpy forward pass (scripts/safetensors_predict.py); the same images as flat CSV need
# model.input_shape, and a wrong one or a conv that does not fit (or that model.conv_algorithm =
# winograd cannot serve) is refused naming key or layer.
. tests/lib.sh
cd "$TMP"
make_images train 400
make_images test 90 4
cat > exp.ini <<'INI'
[data]
train = train_x.npy
train_targets = train_y.npy
test = test_x.npy
test_targets = test_y.npy
task = classify
val_fraction = 0.2
[model]
layers = conv 4 3x3 pad 1, relu, maxpool 2, conv 6 3x3 pad 1, tanh, avgpool 2 stride 1, dropout 0.2, dense 3
[loss]
kind = cross_entropy
[optimizer]
kind = adam
lr = 0.01
[training]
epochs = 12
batch = 32
[run]
name = cnn
INI
mpi 2 -- "$DPTRAIN" train exp.ini > train.log || { cat train.log; fail "train failed"; }
expect_contains train.log "model: layer 1 (relu) runs after layer 2 (maxpool), on fewer values: the same results"
expect_contains train.log "; layer 7 (dense) reads its 6x3x3 input flat (54 values)"
expect_contains train.log "test: loss"
ck=$(last_ckpt runs/cnn)
"$DPTRAIN" info "$ck" > info.txt
expect_contains info.txt "model: 64 inputs (1x8x8)"
expect_contains info.txt "layers.0.weight              [4, 1, 3, 3]"
expect_contains info.txt "layers.3.weight              [6, 4, 3, 3]"
expect_contains info.txt "layers.7.weight              [3, 54]"
mpi 2 -- "$DPTRAIN" eval "$ck" > eval.txt
expect_contains eval.txt "samples 90"
acc=$(awk '/^accuracy/ {print $2}' eval.txt)
awk -v a="$acc" 'BEGIN { exit !(a > 0.8) }' || fail "test accuracy $acc <= 0.8"
cut -d, -f1-64 test.csv > inputs.csv
"$DPTRAIN" predict "$ck" inputs.csv -o pred.csv
test "$(wc -l < pred.csv)" -eq 90 || fail "expected 90 prediction rows"
$PY "$ROOT/scripts/safetensors_predict.py" "$ck" inputs.csv > ref.csv
$PY - pred.csv ref.csv <<'PYEOF'
import sys, numpy as np
a = np.loadtxt(sys.argv[1], delimiter=","); b = np.loadtxt(sys.argv[2], delimiter=",")
err = np.max(np.abs(a - b) / (1e-3 + np.abs(b)))
print("CNN predict vs numpy: largest relative difference", err)
sys.exit(0 if a.shape == b.shape and err < 1e-4 else 1)
PYEOF
# The same images as CSV rows: flat unless model.input_shape gives their shape.
csv="--set data.train=train.csv --set data.train_targets= --set data.test=test.csv --set data.test_targets="
if "$DPTRAIN" train exp.ini $csv --set run.name=flat > flat.log 2>&1; then fail "a conv on flat rows trained"; fi
expect_contains flat.log "model.layers: layer 2 'maxpool 2' on input 4: window 2x2 is larger than its input"
if "$DPTRAIN" train exp.ini $csv --set model.input_shape=1,8,7 --set run.name=bad > bad.log 2>&1; then
  fail "a model.input_shape of the wrong size trained"
fi
expect_contains bad.log "model.input_shape = '1,8,7' holds 56 values, but train.csv has 64 features per sample"
if mpi 2 -- "$DPTRAIN" train exp.ini --set "model.layers=conv 4 3x3 stride 2, dense 3" --set run.name=odd > odd.log 2>&1; then
  fail "a stride that does not tile the input trained"
fi
expect_contains odd.log "layer 0 'conv 4 3x3 stride 2' on input 1x8x8: kernel 3 with stride 2 does not tile 8 values"
# model.conv_algorithm = winograd on a conv it cannot serve names the layer, on both ranks.
if mpi 2 -- "$DPTRAIN" train exp.ini --set model.conv_algorithm=winograd \
  --set "model.layers=conv 4 3x3 pad 1, relu, conv 2 2x2 stride 2, dense 3" --set run.name=wino > wino.log 2>&1; then
  fail "winograd on a 2x2 kernel of stride 2 trained"
fi
expect_contains wino.log "layer 2 'conv 2 2x2 stride 2' on input 4x8x8: model.conv_algorithm = winograd needs a 3x3 kernel of stride 1, not 2x2 stride 2"
mpi 2 -- "$DPTRAIN" train exp.ini $csv --set model.input_shape=1,8,8 --set run.name=shaped --set training.epochs=2 > shaped.log \
  || { cat shaped.log; fail "CSV rows with model.input_shape did not train"; }
expect_contains shaped.log "test: loss"
# Conv and pooling weights do not bound an image's size: a small checkpoint whose metadata claims
# 1 x 8000 x 8000 inputs is refused before its buffers (65 GB) are reserved.
mpi 1 -- "$DPTRAIN" train exp.ini --set "model.layers=conv 3 1x1, avgpool 8" --set training.epochs=1 --set run.name=tiny \
  > tiny.log || { cat tiny.log; fail "tiny model did not train"; }
$PY - "$(last_ckpt runs/tiny)" huge.safetensors <<'PYEOF'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
head["__metadata__"].update(in_dim="64000000", in_height="8000", in_width="8000")
h = json.dumps(head).encode()
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + raw[8 + n:])
PYEOF
if [[ "$BUILD" == *asan* ]]; then  # ASan reserves more address space than ulimit -v allows
  export ASAN_OPTIONS="${ASAN_OPTIONS:-}:max_allocation_size_mb=2048:allocator_may_return_null=0"
  limit() { "$@"; }
else
  limit() { (ulimit -v 4000000 && "$@"); }
fi
for cmd in info eval; do
  if limit "$DPTRAIN" $cmd huge.safetensors > huge.log 2>&1; then fail "$cmd read a 65 GB model"; fi
  expect_contains huge.log "huge.safetensors: the model its metadata describes would need"
done
