# dptrain study hands trials out as groups finish: on 2 groups of 1 rank, trial 1 is far longer
# than the four others, so the group that runs it runs at most one other (none on a quiet
# machine; one when a heavily loaded one slows the short trials' start-up) while the other group
# takes the rest one after the other; a round-robin would have given the long trial's group
# trials 3 and 5 too. Whichever group runs a trial, its result is that of the experiment
# trained alone (bitwise, deterministic mode). --set applies to every trial's base experiment
# (a swept key or run.name is refused).
. tests/lib.sh
cd "$TMP"
blobs_experiment base.ini 300 "dense 16, relu, dense 3" 10 32 <<INI
deterministic = true
INI
cat > h.ini <<INI
[study]
base = $TMP/base.ini
ranks_per_run = 1
[sweep]
training.steps = 3000, 10, 11, 12, 13
INI
mpi 2 -- "$DPTRAIN" study h.ini --set run.dir="$TMP/runs" --set training.batch=16 > out.txt 2>&1 \
  || { cat out.txt; fail "the study failed"; }
expect_contains out.txt "5 trials on 2 groups of 1 rank, each group taking the next trial when it is done"
expect_contains out.txt "5 done, 0 failed"
$PY - runs/h <<'PYEOF' || fail "trials were not handed out as groups finished"
import json, sys
group = {}
for s in range(1, 6):
    t = json.load(open("%s/s%d-seed42/trial.json" % (sys.argv[1], s)))
    assert t["status"] == "done", t
    group[s] = t["group"]
others = [s for s in group if s != 1 and group[s] == group[1]]
assert len(others) <= 1, "the long trial's group also ran trials %s: %s" % (others, group)
PYEOF
grep -qx "batch = 16" runs/h/s4-seed42/config.ini || fail "--set training.batch did not reach the trials"
"$DPTRAIN" train base.ini --set run.dir="$TMP/runs" --set training.batch=16 --set training.steps=12 \
  --set run.name=alone > alone.log 2>&1 || { cat alone.log; fail "the lone run failed"; }
"$CKPTDIFF" "$(last_ckpt runs/alone)" "$(last_ckpt runs/h/s4-seed42)" bitwise || fail "trial s4 differs from its run alone"
"$DPTRAIN" study h.ini --set training.steps=5 --dry-run > swept.log 2>&1 && fail "a --set of a swept key was accepted"
expect_contains swept.log "--set training.steps=5: training.steps is swept (h.ini:5); set it in one place"
exit 0
