# A run directory never loses or mixes a run: a second run of the same directory is refused
# while the first holds its lock (and a dead holder's lock is taken over); a fresh run moves the
# whole earlier run into previous-N/; a --resume auto that finds nothing usable starts a new
# timeline the same way; a checkpoint that does not fit the experiment is refused with nothing
# touched; a damaged one is set aside without replacing an earlier *.damaged; leftovers of an
# interrupted write are removed; metrics.jsonl holds every report, in strictly increasing steps;
# predict never writes over its input.
. tests/lib.sh
cd "$TMP"
# steps FILE: the steps of metrics.jsonl, space separated.
steps() { $PY -c 'import json,sys; print(" ".join(str(json.loads(l)["step"]) for l in open(sys.argv[1])))' "$1"; }
# increasing FILE: its steps strictly increase.
increasing() { $PY -c 'import json,sys
s = [json.loads(l)["step"] for l in open(sys.argv[1])]
assert all(b > a for a, b in zip(s, s[1:])), s' "$1" || fail "steps of $1 do not strictly increase: $(steps "$1")"; }
short() { "$DPTRAIN" train --set checkpoint.every_epochs=1 --set checkpoint.keep_last=10 "$@"; }

# --- The lock: a second run of the same directory is refused at once, on every rank, naming the
# holder; the first runs on. A long first run: 100 000 one-sample steps per epoch.
"$DPTRAIN" train --set run.name=lock --set data.synthetic_samples=100000 --set training.batch=1 \
  --set training.epochs=1000 > a.log 2>&1 &
apid=$!
for i in $(seq 1 200); do grep -q "pid $apid" runs/lock/run.lock 2>/dev/null && break; sleep 0.1; done
grep -q "pid $apid" runs/lock/run.lock || { cat a.log; fail "the first run did not write its lock"; }
set +e
mpi 2 -- "$DPTRAIN" train --set run.name=lock --set training.epochs=2 > b.log 2> b.err
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat b.log b.err; fail "a second run of the same run directory: status $rc"; }
expect_contains b.err "runs/lock: another run is using this run directory (host $(hostname) pid $apid"
test "$(grep -c '^dptrain: rank' b.err)" -eq 1 || { cat b.err; fail "expected one error line"; }
kill -0 "$apid" || fail "the first run died"
# The holder dies without releasing anything: the next run takes the lock over and says so, and
# the dead run's files move aside, kept.
kill -9 "$apid"
wait "$apid" || true
short --set run.name=lock --set training.epochs=2 > c.log 2> c.err || { cat c.log c.err; fail "after a dead holder"; }
expect_contains c.log "taking over a stale lock of host $(hostname) pid $apid (no longer running)"
test -e runs/lock/previous-1/config.ini || fail "the dead run's files were not set aside"
test ! -s runs/lock/run.lock || fail "a cleanly ended run left its lock file non-empty"

# --- A fresh run under a used name moves the whole earlier run aside, never over an earlier one.
short --set run.name=again --set training.epochs=3 > r1.log
short --set run.name=again --set training.epochs=4 > r2.log
short --set run.name=again --set training.epochs=5 > r3.log
expect_contains r2.log "starting fresh: the earlier run in runs/again is now in runs/again/previous-1"
expect_contains r3.log "is now in runs/again/previous-2"
test "$(steps runs/again/previous-1/metrics.jsonl)" = "1 2 3" || fail "the first run's metrics were lost"
test "$(steps runs/again/previous-2/metrics.jsonl)" = "1 2 3 4" || fail "the second run's metrics were lost"
test "$(steps runs/again/metrics.jsonl)" = "1 2 3 4 5" || fail "the third run's metrics are mixed"
grep -q '^epochs = 3$' runs/again/previous-1/config.ini || fail "the first run's config.ini was overwritten"
grep -q '"steps":	3' runs/again/previous-1/summary.json || fail "the first run's summary.json was overwritten"
test -e runs/again/previous-1/checkpoints/step-0000000003.safetensors || fail "the first run's checkpoints were lost"
test "$(ls runs/again/checkpoints)" = "$(printf 'step-%010d.safetensors\n' 1 2 3 4 5)" || fail "checkpoints mixed"
# A warm start from the earlier run's own checkpoint is read before that run moves aside.
short --set run.name=warm --set training.epochs=2 > w1.log
short --set run.name=warm --set training.epochs=2 --init runs/warm/checkpoints/step-0000000002.safetensors > w2.log \
  || fail "--init from the run directory's own checkpoint"
test -e runs/warm/previous-1/checkpoints/step-0000000002.safetensors || fail "the warm start's source was lost"

# --- Leftovers of a killed writer go at the next start of the run.
touch runs/again/checkpoints/step-0000000006.safetensors.tmp.4242 runs/again/summary.json.tmp.77
short --set run.name=again --set training.epochs=6 --resume auto > tmp.log
expect_contains tmp.log "removed 2 temporary files left by an interrupted write"
ls runs/again/checkpoints runs/again | grep -q '\.tmp\.' && fail "temporary files left"
test "$(steps runs/again/metrics.jsonl)" = "1 2 3 4 5 6" || fail "resume: steps $(steps runs/again/metrics.jsonl)"

# --- --resume auto with no usable checkpoint starts a new timeline: the earlier one moves aside.
short --set run.name=none --set training.epochs=3 > n1.log
for f in runs/none/checkpoints/step-*.safetensors; do truncate -s -100 "$f"; done
short --set run.name=none --set training.epochs=3 --resume auto > n2.log 2> n2.err
expect_contains n2.log "no usable checkpoint in runs/none/checkpoints: starting fresh"
increasing runs/none/metrics.jsonl
test "$(steps runs/none/metrics.jsonl)" = "1 2 3" || fail "no-checkpoint resume: steps $(steps runs/none/metrics.jsonl)"
test "$(steps runs/none/previous-1/metrics.jsonl)" = "1 2 3" || fail "the earlier timeline was lost"
test -e runs/none/previous-1/checkpoints/step-0000000003.safetensors.damaged || fail "damaged checkpoint lost"

# --- A damaged checkpoint is set aside, but never over an earlier *.damaged.
short --set run.name=dmg --set training.epochs=3 > d1.log
echo "an earlier damaged file" > runs/dmg/checkpoints/step-0000000003.safetensors.damaged
truncate -s -100 runs/dmg/checkpoints/step-0000000003.safetensors
short --set run.name=dmg --set training.epochs=4 --resume auto > d2.log 2> d2.err
expect_contains d2.err "kept as runs/dmg/checkpoints/step-0000000003.safetensors.damaged.2"
expect_contains d2.log "resumed from runs/dmg/checkpoints/step-0000000002.safetensors at step 2"
grep -qx "an earlier damaged file" runs/dmg/checkpoints/step-0000000003.safetensors.damaged \
  || fail "an earlier *.damaged was overwritten"
test "$(steps runs/dmg/metrics.jsonl)" = "1 2 3 4" || fail "damaged resume: steps $(steps runs/dmg/metrics.jsonl)"

# --- A valid checkpoint of another model or optimizer is refused, naming what differs; nothing
# in the run directory changes.
short --set run.name=fit --set training.epochs=3 > f1.log
(cd runs/fit && find . -type f ! -name run.lock -exec md5sum {} + | sort -k2) > before.txt
for change in "model.layers=dense 3, relu, dense 1" "optimizer.kind=sgd" "optimizer.kind=rmsprop"; do
  set +e
  short --set run.name=fit --set training.epochs=4 --set "$change" --resume auto > f2.log 2> f2.err
  rc=$?
  set -e
  [ "$rc" -eq 1 ] || { cat f2.log f2.err; fail "resume with $change: status $rc"; }
  expect_contains f2.err "differs from the checkpoint's in: ${change%%=*}"
  (cd runs/fit && find . -type f ! -name run.lock -exec md5sum {} + | sort -k2) > after.txt
  diff before.txt after.txt || fail "resume with $change changed the run directory"
done
expect_contains f2.err "step-0000000003.safetensors: optimizer state does not match optimizer.kind = rmsprop"
set +e
short --set run.name=fit --set "model.layers=dense 3, relu, dense 1" --resume auto > f3.log 2> f3.err
set -e
expect_contains f3.err "layers.0.weight is [1, 1] but the model has [3, 1]"
# The right experiment resumes as if nothing had happened.
short --set run.name=fit --set training.epochs=4 --resume auto > f4.log
expect_contains f4.log "resumed from runs/fit/checkpoints/step-0000000003.safetensors at step 3"

# --- metrics.jsonl holds every report; training.log_every thins only the console. An evaluation
# on an epoch's last step reports that step once.
"$DPTRAIN" train --set run.name=thin --set training.epochs=5 --set training.log_every=2 > thin.log
test "$(steps runs/thin/metrics.jsonl)" = "1 2 3 4 5" || fail "log_every thinned metrics.jsonl: $(steps runs/thin/metrics.jsonl)"
test "$(grep -c '^epoch ' thin.log)" -eq 3 || { cat thin.log; fail "log_every did not thin the console"; }
"$DPTRAIN" train --set run.name=evals --set data.val_fraction=0.2 --set training.batch=20 --set training.epochs=3 \
  --set training.eval_every=2 --set training.log_every=1 > evals.log
test "$(steps runs/evals/metrics.jsonl)" = "2 4 6 8 10 12" || fail "eval_every: steps $(steps runs/evals/metrics.jsonl)"

# --- predict refuses to write over an input, by any name.
ck=runs/again/checkpoints/step-0000000006.safetensors
cp "$ck" keep.safetensors
printf '1\n2\n' > rows.csv
ln -s "$ck" alias.safetensors
ln rows.csv rows-link.csv
for out in "$ck" alias.safetensors rows.csv rows-link.csv; do
  set +e
  "$DPTRAIN" predict "$ck" rows.csv -o "$out" > p.out 2> p.err
  rc=$?
  set -e
  [ "$rc" -eq 1 ] || fail "predict -o $out: status $rc"
  expect_contains p.err "refusing to write over it"
done
cmp "$ck" keep.safetensors || fail "predict wrote over its checkpoint"
test "$(cat rows.csv)" = "$(printf '1\n2')" || fail "predict wrote over its input"
"$DPTRAIN" predict "$ck" rows.csv -o out.csv
test "$(wc -l < out.csv)" -eq 2 || fail "predict to a new file"
exit 0
