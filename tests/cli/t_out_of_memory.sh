# Out of memory is a clean error, never a crash, an MPI_Abort or a hang. Allocations of dptrain's
# own code are made to fail (tests/shim/failalloc.c through LD_PRELOAD): one at a time, each of
# eval's and predict's ends the command with exit 1 and one line, or leaves its output unchanged; in train, the folds' metrics, a checkpoint's configuration text and the trim of
# metrics.jsonl on --resume are told, and a rank that alone cannot allocate fails every rank.
. tests/lib.sh
SHIM=$ROOT/$BUILD/tests/failalloc.so
if ldd "$DPTRAIN" | grep libasan > /dev/null; then # no -q: an early exit would leave ldd a SIGPIPE (pipefail)
  skipped "out-of-memory injection under ASan" "the sanitizer's allocator must come first; LD_PRELOAD cannot replace it"
  exit 0
fi
[ -e "$SHIM" ] || fail "$SHIM missing (make all)"
cd "$TMP"
# 5 features: eval's chunk buffer (256 rows of 5 floats, 5120 bytes) is the only allocation of its size.
awk 'BEGIN { srand(5); print "a,b,c,d,e,label";
  for (i = 0; i < 300; i++) { k = i % 3;
    printf "%.3f,%.3f,%.3f,%.3f,%.3f,%d\n", k + rand(), rand() - k, rand(), 2 * k - rand(), rand(), k } }' > f5.csv
sed -n '2,41p' f5.csv | cut -d, -f1-5 > rows.csv # not head: its early exit can SIGPIPE the writer (pipefail)
cat > exp.ini <<'INI'
[data]
train = f5.csv
val_fraction = 0.2
[model]
layers = dense 13, relu, dense 3
[loss]
kind = cross_entropy
[training]
steps = 30
batch = 40
eval_every = 5
[checkpoint]
every_steps = 5
keep_last = 100
INI
"$DPTRAIN" train exp.ini --set run.name=good > good.log 2>&1 || { cat good.log; fail "training"; }
ck=runs/good/checkpoints/step-0000000030.safetensors

# failing NAME SPEC CMD...: runs CMD (one process) with the allocations SPEC names failing, into
# NAME.out, NAME.err and NAME.rc.
failing() {
  local name=$1 spec=$2; shift 2
  set +e
  DPT_FAILALLOC=$spec LD_PRELOAD=$SHIM timeout 60 "$@" > "$name.out" 2> "$name.err"
  echo $? > "$name.rc"
  set -e
}

# sweep NAME CMD...: fails each allocation of CMD's own code in turn; every run must either end
# with exit 1 and one line "dptrain: ..." on stderr, or succeed with the same output.
sweep() {
  local name=$1; shift
  "$@" > "$name.ref" 2> /dev/null || fail "$name: $* fails without injection"
  DPT_FAILALLOC_LOG=1 LD_PRELOAD=$SHIM "$@" 2>&1 > /dev/null | grep -c '^failalloc: [mcr]' > "$name.count" || true
  local n count rc
  count=$(cat "$name.count")
  [ "$count" -gt 5 ] || fail "$name: only $count allocations seen: is the shim working?"
  for n in $(seq 1 "$count"); do
    failing "$name-$n" "nth:$n" "$@"
    rc=$(cat "$name-$n.rc")
    if [ "$rc" -eq 0 ]; then
      cmp -s "$name.ref" "$name-$n.out" || fail "$name: allocation $n failed, exit 0, but the output changed"
    elif [ "$rc" -ne 1 ] || [ "$(wc -l < "$name-$n.err")" -ne 1 ] || ! grep -q '^dptrain: ' "$name-$n.err"; then
      cat "$name-$n.err"
      fail "$name: allocation $n of $count failed: exit $rc and the above instead of one line"
    fi
  done
  echo "$name: $count allocations failed in turn, each a clean end"
}
sweep eval "$DPTRAIN" eval "$ck"
sweep predict "$DPTRAIN" predict "$ck" rows.csv

# The chunk buffer of eval failing on rank 1 alone: every rank ends with exit 1, rank 1 named,
# and no rank aborts the job.
envs=(-x LD_PRELOAD="$SHIM" -x DPT_FAILALLOC=malloc:5120 -x DPT_FAILALLOC_RANK=1)
[ "$MPI_IMPL" != mpich ] || envs=(-genv LD_PRELOAD "$SHIM" -genv DPT_FAILALLOC malloc:5120 -genv DPT_FAILALLOC_RANK 1)
set +e
mpi 2 "${envs[@]}" -- "$DPTRAIN" eval "$ck" > two.out 2> two.err
rc=$?
set -e
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { cat two.err; fail "eval, rank 1 out of memory: exit $rc"; }
expect_contains two.err "dptrain: rank 1: eval: out of memory for 256 rows of 5 features"
! grep -q "MPI_ABORT" two.err || { cat two.err; fail "eval, rank 1 out of memory: the job was aborted"; }

# k-fold cross-validation: the folds' metrics (9 doubles twice: calloc of 72 bytes).
failing kfold calloc:72 "$DPTRAIN" train exp.ini --set run.name=kfold --set data.kfold=9 --set data.val_fraction=0 \
  --set checkpoint.every_steps=0
[ "$(cat kfold.rc)" -eq 1 ] || { cat kfold.err; fail "kfold: exit $(cat kfold.rc)"; }
expect_contains kfold.err "data.kfold = 9: out of memory for the folds' metrics"
! grep -q "MPI_ABORT" kfold.err || { cat kfold.err; fail "kfold: the job was aborted"; }

# memstreams NAME CMD...: how many open_memstream calls CMD makes.
memstreams() {
  local name=$1; shift
  DPT_FAILALLOC_LOG=1 LD_PRELOAD=$SHIM "$@" 2>&1 > /dev/null | grep -c '^failalloc: open_memstream' || true
}

# A checkpoint whose configuration text cannot be made is not saved, and says so: each
# open_memstream of a run fails in turn; none leaves a checkpoint without its configuration.
few=(--set checkpoint.every_steps=15 --set checkpoint.keep_best=false) # fewer runs to make
told=0
for k in $(seq 1 "$(memstreams ckpt "$DPTRAIN" train exp.ini "${few[@]}" --set run.name=ckpt)"); do
  rm -rf runs/ckpt
  failing ckpt-$k open_memstream:$k "$DPTRAIN" train exp.ini "${few[@]}" --set run.name=ckpt
  ! grep -q "MPI_ABORT" ckpt-$k.err || { cat ckpt-$k.err; fail "open_memstream $k: the job was aborted"; }
  ! grep -q "safetensors: not saved: out of memory for its configuration" ckpt-$k.err || told=1
  for f in runs/ckpt/checkpoints/*.safetensors; do
    [ -e "$f" ] || continue
    "$DPTRAIN" info "$f" > /dev/null 2>&1 || fail "open_memstream $k: a checkpoint without its configuration: $f"
  done
done
[ "$told" = 1 ] || fail "no run said 'not saved: out of memory for its configuration'"

# --resume from step 15 of a run that logged to step 30: metrics.jsonl must lose the lines after
# 15. Each open_memstream of the resumed run fails in turn (from a fresh copy of the run); the one
# of the trim stops the run with one line and leaves the file whole.
"$DPTRAIN" train exp.ini "${few[@]}" --set run.name=trim > trim-first.log 2>&1 || { cat trim-first.log; fail "training"; }
rm runs/trim/checkpoints/step-0000000030.safetensors
cp -a runs/trim trim.orig
told=0
for k in $(seq 1 "$(memstreams trim "$DPTRAIN" train exp.ini "${few[@]}" --set run.name=trim --resume auto)"); do
  rm -rf runs/trim
  cp -a trim.orig runs/trim
  failing trim-$k open_memstream:$k "$DPTRAIN" train exp.ini "${few[@]}" --set run.name=trim --resume auto
  grep -q "metrics.jsonl: cannot drop the lines after step 15: out of memory" trim-$k.err || continue
  told=1
  [ "$(cat trim-$k.rc)" -eq 1 ] || { cat trim-$k.err; fail "trim: exit $(cat trim-$k.rc)"; }
  test "$(wc -l < trim-$k.err)" -eq 1 || { cat trim-$k.err; fail "trim: more than one line"; }
  cmp -s trim.orig/metrics.jsonl runs/trim/metrics.jsonl || fail "trim: metrics.jsonl changed"
done
[ "$told" = 1 ] || fail "no resumed run said 'metrics.jsonl: cannot drop the lines after step 15: out of memory'"
echo "ok"
