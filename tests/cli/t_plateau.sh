# schedule.kind = plateau in a run: the rate is cut when the validation loss stalls (a relative
# threshold of 0.3 makes most evaluations count as stalls), the cut is told, and its state
# (rate, best, bad evaluations, cooldown) travels in checkpoints: a run resumed from a checkpoint
# taken after cuts, in the middle of a stall and a cooldown, ends bitwise as the uninterrupted
# one, with the same rates in metrics.jsonl. Also: plateau without a validation set is refused.
. tests/lib.sh
cd "$TMP"
blobs_experiment exp.ini 150 "dense 8, relu, dense 3" 48 20 <<'INI'
eval_every = 3
[optimizer]
lr = 0.05
[schedule]
kind = plateau
factor = 0.5
patience = 1
threshold = 0.3
cooldown = 1
min_lr = 0.01
[checkpoint]
every_steps = 9
keep_last = 100
INI
"$DPTRAIN" train exp.ini --set run.name=full > full.log 2>&1 || { cat full.log; fail "full run"; }
expect_contains full.log "schedule: plateau: val_loss stalled for 2 evaluations; learning rate lowered to 0.025 after step"
# lrs STEP FILE: the rate of each metrics line after STEP, one per line.
lrs() { $PY -c 'import json,sys
for l in open(sys.argv[2]):
    d = json.loads(l)
    if d["step"] > int(sys.argv[1]): print(d["step"], repr(d["lr"]))' "$1" "$2"; }
lrs 0 runs/full/metrics.jsonl > full.lrs
# Several cuts, down to the floor min_lr and no lower.
[ "$(cut -d' ' -f2 full.lrs | sort -u | wc -l)" -ge 4 ] || { cat full.lrs; fail "expected at least 3 cuts"; }
[ "$(tail -1 full.lrs | cut -d' ' -f2)" = 0.01 ] || { cat full.lrs; fail "the rate should end at min_lr"; }
# Resume from step 27, after cuts (the checkpoint must carry the plateau's state).
mkdir -p runs/part/checkpoints
cp runs/full/checkpoints/step-0000000027.safetensors runs/part/checkpoints/
"$DPTRAIN" train exp.ini --set run.name=part --resume auto > part.log 2>&1 || { cat part.log; fail "resume"; }
expect_contains part.log "at step 27"
"$CKPTDIFF" "$(last_ckpt runs/full)" "$(last_ckpt runs/part)" bitwise || fail "the resumed run differs"
diff <(lrs 27 runs/full/metrics.jsonl) <(lrs 27 runs/part/metrics.jsonl) || fail "rates after the resume differ"
# Nothing to watch: refused before training, naming the key.
if "$DPTRAIN" train exp.ini --set data.val_fraction=0 --set run.name=noval > noval.log 2>&1; then
  fail "plateau without validation accepted"
fi
expect_contains noval.log "schedule.kind = 'plateau': watches the validation metric (early_stopping.metric = val_loss), but there is no validation set"
