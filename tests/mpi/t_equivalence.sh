# K steps on 2, 3 and 4 ranks (oversubscribed) give the parameters of the
# 1-rank run with the same global batch, within 1e-5 relative: with a batch
# no rank count divides, with momentum SGD and Adam, with penalties and
# clipping (sharded optimizer, its shards meeting in node-shared memory: the
# one-node default), with the shards meeting through MPI's reduce-scatter and
# all-gather instead, with buckets on the progress thread (a ring allreduce
# each), with one blocking allreduce, and over TCP.
. tests/lib.sh
cd "$TMP"
common=(--set data.synthetic_samples=103 --set "model.layers=dense 16, tanh, dense 8, relu, dense 1"
        --set training.epochs=4 --set training.log_every=1000)
check() {
  local tag=$1 np=$2; shift 2
  mpi "$np" "${MPI_EXTRA[@]}" -- "$DPTRAIN" train "${common[@]}" --set run.name="$tag-$np" "$@" > "$tag-$np.log" \
    || { cat "$tag-$np.log"; fail "$tag on $np ranks failed"; }
  if [ "$np" -gt 1 ]; then
    "$CKPTDIFF" "$(last_ckpt runs/$tag-1)" "$(last_ckpt runs/$tag-$np)" 1e-5 || fail "$tag: $np ranks differ from 1"
  fi
}
MPI_EXTRA=()
for np in 1 2 3 4; do check adam "$np" --set training.batch=26; done
for np in 1 2 3; do check sgd "$np" --set training.batch=17 --set optimizer.kind=sgd \
  --set optimizer.lr=0.05 --set optimizer.momentum=0.9; done
# Penalties and clipping, which the sharded optimizer applies per shard.
for np in 1 2 3; do check reg "$np" --set training.batch=26 --set regularization.l1=0.001 \
  --set regularization.l2=0.01 --set optimizer.clip_norm=0.5; done
# Shards through MPI (as when ranks span nodes or shared memory is refused).
cp -r runs/reg-1 runs/mpishard-1
for np in 2 3; do check mpishard "$np" --set training.batch=26 --set regularization.l1=0.001 \
  --set regularization.l2=0.01 --set optimizer.clip_norm=0.5 --set training.shared_memory=false; done
cp -r runs/adam-1 runs/mpiadam-1
for np in 2 3; do check mpiadam "$np" --set training.batch=26 --set training.shared_memory=false; done
expect_contains mpishard-2.log "optimizer shards through reduce-scatter and all-gather"
# Averaging chunk by chunk inside the update (the default) and in a pass of its own before it
# (nonfinite = skip must see the norm first) give the very same parameters.
cp -r runs/adam-1 runs/twopass-1
check twopass 2 --set training.batch=26 --set training.nonfinite=skip
"$CKPTDIFF" "$(last_ckpt runs/adam-2)" "$(last_ckpt runs/twopass-2)" bitwise || fail "fused and two-pass updates differ"
# ... and the same gradient norms, to the last digit JSON keeps.
grep -o '"grad_norm":[^,]*' runs/adam-2/metrics.jsonl > norms-fused.txt
grep -o '"grad_norm":[^,]*' runs/twopass-2/metrics.jsonl > norms-twopass.txt
[ -s norms-fused.txt ] || fail "no grad_norm in runs/adam-2/metrics.jsonl"
cmp -s norms-fused.txt norms-twopass.txt || { paste norms-fused.txt norms-twopass.txt | head -3; fail "fused and two-pass gradient norms differ"; }
expect_contains reg-2.log "optimizer shards in node-shared memory"
# Buckets on the progress thread, small enough to be many.
cp -r runs/adam-1 runs/bucket-1
check bucket 2 --set training.batch=26 --set training.bucket_mb=0.0005
check bucket 3 --set training.batch=26 --set training.bucket_mb=0.0005
expect_contains bucket-2.log "bucketed ring allreduce on a progress thread"
# One blocking allreduce of the whole gradient, every rank updating every parameter.
cp -r runs/reg-1 runs/blocking-1
for np in 2 3; do check blocking "$np" --set training.batch=26 --set regularization.l1=0.001 \
  --set regularization.l2=0.01 --set optimizer.clip_norm=0.5 --set training.shard_optimizer=false; done
expect_contains blocking-2.log "one blocking allreduce"
if tcp=$(mpi_force_tcp); then
  MPI_EXTRA=($tcp)
  check tcp 1 --set training.batch=26
  check tcp 2 --set training.batch=26
fi
# One rank whose threads share the averaging and the update (models of 1M parameters and more):
# at a fixed BLAS thread count, 2 update threads give the bits of one, on the fused path and on
# the two-pass one (clipping). Across BLAS thread counts OpenBLAS promises no bits (its GEMMs split
# the sums differently), so 1 and 2 BLAS threads agree only within a tolerance.
big=(train --set "model.layers=dense 1024, relu, dense 1024, relu, dense 1" --set training.steps=5
     --set training.batch=32 --set data.synthetic_samples=256)
run_big() {
  local tag=$1; shift
  timeout 120 "$DPTRAIN" "${big[@]}" "$@" --set run.name="$tag" > "$tag.log" 2>&1 \
    || { cat "$tag.log"; fail "1 rank, $tag, failed"; }
}
norms() { grep -o '"grad_norm":[^,]*' "runs/$1/metrics.jsonl"; }
for extra in "" "--set optimizer.clip_norm=0.5"; do
  for ut in 1 2; do run_big "ut$ut" --set training.threads=2 --set training.update_threads=$ut $extra; done
  "$CKPTDIFF" "$(last_ckpt runs/ut1)" "$(last_ckpt runs/ut2)" bitwise || fail "2 update threads differ from 1 ($extra)"
  [ -n "$(norms ut1)" ] || fail "no grad_norm in runs/ut1/metrics.jsonl"
  cmp -s <(norms ut1) <(norms ut2) || fail "2 update threads give another gradient norm ($extra)"
  run_big blas1 --set training.threads=1 $extra
  "$CKPTDIFF" "$(last_ckpt runs/blas1)" "$(last_ckpt runs/ut2)" 1e-4 || fail "1 and 2 BLAS threads disagree ($extra)"
  rm -rf runs/ut1 runs/ut2 runs/blas1
done
