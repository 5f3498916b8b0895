# One rank is killed with SIGKILL in the middle of an epoch; run-with-restart
# reruns the job with --resume auto; the final parameters are bitwise identical
# to an uninterrupted run. A truncated newest checkpoint is detected by its
# checksum, reported, and the previous good one is used.
. tests/lib.sh
cd "$TMP"
make_regression train.csv 4000
cat > exp.ini <<'INI'
[data]
train = train.csv
task = regress
[model]
layers = dense 64, tanh, dense 64, tanh, dense 1
[optimizer]
kind = sgd
lr = 0.05
momentum = 0.9
[training]
epochs = 120
batch = 16
log_every = 10
[checkpoint]
every_steps = 100
keep_last = 3
INI
mpi 2 -- "$DPTRAIN" train exp.ini --set run.name=clean > clean.log || { cat clean.log; fail "clean run"; }
export DPTRAIN
RESTART_DELAY=0 timeout 120 "$ROOT/launch/run-with-restart.sh" 2 "$ROOT/launch/local.sh" 2 exp.ini \
  --set run.name=crash > crash.log 2>&1 &
job=$!
# Wait for the second checkpoint, then kill one rank mid-epoch. 120 epochs, not 30: with dptrain's
# own products the 30 took half a second, and a CI run once found no rank left to kill.
for i in $(seq 1 200); do
  [ "$(ls runs/crash/checkpoints/step-*.safetensors 2>/dev/null | wc -l)" -ge 2 ] && break
  sleep 0.05
done
# A rank, never mpirun (whose command line names dptrain too): killing it would orphan the ranks.
victim=$(pgrep -f "^$DPTRAIN train exp.ini --set run.name=crash" | tail -1) || :
[ -n "$victim" ] || fail "no rank to kill (the run ended too early?)"
kill -9 "$victim"
wait "$job" || { cat crash.log; fail "run-with-restart did not recover"; }
expect_contains crash.log "restart 1 of 2"
expect_contains crash.log "resumed from"
"$CKPTDIFF" "$(last_ckpt runs/clean)" "$(last_ckpt runs/crash)" bitwise || fail "restarted run differs"
# The restart dropped the lines logged after its checkpoint before logging them again.
$PY -c 'import json,sys
s = [json.loads(l)["step"] for l in open(sys.argv[1])]
assert s == sorted(set(s)), s' runs/crash/metrics.jsonl || { cat runs/crash/metrics.jsonl crash.log; fail "metrics.jsonl repeats steps after the restart"; }
# Damage the newest checkpoint of a finished run: resume auto reports it and takes the previous one.
newest=$(last_ckpt runs/clean)
truncate -s -100 "$newest"
"$DPTRAIN" train exp.ini --set run.name=clean --resume auto > damaged.log 2> damaged.err
expect_contains damaged.err "skipping damaged checkpoint"
expect_contains damaged.log "resumed from"
grep -q "$(basename "$newest")" damaged.log && fail "resumed from the damaged file"
exit 0
