# A CNN with dropout (first conv by the direct convolution, conv of 8 channels by Winograd, maxpool, avgpool, two dropouts)
# under training.deterministic = true:
# checkpoints' parameters and the metrics are bitwise identical on 1, 2 and 4 ranks (dropout masks
# are keyed by each sample's global index, not by its rank or place in a slice); a checkpoint
# written at 2 ranks resumed at 4 ends identical to the 1-rank run. By default, 2 and 4 ranks agree
# with 1 within 1e-5 after 30 steps, and a run resumed on 2 ranks is bitwise the uninterrupted one.
. tests/lib.sh
cd "$TMP"
make_images img 300
cat > cnn.ini <<'INI'
[data]
train = ../img_x.npy
train_targets = ../img_y.npy
task = classify
val_fraction = 0.2
[model]
layers = conv 8 3x3 pad 1, relu, maxpool 2, dropout 0.3, conv 6 3x3, relu, avgpool 2, dense 8, relu, dropout 0.5, dense 3
[loss]
kind = cross_entropy
[optimizer]
kind = adam
lr = 0.01
[training]
steps = 30
batch = 40
deterministic = true
eval_every = 10
[checkpoint]
every_steps = 15
[run]
name = cnn
INI
metrics() { $PY -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l); d.pop("samples_per_s"); d.pop("elapsed_s"); print(json.dumps(d, sort_keys=True))' "$1"; }
# run TAG NP ARGS...: train in directory TAG-NP.
run() {
  local tag=$1 np=$2; shift 2
  mkdir -p "$tag-$np"
  (cd "$tag-$np" && mpi "$np" -- "$DPTRAIN" train "$@" > log.txt 2>&1) \
    || { cat "$tag-$np/log.txt"; fail "$tag on $np ranks failed"; }
}
ck() { echo "$1/runs/cnn/checkpoints/step-00000000$2.safetensors"; }
# One rank computes 3 of its 8 blocks at a time on sample threads (3, 3, then 2): the same bits.
for np in 1 2 4; do
  if [ "$np" -eq 1 ]; then run det 1 ../cnn.ini --set training.sample_threads=3; else run det "$np" ../cnn.ini; fi
  [ "$np" -eq 1 ] && continue
  for s in 15 30; do "$CKPTDIFF" "$(ck det-1 $s)" "$(ck det-$np $s)" bitwise || fail "$np ranks: step $s differs"; done
  diff <(metrics det-1/runs/cnn/metrics.jsonl) <(metrics det-$np/runs/cnn/metrics.jsonl) || fail "$np ranks: metrics differ"
done
# Sample threads build their replicas as the model was, down to model.conv_algorithm.
run detim 1 ../cnn.ini --set training.sample_threads=3 --set model.conv_algorithm=im2col
run detim 2 ../cnn.ini --set model.conv_algorithm=im2col
"$CKPTDIFF" "$(ck detim-1 30)" "$(ck detim-2 30)" bitwise || fail "im2col on 3 sample threads differs from 2 ranks"
# Dropout is on: a run without it ends elsewhere (the masks were not all ones).
run nodrop 1 ../cnn.ini --set "model.layers=conv 8 3x3 pad 1, relu, maxpool 2, conv 6 3x3, relu, avgpool 2, dense 8, relu, dense 3"
if "$CKPTDIFF" "$(ck det-1 30)" "$(ck nodrop-1 30)" 1e-3 > /dev/null; then fail "dropout changed nothing"; fi
# Written at 2 ranks (step 15), resumed at 4: identical to the uninterrupted 1-rank run.
mkdir -p resume-4/runs/cnn/checkpoints
cp "$(ck det-2 15)" resume-4/runs/cnn/checkpoints/
(cd resume-4 && mpi 4 -- "$DPTRAIN" train ../cnn.ini --resume auto > log.txt 2>&1) \
  || { cat resume-4/log.txt; fail "resume at 4 ranks"; }
"$CKPTDIFF" "$(ck det-1 30)" "$(ck resume-4 30)" bitwise || fail "resumed at 4 ranks differs from 1 rank"
# The default mode: 2 and 4 ranks agree with 1 within 1e-5; a resumed run is bitwise the whole one.
# So do 2 and 3 sample threads on one rank (3: uneven shares; with 2 micro-batches a step).
for np in 1 2 4; do run fast "$np" ../cnn.ini --set training.deterministic=false --set training.sample_threads=1; done
for np in 2 4; do "$CKPTDIFF" "$(ck fast-1 30)" "$(ck fast-$np 30)" 1e-5 || fail "$np ranks drift from 1"; done
run split2 1 ../cnn.ini --set training.deterministic=false --set training.threads=2 --set training.sample_threads=2
run split3 1 ../cnn.ini --set training.deterministic=false --set training.sample_threads=3 --set training.accumulation=2
expect_contains split3-1/log.txt "each rank's samples split over 3 threads"
for tag in split2 split3; do
  "$CKPTDIFF" "$(ck fast-1 30)" "$(ck $tag-1 30)" 1e-5 || fail "$tag drifts from one thread"
done
mkdir -p again-2/runs/cnn/checkpoints
cp "$(ck fast-2 15)" again-2/runs/cnn/checkpoints/
(cd again-2 && mpi 2 -- "$DPTRAIN" train ../cnn.ini --set training.deterministic=false --resume auto > log.txt 2>&1) \
  || { cat again-2/log.txt; fail "resume at 2 ranks"; }
"$CKPTDIFF" "$(ck fast-2 30)" "$(ck again-2 30)" bitwise || fail "a resumed run differs from the uninterrupted one"
