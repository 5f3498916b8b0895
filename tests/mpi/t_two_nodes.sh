# Two nodes, emulated by launch/fake-cluster.sh (network, UTS and mount namespaces; shared
# memory inside a node, TCP between nodes): 2 nodes x 1 rank and 2 nodes x 2 ranks give the
# parameters of 1 rank within 1e-5 relative on every path that crosses nodes; deterministic mode
# gives its bits; a rank killed on the second node ends the job within seconds, naming the node,
# and run-with-restart resumes it bitwise; a data file present on the first node only is one
# clear error; gradients in bf16 halve the bytes on the link; a study spreads its trials over
# both nodes. Where namespaces cannot be made,
# the test says so loudly and passes as skipped.
. tests/lib.sh
# A cluster of this run's own: two checkouts testing at once must not take down each other's.
export FAKE_CLUSTER_PREFIX=dt$(( $$ % 100000 ))
FC=$ROOT/launch/fake-cluster.sh
if [ "$(id -u)" -ne 0 ] || ! unshare --net true 2>/dev/null; then
  skipped "the multi-node path" "t_two_nodes needs root and network namespaces"
  exit 0
fi
if [ "$MPI_IMPL" = mpich ]; then
  skipped "the multi-node path under MPICH" "MPICH's UCX TCP transport hangs in MPI_Finalize now and then"
  exit 0
fi
"$FC" down > /dev/null
trap '"$FC" down > /dev/null; rm -rf "$TMP"' EXIT
"$FC" up 2 > /dev/null || fail "fake-cluster up failed"
cd "$TMP"
blobs_experiment exp.ini 300 "dense 32, relu, dense 3" 12 40 <<INI
log_every = 1000
[optimizer]
kind = adam
lr = 0.01
[checkpoint]
every_steps = 6
INI
common=(exp.ini)
one() { # one TAG ARGS...: the 1-rank reference
  local tag=$1; shift
  timeout 60 "$DPTRAIN" train "${common[@]}" --set run.name="$tag" "$@" > "$tag.log" 2>&1 \
    || { cat "$tag.log"; fail "1-rank $tag failed"; }
}
nodes() { # nodes PER TAG ARGS...: PER ranks on each of the 2 nodes
  local per=$1 tag=$2; shift 2
  timeout 90 "$FC" run "$per" "$DPTRAIN" train "${common[@]}" --set run.name="$tag" "$@" > "$tag.log" 2>&1 \
    || { cat "$tag.log"; fail "$tag on 2 nodes x $per failed"; }
}
one ref
# Per node count, auto's path (1 rank a node: the shards through MPI; 2: two levels) and buckets on
# the progress thread.
for per in 1 2; do
  other=(--set training.bucket_mb=4)
  if [ "$per" = 1 ]; then want=("reduce-scatter and all-gather" "bucketed ring allreduce")
  else want=("hierarchical" "bucketed ring allreduce"); fi
  nodes "$per" "auto$per"
  nodes "$per" "other$per" "${other[@]}"
  expect_contains "auto$per.log" "over 2 nodes"
  expect_contains "auto$per.log" "${want[0]}"
  expect_contains "other$per.log" "${want[1]}"
  for tag in "auto$per" "other$per"; do
    "$CKPTDIFF" "$(last_ckpt runs/ref)" "$(last_ckpt runs/$tag)" 1e-5 || fail "$tag on 2 nodes x $per differs from 1 rank"
  done
done
# Deterministic mode: the bits of one rank, also across nodes.
one det --set training.deterministic=true --set training.blocks=4
for per in 1 2; do
  nodes "$per" "det$per" --set training.deterministic=true --set training.blocks=4
  "$CKPTDIFF" "$(last_ckpt runs/det)" "$(last_ckpt runs/det$per)" bitwise || fail "deterministic on 2 nodes x $per differs"
done

# A study across the nodes: one group a node, the trials handed round-robin (the counter in
# node-shared memory cannot span nodes), every trial done, and the trial that ran on the second
# node bitwise the same experiment run alone.
cat > st.ini <<INI
[study]
base = $TMP/exp.ini
seeds = 2
ranks_per_run = 1
[sweep]
optimizer.lr = 0.01, 0.02
INI
timeout 120 "$FC" run 1 "$DPTRAIN" study st.ini --set training.deterministic=true > st.log 2>&1 \
  || { cat st.log; fail "the study on 2 nodes failed"; }
expect_contains st.log "4 trials on 2 groups of 1 rank, trial i to group i mod groups (across nodes)"
expect_contains st.log "2 settings x 2 seeds = 4 trials, 4 done, 0 failed"
seed=$(sed -n 's/^seed *= *//p' exp.ini | head -1); seed=${seed:-42}
one alone --set training.deterministic=true --set optimizer.lr=0.01 --set run.seed=$((seed + 1))
"$CKPTDIFF" "$(last_ckpt runs/alone)" "$(last_ckpt runs/st/s1-seed$((seed + 1)))" bitwise \
  || fail "the second node's trial differs from the same experiment run alone"

# Gradients in bf16 on the wire (training.comm_dtype): the training of fp32 within bf16's
# precision (plain SGD: Adam would turn a sum that rounding flips in sign into a full step the
# other way), and at most 0.6 times the bytes on the link (half, plus what is not gradient).
sent() { "$FC" bytes | awk '{ s += $2 } END { print s }'; }
wide=(--set "model.layers=dense 8192, relu, dense 3" --set optimizer.kind=sgd --set optimizer.lr=0.05)
one wideref "${wide[@]}"
b0=$(sent); nodes 1 fp32w "${wide[@]}" --set training.bucket_mb=0
b1=$(sent); nodes 1 bf16w "${wide[@]}" --set training.comm_dtype=bf16 --set training.bucket_mb=1
b2=$(sent)
expect_contains bf16w.log "bucketed bf16 ring allreduce on a progress thread (fp32 sums)"
"$CKPTDIFF" "$(last_ckpt runs/wideref)" "$(last_ckpt runs/bf16w)" 3e-2 || fail "bf16 gradients drift beyond 3e-2 of fp32"
awk -v f=$((b1 - b0)) -v h=$((b2 - b1)) 'BEGIN { printf "MEASURED bytes on the link per node, 12 steps of 2 nodes x 1 rank: fp32 %d, bf16 %d (%.2fx)\n", f, h, h / f; exit !(h <= 0.6 * f) }' \
  || fail "bf16 did not halve the bytes on the link"

# Two levels (2 nodes x 2 ranks): each node sends the gradient's bytes once a step, what a ring
# over 2 nodes must (2 (M-1)/M), within 10% (the parameters' broadcast at the start included).
steps=24
b0=$(sent); nodes 2 hier "${wide[@]}" --set training.steps=$steps
b1=$(sent)
expect_contains hier.log "hierarchical"
nodes 2 flat "${wide[@]}" --set training.steps=$steps --set training.shared_memory=false
b2=$(sent)
expect_contains flat.log "reduce-scatter and all-gather"
nparams=$(sed -n 's/.* \([0-9]*\) parameters.*/\1/p' hier.log | head -1)
awk -v b=$((b1 - b0)) -v f=$((b2 - b1)) -v n="$nparams" -v s=$steps 'BEGIN { min = 2 * n * 4 * s; # both nodes, M = 2: n floats each a step
  printf "MEASURED 2 nodes x 2 ranks, bytes a node a step on the link: hierarchical %.0f (%.3fx a ring'"'"'s minimum), flat shards over 4 ranks %.0f (%.3fx)\n", b / 2 / s, b / min, f / 2 / s, f / min;
  exit !(b <= 1.1 * min) }' || fail "the hierarchical reduction sends more than 1.1x the minimum"

# A data file on the first node only (a node-local disk): one clear error, every rank ends.
mkdir -p local && cp blobs.csv local/
if FAKE_CLUSTER_LOCAL="$TMP/local" timeout 60 "$FC" run 1 "$DPTRAIN" train "${common[@]}" \
     --set data.train="$TMP/local/blobs.csv" --set run.name=local > local.log 2>&1; then
  fail "a file missing on the second node went unnoticed"
fi
expect_contains local.log "rank 1"
expect_contains local.log "local/blobs.csv"

# A rank killed on the second node ends the job quickly, naming the node; a restart resumes.
long=("${common[@]}" --set training.steps=4000 --set training.batch=8 --set checkpoint.every_steps=200)
timeout 120 "$FC" run 1 "$DPTRAIN" train "${long[@]}" --set run.name=clean > clean.log 2>&1 || { cat clean.log; fail "clean run"; }
RESTART_DELAY=0 timeout 180 "$ROOT/launch/run-with-restart.sh" 1 "$FC" run 1 "$DPTRAIN" train "${long[@]}" \
  --set run.name=crash > crash.log 2>&1 &
job=$!
for i in $(seq 1 400); do
  [ "$(ls runs/crash/checkpoints/step-*.safetensors 2>/dev/null | wc -l)" -ge 2 ] && break
  sleep 0.05
done
victim=$(ip netns pids "$FAKE_CLUSTER_PREFIX-ns-2" | while read -r p; do
  [ "$(cat /proc/$p/comm 2>/dev/null)" = dptrain ] && echo "$p"; done | head -1)
[ -n "$victim" ] || { cat crash.log; fail "no rank on the second node to kill"; }
killed=$(date +%s)
kill -9 "$victim"
# The first attempt must end within 10 s: the restart's "restart 1 of 1" line says when.
for i in $(seq 1 100); do grep -q "restart 1 of 1" crash.log && break; sleep 0.1; done
ended=$(date +%s)
grep -q "restart 1 of 1" crash.log || { cat crash.log; fail "the job did not end within 10 s of the kill"; }
[ $((ended - killed)) -le 10 ] || fail "the job took $((ended - killed)) s to end"
grep -q "$FAKE_CLUSTER_PREFIX-node2" crash.log || { cat crash.log; fail "the failure does not name the node"; }
wait "$job" || { cat crash.log; fail "run-with-restart did not recover"; }
expect_contains crash.log "resumed from"
"$CKPTDIFF" "$(last_ckpt runs/clean)" "$(last_ckpt runs/crash)" bitwise || fail "the restarted run differs"
exit 0
