# dptrain study: 2 settings x 3 seeds as one 4-rank job, 2 ranks per trial. It writes trials.csv,
# summary.json and the table (mean, sample sd, n, 95% t interval, best first); each trial's final
# checkpoint is bitwise the one of the same experiment run alone (deterministic mode); a trial
# that diverges is recorded as failed and the others run; --resume auto skips finished trials.
. tests/lib.sh
cd "$TMP"
blobs_experiment base.ini 300 "dense 8, relu, dense 3" 40 32 <<INI
deterministic = true
[checkpoint]
every_steps = 20
[run]
dir = $TMP/runs
INI
cat > lr.ini <<INI
[study]
base = $TMP/base.ini
seeds = 3
ranks_per_run = 2
[sweep]
optimizer.lr = 0.003, 0.01   ; the second is better in 40 steps
INI
mpi 4 -- "$DPTRAIN" study lr.ini > out.txt 2>&1 || { cat out.txt; fail "the study failed"; }
S=$TMP/runs/lr
[ -f "$S/trials.csv" ] && [ -f "$S/summary.json" ] || fail "no trials.csv or summary.json in $S"
[ "$(grep -c ',done,' "$S/trials.csv")" = 6 ] || { cat "$S/trials.csv"; fail "expected 6 finished trials"; }
expect_contains "$S/trials.csv" "trial,setting,optimizer.lr,run.seed,status,steps,wall_s,final_train_loss"
expect_contains "$S/trials.csv" "s2-seed44,2,0.01,44,done,40,"
expect_contains out.txt "study lr: 2 settings x 3 seeds = 6 trials, 6 done, 0 failed"
expect_contains out.txt "sd is the sample standard deviation (n-1)"
# the table ranks the lower val_loss first, and its numbers are those of trials.csv
$PY - "$S" out.txt <<'PY' || fail "the table or summary.json disagrees with trials.csv"
import csv, json, math, sys
rows = list(csv.DictReader(open(sys.argv[1] + "/trials.csv")))
summary = json.load(open(sys.argv[1] + "/summary.json"))
assert summary["ranked_by"] == "val_loss", summary["ranked_by"]
stats = {}
for s in ("1", "2"):
    x = [float(r["final_val_loss"]) for r in rows if r["setting"] == s]
    m = sum(x) / len(x)
    sd = math.sqrt(sum((v - m) ** 2 for v in x) / (len(x) - 1))
    stats[s] = (m, sd, m - 4.3027 * sd / math.sqrt(3), m + 4.3027 * sd / math.sqrt(3))
best = min(stats, key=lambda s: stats[s][0])
assert best == "2", stats
for rank, one in enumerate(summary["settings"], 1):
    assert one["rank"] == rank
    got = one["metrics"]["val_loss"]
    m, sd, lo, hi = stats[str(one["setting"])]
    assert got["n"] == 3 and abs(got["mean"] - m) < 1e-6 and abs(got["sd"] - sd) < 1e-6, (got, m, sd)
    assert abs(got["ci95_low"] - lo) < 1e-5 and abs(got["ci95_high"] - hi) < 1e-5, (got, lo, hi)
assert summary["settings"][0]["setting"] == 2 and summary["settings"][0]["values"]["optimizer.lr"] == "0.01"
table = [l.split() for l in open(sys.argv[2]) if l[:2] in ("1 ", "2 ")]
assert [t[1] for t in table] == ["s2", "s1"], table
assert abs(float(table[0][3]) - stats["2"][0]) < 1e-5 * stats["2"][0], table
PY

# a trial is the experiment run alone with its seed and values: bitwise, on 2 ranks and on 1
mpi 2 -- "$DPTRAIN" train base.ini --set run.seed=43 --set optimizer.lr=0.01 --set run.dir="$TMP/alone2" > a2.txt 2>&1 \
  || { cat a2.txt; fail "the run alone failed"; }
"$CKPTDIFF" "$(last_ckpt "$TMP/alone2/default")" "$(last_ckpt "$S/s2-seed43")" bitwise \
  || fail "trial s2-seed43 differs from the same run alone on 2 ranks"
"$DPTRAIN" train base.ini --set run.seed=42 --set optimizer.lr=0.003 --set run.dir="$TMP/alone1" > a1.txt 2>&1 \
  || { cat a1.txt; fail "the run alone failed"; }
"$CKPTDIFF" "$(last_ckpt "$TMP/alone1/default")" "$(last_ckpt "$S/s1-seed42")" bitwise \
  || fail "trial s1-seed42 differs from the same run alone on 1 rank"

# --resume auto: finished trials are skipped; one cut off (no trial.json, no last checkpoint) resumes
# from its checkpoint and ends as it did
rm "$S/s1-seed43/trial.json" "$S/s1-seed43/checkpoints/step-0000000040.safetensors"
cp "$S/trials.csv" first.csv
mpi 4 -- "$DPTRAIN" study lr.ini --resume auto > resumed.txt 2>&1 || { cat resumed.txt; fail "the resumed study failed"; }
[ "$(grep -c 'finished in an earlier job (trial.json): skipped' resumed.txt)" = 5 ] \
  || { cat resumed.txt; fail "expected 5 trials skipped"; }
expect_contains resumed.txt "resumed from $S/s1-seed43/checkpoints/step-0000000020.safetensors at step 20"
cut -d, -f1-6,8- first.csv > a.csv; cut -d, -f1-6,8- "$S/trials.csv" > b.csv  # all but wall_s
cmp -s a.csv b.csv || { diff a.csv b.csv; fail "the resumed study's trials.csv differs"; }

# a trial that diverges is recorded as failed; the study goes on and ends with status 0
cat > diverge.ini <<INI
[study]
base = $TMP/base.ini
[sweep]
optimizer.lr = 0.01, 1e30, 0.003
INI
mpi 2 -- "$DPTRAIN" study diverge.ini > d.txt 2>&1 || { cat d.txt; fail "a failed trial stopped the study"; }
expect_contains d.txt "dptrain: study: trial s2-seed42 failed (the study goes on): non-finite loss at step"
expect_contains "$TMP/runs/diverge/trials.csv" "s2-seed42,2,1e30,42,failed,"
[ "$(grep -c ',done,' "$TMP/runs/diverge/trials.csv")" = 2 ] || fail "the other two trials did not finish"
expect_contains d.txt "3 trials, 2 done, 1 failed"
echo ok
