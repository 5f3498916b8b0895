# Gradients in bf16 on the wire (training.comm_dtype = bf16) train as well as in fp32: the
# Fashion-MNIST MLP's test accuracy, mean of 3 seeds after one epoch on 2 ranks, within 0.3
# points of fp32's. One rank has no wire: bf16 changes no bit there. Deterministic mode keeps
# fp32 and says so. (Bytes on the link: t_two_nodes.)
. tests/lib.sh
cd "$TMP"
[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || fail "dataset-fashion-mnist is not installed"
exp="$ROOT/launch/configs/default.ini"
short=(--set training.epochs=1 --set early_stopping.patience=0 --set checkpoint.every_epochs=0)
if ldd "$DPTRAIN" | grep libasan > /dev/null; then # accuracy is numerics, not memory: measured in the plain build
  skipped "bf16's Fashion-MNIST accuracy under ASan" "measured in the plain build's run of this test"
else
for dt in fp32 bf16; do
  for seed in 1 2 3; do
    mpi 2 -- "$DPTRAIN" train "$exp" "${short[@]}" --set run.seed=$seed --set training.comm_dtype=$dt \
      --set run.name=$dt-$seed > $dt-$seed.log 2>&1 || { cat $dt-$seed.log; fail "$dt seed $seed failed"; }
  done
done
expect_contains bf16-1.log "bf16 reduce-scatter and all-gather"
acc() { sed -n 's/^test: .*accuracy \([0-9.]*\).*/\1/p' "$@" | awk '{ s += $1; n++ } END { if (n == 3) printf "%.5f", s / n }'; }
a32=$(acc fp32-?.log); a16=$(acc bf16-?.log)
[ -n "$a32" ] && [ -n "$a16" ] || fail "no test accuracy in the logs"
awk -v a="$a32" -v b="$a16" 'BEGIN { printf "MEASURED Fashion-MNIST test accuracy, 3 seeds, 1 epoch: fp32 %.4f, bf16 %.4f\n", a, b;
  exit !((a - b) < 0.003 && (b - a) < 0.003) }' || fail "bf16 accuracy is not within 0.3 points of fp32"
fi

# One rank: nothing travels, so nothing is rounded.
blobs_experiment small.ini 200 "dense 16, relu, dense 3" 10 20 < /dev/null
"$DPTRAIN" train small.ini --set run.name=one32 > one32.log 2>&1 || { cat one32.log; fail "1 rank fp32"; }
"$DPTRAIN" train small.ini --set run.name=one16 --set training.comm_dtype=bf16 > one16.log 2>&1 \
  || { cat one16.log; fail "1 rank bf16"; }
"$CKPTDIFF" "$(last_ckpt runs/one32)" "$(last_ckpt runs/one16)" bitwise || fail "bf16 changed a 1-rank run"
# Deterministic mode keeps fp32: the setting is told to be ignored, and the bits are fp32's.
mpi 2 -- "$DPTRAIN" train small.ini --set training.deterministic=true --set training.comm_dtype=bf16 \
  --set run.name=det > det.log 2>&1 || { cat det.log; fail "deterministic with bf16"; }
expect_contains det.log "comm_dtype"
expect_contains det.log "deterministic tree"
