# Bad experiments: one clear line naming file, line and key (with the closest
# valid key), a non-zero exit on every rank; --set wins over the file.
. tests/lib.sh
cd "$TMP"
# expect_fail NP EXPECTED-TEXT ARGS...: dptrain on NP ranks fails quickly with EXPECTED-TEXT on stderr.
expect_fail() {
  local np=$1 want=$2; shift 2
  set +e
  if [ "$np" -eq 0 ]; then "$DPTRAIN" "$@" > out.txt 2> err.txt; else mpi "$np" -- "$DPTRAIN" "$@" > out.txt 2> err.txt; fi
  local rc=$?
  set -e
  [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat err.txt; fail "expected a failure (status $rc) for: $*"; }
  expect_contains err.txt "$want"
  # One line from dptrain, from one rank.
  test "$(grep -c '^dptrain: rank' err.txt)" -eq 1 || { cat err.txt; fail "expected exactly one dptrain line"; }
}
printf '[optimizer]\nkind = adam\nleraning_rate = 0.1\n' > typo.ini
expect_fail 0 "typo.ini:3: unknown key optimizer.leraning_rate; did you mean optimizer.lr" train typo.ini
expect_fail 2 "typo.ini:3: unknown key optimizer.leraning_rate" train typo.ini
printf '[optimiser]\nkind = adam\n' > section.ini
expect_fail 2 "section.ini:1: unknown section [optimiser]; did you mean [optimizer]?" train section.ini
printf '[data]\nsynthetic = linreg\ntask = regress\n[training]\nbatch = -3\n' > value.ini
expect_fail 3 "value.ini:5: training.batch = '-3': expected an integer >= 0" train value.ini
printf '[data]\nsynthetic = linreg\ntask = regress\n[optimizer]\nkind = adamm\n' > kind.ini
expect_fail 0 "optimizer.kind = 'adamm': expected one of gd, sgd, adagrad, rmsprop, adam, adamw" train kind.ini
expect_fail 2 "nothere.ini: cannot open" train nothere.ini
expect_fail 2 "data.train: no training data" train --set data.synthetic=none
expect_fail 0 "--set training.epochs=ten" train --set training.epochs=ten
expect_fail 2 "missing.csv" train --set data.synthetic=none --set data.train=missing.csv
expect_fail 0 "unknown option '--sett'" train --sett x
sets=(); for i in $(seq 65); do sets+=(--set training.epochs=$i); done
expect_fail 0 "--set training.epochs=65: more than 64 --set options" train "${sets[@]}"
# A positive val_fraction that rounds to no row leaves plateau nothing to watch: refused by key,
# on 1 rank (no launcher) and 2.
for np in 0 2; do
  expect_fail $np "schedule.kind = plateau: data.val_fraction = 0.01 of 10 samples leaves no validation sample" \
    train --set data.synthetic_samples=10 --set data.val_fraction=0.01 --set schedule.kind=plateau
done
expect_fail 0 "early_stopping.patience: data.val_fraction = 0.01 of 10 samples leaves no validation sample" \
  train --set data.synthetic_samples=10 --set data.val_fraction=0.01 --set early_stopping.patience=2
# A model that does not fit the data is refused before training.
expect_fail 2 "the last layer has 3 outputs but each sample has 1 targets" train --set "model.layers=dense 3"
expect_fail 0 "training.accumulation: does not apply with training.deterministic" train \
  --set training.deterministic=true --set training.accumulation=2 --set training.batch=10
expect_fail 0 "optimizer.momentum: gd has no momentum" train --set optimizer.kind=gd --set optimizer.momentum=0.9
expect_fail 2 "training.sample_threads = 65: at most 64 threads" train --set training.sample_threads=65
# Fewer samples than ranks.
expect_fail 4 "3 training samples for 4 ranks" train --set data.synthetic_samples=3
# Values that make no sense are refused in one line naming the key, its value and file:line.
expect_fail 2 "--set model.layers=relu: no layer has parameters" train --set model.layers=relu
printf '[data]\nsynthetic = linreg\ntask = regress\n[optimizer]\nlr = 0x10\n' > hex.ini
expect_fail 0 "hex.ini:5: optimizer.lr = '0x10': expected auto or a number >= 0 (hexadecimal" train hex.ini
printf '[data]\nsynthetic = linreg\ntask = regress\n[optimizer]\nlr = 0.01\n[schedule]\nkind = cosine\nmin_lr = 0.1\n' > cos.ini
expect_fail 2 "cos.ini:8: schedule.min_lr = '0.1': above optimizer.lr = 0.01" train cos.ini
expect_fail 2 "--set schedule.warmup=1001: longer than the run's 1000 steps" train --set schedule.warmup=1001
printf '[data]\nsynthetic = linreg\ntask = regress\n[training]\nbatch = 101\n' > batch.ini
expect_fail 2 "batch.ini:5: training.batch = '101': larger than the 100 training samples" train batch.ini
expect_fail 0 "training.batch = '101': larger than the 100" train batch.ini --set data.drop_last=true
expect_fail 0 "larger than the 80 training samples (after the validation split)" train \
  --set training.batch=90 --set data.val_fraction=0.2
# An experiment path that is not a regular file: refused at once, never read.
expect_fail 2 "/dev/zero: is a device, not an experiment file" train /dev/zero
expect_fail 0 ": is a directory, not an experiment file" train "$TMP"
mkfifo fifo.ini
expect_fail 2 "fifo.ini: is a FIFO, not an experiment file" train fifo.ini
# A mistyped class label with data.classes = auto: the file and the sample, not model.layers.
make_blobs blobs.csv 60
awk -F, -v OFS=, 'NR == 13 { $5 = 200 } { print }' blobs.csv > labels.csv
expect_fail 2 "labels.csv: sample 11 (counting from 0) has class label 200, beyond the 3 outputs of model.layers" \
  train --set data.synthetic=none --set data.task=classify --set data.train=labels.csv \
  --set loss.kind=cross_entropy --set "model.layers=dense 3"
expect_fail 0 "--set model.layers=dense 5: the last layer has 5 outputs but data.classes is 3" \
  train --set data.synthetic=none --set data.task=classify --set data.train=blobs.csv --set data.classes=3 \
  --set loss.kind=cross_entropy --set "model.layers=dense 5"
# A key the chosen setting ignores: one warning, from rank 0 only; the run goes on.
mpi 2 -- "$DPTRAIN" train --set optimizer.momentum=0.9 --set training.epochs=2 --set run.name=warn > warn.txt 2> warn.err
test "$(grep -c '^dptrain: warning:' warn.err)" -eq 1 || { cat warn.err; fail "expected one warning"; }
expect_contains warn.err "dptrain: warning: --set optimizer.momentum=0.9 has no effect with optimizer.kind = adam"
expect_contains warn.txt "step 2/2"
# --set wins over the file, and config.ini records the resolved value.
printf '[data]\nsynthetic = linreg\ntask = regress\n[training]\nepochs = 7\n[run]\nname = setwins\n' > ok.ini
"$DPTRAIN" train ok.ini --set training.epochs=3 > ok.txt
grep -q '^epochs = 3$' runs/setwins/config.ini || fail "--set did not win over the file"
grep -q '^lr = 0.001$' runs/setwins/config.ini || fail "optimizer.lr auto not resolved to adam's 0.001"
expect_contains ok.txt "step 3/3"
