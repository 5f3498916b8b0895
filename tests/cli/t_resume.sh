# A run resumed from a checkpoint at step s ends bitwise identical to the
# uninterrupted run, at 1 and 2 ranks, with shuffling, validation, early-stopping
# state and a cosine schedule; resuming on another rank count agrees within 1e-4.
. tests/lib.sh
cd "$TMP"
make_blobs train.csv 240
cat > exp.ini <<'INI'
[data]
train = train.csv
val_fraction = 0.25
[model]
layers = dense 12, relu, dense 3
[loss]
kind = cross_entropy
[optimizer]
kind = adam
lr = 0.01
[schedule]
kind = cosine
warmup = 5
[training]
epochs = 6
batch = 25
eval_every = 7
[early_stopping]
patience = 100
[checkpoint]
every_steps = 5
keep_last = 100
INI
# strip STEP FILE: the metrics lines after STEP without the timing fields.
strip() { $PY -c 'import json,sys
for l in open(sys.argv[2]):
    d = json.loads(l)
    if d["step"] > int(sys.argv[1]):
        d.pop("samples_per_s"); d.pop("elapsed_s"); print(json.dumps(d, sort_keys=True))' "$1" "$2"; }
for np in 1 2; do
  mpi $np -- "$DPTRAIN" train exp.ini --set run.name=full$np > full$np.log || { cat full$np.log; fail "full run"; }
  final=$(last_ckpt runs/full$np)
  # Resume mid-epoch (step 20 of 8 batches per epoch) under a new run name.
  mkdir -p runs/part$np/checkpoints
  cp runs/full$np/checkpoints/step-0000000020.safetensors runs/part$np/checkpoints/
  mpi $np -- "$DPTRAIN" train exp.ini --set run.name=part$np --resume auto > part$np.log || { cat part$np.log; fail "resume"; }
  expect_contains part$np.log "resumed from runs/part$np/checkpoints/step-0000000020.safetensors at step 20"
  "$CKPTDIFF" "$final" "$(last_ckpt runs/part$np)" bitwise || fail "resumed run at $np ranks differs"
  # It really continued: its first report comes after step 20 (a fresh start would log from step 7).
  first=$($PY -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["step"])' runs/part$np/metrics.jsonl)
  [ "$first" -gt 20 ] || fail "the resumed run logged step $first"
  # The metrics after the resume point match the uninterrupted run's, apart from timing.
  diff <(strip 20 runs/full$np/metrics.jsonl) <(strip 20 runs/part$np/metrics.jsonl) || fail "metrics differ after resume"
done
# Another rank count resumes too (the checkpoint holds the global position): close, not bitwise.
mkdir -p runs/cross/checkpoints
cp runs/full2/checkpoints/step-0000000020.safetensors runs/cross/checkpoints/
mpi 4 -- "$DPTRAIN" train exp.ini --set run.name=cross --resume auto > cross.log || { cat cross.log; fail "resume on 4"; }
"$CKPTDIFF" "$(last_ckpt runs/full2)" "$(last_ckpt runs/cross)" 1e-4 || fail "resume on 4 ranks drifted"
# --resume PATH at the very end of an epoch (step 40 = 5 epochs of 8 batches): the checkpoint was
# saved after the epoch's closing report, so the resumed run starts the next epoch without
# reporting step 40 again, and its reports are the uninterrupted run's, apart from timing.
"$DPTRAIN" train exp.ini --set run.name=path --resume runs/full1/checkpoints/step-0000000040.safetensors > path.log
expect_contains path.log "at step 40"
first=$($PY -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["step"])' runs/path/metrics.jsonl)
[ "$first" -gt 40 ] || fail "the epoch-end resume reported step $first again"
diff <(strip 40 runs/full1/metrics.jsonl) <(strip 40 runs/path/metrics.jsonl) || fail "metrics differ after an epoch-end resume"
"$DPTRAIN" train exp.ini --set run.name=warm --set training.epochs=1 --init "$(last_ckpt runs/full1)" > warm.log
expect_contains warm.log "step 8/8"
# Resuming with another optimizer: the parameters of every checkpoint fit, its optimizer state
# does not. That is the user's mistake, not damage: every rank stops with one line naming the
# setting and the tensors, and no checkpoint is renamed or replaced.
mkdir -p runs/switch/checkpoints
cp runs/full2/checkpoints/step-0000000020.safetensors runs/full2/checkpoints/step-0000000040.safetensors \
  runs/switch/checkpoints/
set +e
mpi 2 -- "$DPTRAIN" train exp.ini --set optimizer.kind=rmsprop --set run.name=switch --resume auto > switch.log 2> switch.err
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat switch.log switch.err; fail "resume with another optimizer: status $rc"; }
expect_contains switch.err "optimizer state does not match optimizer.kind = rmsprop"
expect_contains switch.err "differs from the checkpoint's in: optimizer.kind"
test "$(grep -c '^dptrain: rank' switch.err)" -eq 1 || { cat switch.err; fail "expected one error line"; }
test "$(ls runs/switch/checkpoints)" = "$(printf 'step-%010d.safetensors\n' 20 40)" || fail "checkpoints touched"
cmp runs/switch/checkpoints/step-0000000040.safetensors runs/full2/checkpoints/step-0000000040.safetensors \
  || fail "a checkpoint changed"
