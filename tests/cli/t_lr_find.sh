# dptrain lr-find on a problem whose right rate is known. Linear regression on one standardized
# feature (data.synthetic = linreg, y = 2x + 0.5 noise) with full-batch gradient descent: the loss
# mean((w x + b - y)^2) has the Hessian 2 [[mean x^2, mean x], [mean x, 1]] = 2 I, so
# lambda_max = 2: descent converges only for lr < 2 / lambda_max = 1 and fastest at
# 1 / lambda_max = 0.5 (one step to the minimum). The suggestion must lie below 1 and within 10x
# of 0.5 (>= 0.05); the test must stop on the divergence, past the suggestion. On 2 ranks (both
# take the same rates; rank 0 writes), no checkpoint saved. Then the option errors.
. tests/lib.sh
cd "$TMP"
cat > lin.ini <<'INI'
[data]
synthetic = linreg
task = regress
standardize = true
[optimizer]
kind = gd
[training]
epochs = 10
[run]
name = lin
INI
mpi 2 -- "$DPTRAIN" lr-find lin.ini --min 1e-4 --max 100 --steps 100 > find.log 2>&1 || { cat find.log; fail "lr-find"; }
expect_contains find.log "how to read it:"
[ -s runs/lin/lr_find.csv ] || fail "no lr_find.csv"
[ "$(head -1 runs/lin/lr_find.csv)" = "step,lr,loss,smoothed" ] || fail "lr_find.csv header: $(head -1 runs/lin/lr_find.csv)"
if command -v gnuplot > /dev/null; then
  [ -s runs/lin/lr_find.png ] || fail "gnuplot is installed but there is no lr_find.png"
else
  expect_contains find.log "gnuplot is not installed: no lr_find.png"
fi
[ ! -e runs/lin/checkpoints ] && ! ls runs/lin | grep -q safetensors || fail "lr-find saved a checkpoint"
suggested=$(awk '/^suggested learning rate:/ { print $4 }' find.log)
$PY - "$suggested" runs/lin/lr_find.csv <<'PYEOF' || fail "suggestion $suggested"
import csv, math, sys
s = float(sys.argv[1])
rows = list(csv.DictReader(open(sys.argv[2])))
lrs = [float(r["lr"]) for r in rows]
assert all(b > a for a, b in zip(lrs, lrs[1:])), "rates not increasing"
assert abs(lrs[0] - 1e-4) < 1e-12 and abs(math.log10(lrs[1] / lrs[0]) - 6 / 99) < 1e-6, lrs[:2]
assert len(rows) < 100, "the sweep did not stop on the divergence"
stop = lrs[-1]
print("MEASURED lr-find suggestion %.3g, stopped at lr %.3g after %d steps" % (s, stop, len(rows)))
assert 0.05 <= s < 1 and s < stop, (s, stop)
PYEOF
# Option errors: one line each, non-zero exit, nothing run.
bad() {
  if "$DPTRAIN" lr-find lin.ini "$@" > bad.log 2>&1; then fail "accepted: $*"; fi
  [ "$(wc -l < bad.log)" -eq 1 ] || { cat bad.log; fail "not one line: $*"; }
}
bad --min 1 --max 1; expect_contains bad.log "--max 1: must be a finite number above --min 1"
bad --steps 1; expect_contains bad.log "--steps 1: needs at least 2 steps"
bad --min abc; expect_contains bad.log "--min 'abc' is not a number"
bad --steps 2.5; expect_contains bad.log "--steps '2.5': a whole number of at most"
bad --steps; expect_contains bad.log "--steps"
