# Gradient accumulation: K micro-batches of size b give the parameters of one
# batch of K*b within 1e-5 relative, on 1 and 2 ranks, also with bucketed
# allreduces (which must wait for the last micro-batch); and k-fold
# cross-validation reports every fold with the mean and deviation.
. tests/lib.sh
cd "$TMP"
make_blobs train.csv 200
printf '[data]\ntrain = train.csv\n[model]\nlayers = dense 8, tanh, dense 3\n[loss]\nkind = cross_entropy\n' > exp.ini
common=(train exp.ini --set training.epochs=5 --set training.batch=40
        --set optimizer.kind=sgd --set optimizer.lr=0.1 --set optimizer.momentum=0.9)
for np in 1 2; do
  mpi $np -- "$DPTRAIN" "${common[@]}" --set run.name=one$np > one$np.log || { cat one$np.log; fail "batch of 40"; }
  mpi $np -- "$DPTRAIN" "${common[@]}" --set training.accumulation=4 --set run.name=acc$np > acc$np.log \
    || { cat acc$np.log; fail "4 micro-batches"; }
  "$CKPTDIFF" "$(last_ckpt runs/one$np)" "$(last_ckpt runs/acc$np)" 1e-5 || fail "accumulation differs on $np ranks"
done
# With bucketed allreduces (tiny buckets: many of them), no bucket may start before the last
# micro-batch: one that did would carry a partial sum, and the parameters would differ.
bucket=(--set training.bucket_mb=0.0001)
mpi 2 -- "$DPTRAIN" "${common[@]}" "${bucket[@]}" --set run.name=oneb > oneb.log || { cat oneb.log; fail "bucketed batch"; }
mpi 2 -- "$DPTRAIN" "${common[@]}" "${bucket[@]}" --set training.accumulation=4 --set run.name=accb > accb.log \
  || { cat accb.log; fail "bucketed micro-batches"; }
expect_contains accb.log "bucketed ring allreduce on a progress thread"
"$CKPTDIFF" "$(last_ckpt runs/oneb)" "$(last_ckpt runs/accb)" 1e-5 || fail "bucketed accumulation differs"
mpi 2 -- "$DPTRAIN" "${common[@]}" --set data.kfold=4 --set run.name=cv > cv.log || { cat cv.log; fail "k-fold"; }
for f in 1 2 3 4; do expect_contains cv.log "fold $f/4: val_loss"; done
expect_contains cv.log "cross-validation over 4 folds: val_accuracy"
$PY - runs/cv/summary.json runs/cv/metrics.jsonl <<'PYEOF'
import json, statistics, sys
s = json.load(open(sys.argv[1]))
acc = [f["val_accuracy"] for f in s["folds"]]
assert len(acc) == 4 and abs(s["val_accuracy_mean"] - statistics.mean(acc)) < 1e-12, s
assert abs(s["val_accuracy_std"] - statistics.pstdev(acc)) < 1e-12, s
assert {json.loads(l)["fold"] for l in open(sys.argv[2])} == {1, 2, 3, 4}
PYEOF
