# run.init_seed and run.data_seed: independent streams for the initial parameters and for the
# data (split, order), each following run.seed when auto. run.seed = 7 is bitwise the run with
# run.seed = 42 and both streams set to 7 (no use of a seed was left on run.seed); each stream
# alone changes the result.
. tests/lib.sh
cd "$TMP"
blobs_experiment exp.ini 240 "dense 6, relu, dense 3" 30 24 <<'INI'
deterministic = true
INI
run() { local name=$1; shift
  "$DPTRAIN" train exp.ini --set run.name="$name" "$@" > "$name.txt" 2>&1 || { cat "$name.txt"; fail "run $name failed"; }
}
run seed7 --set run.seed=7
run both7 --set run.seed=42 --set run.init_seed=7 --set run.data_seed=7
run init7 --set run.seed=42 --set run.init_seed=7
run data7 --set run.seed=42 --set run.data_seed=7
run seed42
expect_contains runs/seed42/config.ini "init_seed = auto"
expect_contains runs/both7/config.ini "data_seed = 7"
c() { last_ckpt "runs/$1"; }
"$CKPTDIFF" "$(c seed7)" "$(c both7)" bitwise || fail "run.seed = 7 differs from init_seed = data_seed = 7"
for r in init7 data7 seed42; do
  if "$CKPTDIFF" "$(c seed7)" "$(c $r)" bitwise > /dev/null; then fail "$r equals seed7: a seed has no effect"; fi
done
if "$CKPTDIFF" "$(c init7)" "$(c data7)" bitwise > /dev/null; then fail "init7 equals data7"; fi
# 2^64 - 1 marks auto inside, so it is no seed of these two keys
expect_fail_set() { set +e; "$DPTRAIN" train exp.ini --set "$1" > bad.txt 2>&1; local rc=$?; set -e
  [ "$rc" -ne 0 ] || fail "--set $1 accepted"; expect_contains bad.txt "$2"; }
expect_fail_set run.init_seed=18446744073709551615 "expected auto or an integer in [0, 18446744073709551614]"
expect_fail_set run.data_seed=-1 "expected auto or an integer"
echo ok
