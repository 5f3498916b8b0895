# The reproductions of launch/configs/reproduce/: every study file builds and checks all its
# trials (dptrain study --dry-run, nothing trained), and scripts/reproduce.sh --quick runs the
# linear regression's study and prints the reference against the measured mean +- sd and n.
. tests/lib.sh
for f in "$ROOT"/launch/configs/reproduce/*.ini; do
  "$DPTRAIN" study "$f" --dry-run > "$TMP/dry.txt" 2>&1 || { cat "$TMP/dry.txt"; fail "$f does not parse"; }
  expect_contains "$TMP/dry.txt" "(dry run: nothing trained)"
  grep -q '^; reproduce: metric = ' "$f" || fail "$f: no '; reproduce: metric' line"
  grep -q '^; reproduce: quick = ' "$f" || fail "$f: no '; reproduce: quick' line"
done
expect_contains "$TMP/dry.txt" "s4-seed3  model.layers=dense 10  regularization.l2=1.6667e-5  run.seed=3"
DPTRAIN=$DPTRAIN "$ROOT/scripts/reproduce.sh" linreg-ols --quick --dir "$TMP/runs" > "$TMP/quick.txt" 2>&1 \
  || { cat "$TMP/quick.txt"; fail "reproduce.sh --quick failed"; }
expect_contains "$TMP/quick.txt" "linreg-ols: train_loss of each setting"
expect_contains "$TMP/quick.txt" "[--quick: a smoke run, not a measurement]"
grep -Eq '^s1 +least-squares MSE .* 0\.211364286 +[0-9.]+ \+- [0-9.e-]+ +3 ' "$TMP/quick.txt" \
  || { cat "$TMP/quick.txt"; fail "no row of reference, mean +- sd and n"; }
[ -f "$TMP/runs/quick/linreg-ols/summary.json" ] || fail "the quick run is not under --dir"
"$ROOT/scripts/reproduce.sh" no-such-study > "$TMP/none.txt" 2>&1 && fail "an unknown study ran"
expect_contains "$TMP/none.txt" "no-such-study: no study"
exit 0
