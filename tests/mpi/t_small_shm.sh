# A /dev/shm too small for the node-shared window (as in a container's default 64 MB) makes
# dptrain fall back to optimizer shards through MPI, with the same parameters, instead of failing
# (or hanging: one rank refused, the other waiting) in the window's allocation. Runs in a private
# mount namespace with a 16 MB /dev/shm (root, as the tests run).
. tests/lib.sh
cd "$TMP"
# About a million parameters: two 4 MB regions per rank, more than the 16 MB holds beside MPI's own.
args=(train --set "model.layers=dense 1024, relu, dense 1024, relu, dense 1" --set training.steps=4
      --set training.batch=32 --set data.synthetic_samples=256 --set training.log_every=1000)
with_tmpfs /dev/shm 16m 'mpi 2 -- "$DPTRAIN" "$@" --set run.name=small' "${args[@]}" > small.log 2>&1 \
  || { cat small.log; fail "training with a small /dev/shm failed"; }
expect_contains small.log "optimizer shards through reduce-scatter and all-gather"
mpi 2 -- "$DPTRAIN" "${args[@]}" --set run.name=roomy > roomy.log 2>&1 || { cat roomy.log; fail "training failed"; }
expect_contains roomy.log "optimizer shards in node-shared memory"
"$CKPTDIFF" "$(last_ckpt runs/small)" "$(last_ckpt runs/roomy)" 1e-5 || fail "the fallback trains differently"
