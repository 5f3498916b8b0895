# Bad study files: one line naming file:line and key (with the nearest name), a non-zero exit on
# every rank before any trial runs.
. tests/lib.sh
cd "$TMP"
# expect_fail NP EXPECTED-TEXT STUDY-TEXT: dptrain study on NP ranks fails with EXPECTED-TEXT, once.
expect_fail() {
  local np=$1 want=$2
  printf '%b' "$3" > s.ini
  set +e
  mpi "$np" -- "$DPTRAIN" study s.ini > out.txt 2> err.txt
  local rc=$?
  set -e
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat err.txt; fail "expected a failure (status $rc) for: $3"; }
  expect_contains err.txt "$want"
  test "$(grep -c '^dptrain: rank' err.txt)" -eq 1 || { cat err.txt; fail "expected exactly one dptrain line"; }
  [ ! -e runs ] || fail "a refused study made its run directory"
}
B='[data]\nsynthetic = linreg\ntask = regress\n[training]\nepochs = 2\n'
expect_fail 2 "s.ini:3: unknown key study.ranks_per_rn; did you mean study.ranks_per_run?" \
  "[study]\nseeds = 2\nranks_per_rn = 2\n$B"
expect_fail 2 "s.ini:3: sweep: unknown key optimizer.leraning_rate; did you mean optimizer.lr?" \
  "[study]\n[sweep]\noptimizer.leraning_rate = 0.1, 0.01\n$B"
expect_fail 2 "s.ini:3: sweep key 'lr' is not an experiment key" "[study]\n[sweep]\nlr = 0.1, 0.01\n$B"
expect_fail 2 "s.ini:5: study.mode = zip pairs the sweep lists, but optimizer.kind has 3 values and optimizer.lr has 2" \
  "[study]\nmode = zip\n[sweep]\noptimizer.lr = 0.1, 0.01\noptimizer.kind = sgd, adam, rmsprop\n$B"
expect_fail 3 "s.ini:2: study.ranks_per_run = 2 does not divide the job's 3 ranks" "[study]\nranks_per_run = 2\n$B"
expect_fail 2 "s.ini:3: training.epochs=-1: expected an integer >= 0" "[study]\n[sweep]\ntraining.epochs = 2, -1\n$B"
expect_fail 2 "s.ini:8: unknown key training.epoch; did you mean training.epochs?" "[study]\nseeds = 2\n${B}epoch = 3\n"
expect_fail 2 "nothere.ini: cannot open" "[study]\nbase = nothere.ini\n"
expect_fail 2 "s.ini: no [study] section" "$B"
expect_fail 2 "s.ini:3: sweep optimizer.lr = '0.1, \"0.01': a quote that is not closed" \
  "[study]\n[sweep]\noptimizer.lr = 0.1, \"0.01\n$B"
# Option errors: one line naming the option, nothing run.
printf '[study]\n%b' "$B" > s.ini
if "$DPTRAIN" study s.ini --set > opt.txt 2>&1; then fail "study accepted --set without a value"; fi
expect_contains opt.txt "study: --set needs a value"
# A trial's run.name is its own (s1-seed42...): an override would send every trial to one directory.
if "$DPTRAIN" study s.ini --set " run.name = x" > opt.txt 2>&1; then fail "study accepted --set run.name"; fi
expect_contains opt.txt "dptrain: rank 0: --set  run.name = x: each trial names its own run"
# One --set beyond the 64 a command takes, on 2 ranks: one line, nothing run.
sets=(); for i in $(seq 65); do sets+=(--set training.epochs=$i); done
set +e
mpi 2 -- "$DPTRAIN" study s.ini "${sets[@]}" > opt.txt 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat opt.txt; fail "study with 65 --set: status $rc"; }
expect_contains opt.txt "dptrain: rank 0: --set training.epochs=65: more than 64 --set options"
test "$(grep -c '^dptrain: rank' opt.txt)" -eq 1 || { cat opt.txt; fail "expected exactly one dptrain line"; }
[ ! -e runs ] || fail "a refused study made its run directory"
echo ok
