#!/usr/bin/env bash
# scripts/path-identity.sh [BASE] [BIN]: issue #16's harness. Builds commit BASE (default 65f24c3)
# in a scratch worktree, runs a fixed list of small runs covering every reduction path and switch
# with that dptrain and with BIN (default build/dptrain), and compares each pair: every tensor of
# the final checkpoint and its training position (bitwise, tests/mpi/ckptdiff.c `all`) and
# metrics.jsonl without its timing fields. One line per run, then the counts; exit 1 if any differ.
# Not part of `make test`: it takes a few minutes (`make path-identity BASE=...`). ONLY=TEXT runs
# only the runs whose name holds TEXT.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
BASE=${1:-65f24c3}
BIN=$(realpath "${2:-build/dptrain}")
BUILD=${BUILD:-build}
. tests/lib.sh # mpi (timeout, oversubscribe, yield_when_idle, one BLAS thread), make_blobs, $TMP
SCRATCH=$ROOT/$BUILD/path-identity
BASE_TREE=$SCRATCH/base
export MPI_TIMEOUT=${MPI_TIMEOUT:-120}

cleanup() {
  git worktree remove --force "$BASE_TREE" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$BIN" ] || fail "$BIN: no such program (make all first)"
[ -x "$CKPTDIFF" ] || fail "$CKPTDIFF: no such program (make all first)"
commit=$(git rev-parse --verify --quiet "$BASE^{commit}") || fail "$BASE: not a commit"
echo "path-identity: building $BASE ($(git log -1 --format=%h "$commit")) in $BASE_TREE" >&2
mkdir -p "$SCRATCH"
git worktree remove --force "$BASE_TREE" 2>/dev/null || rm -rf "$BASE_TREE"
git worktree add --quiet --detach "$BASE_TREE" "$commit"
make -C "$BASE_TREE" -j2 all > "$SCRATCH/base-build.log" 2>&1 \
  || { tail -20 "$SCRATCH/base-build.log"; fail "building $BASE failed (log: $SCRATCH/base-build.log)"; }
BASE_BIN=$BASE_TREE/build/dptrain

# The data: separable blobs; a copy with one row whose huge feature overflows its batch's gradient
# (nonfinite = skip skips exactly the steps that meet it).
make_blobs "$TMP/blobs.csv" 600
{ cat "$TMP/blobs.csv"; echo "3e38,3e38,-3e38,3e38,1"; } > "$TMP/overflow.csv"
make_blobs "$TMP/many.csv" 3000 # 1500 validation rows: 6 evaluation chunks
cat > "$TMP/exp.ini" <<INI
[data]
train = $TMP/blobs.csv
val_fraction = 0.2
[model]
layers = dense 128, relu, dense 64, relu, dense 3
[loss]
kind = cross_entropy
[optimizer]
kind = adam
lr = 0.01
[training]
steps = 30
batch = 60
eval_every = 7
[checkpoint]
every_steps = 5
keep_last = 100
INI

BIG=(--set "model.layers=dense 1024, relu, dense 1024, relu, dense 3") # over 2^20 parameters
nsame=0 ndiff=0

# path LOG: the reduction the run's start line names.
path() { sed -n 's/^dptrain [^:]*: .* rank[s]*[^(]* (\(.*\)), [0-9]* parameters.*/\1/p' "$1" | head -1; }

# train SIDE BINARY NAME NP MPIOPTS [ARGS...]: one run into $TMP/SIDE/runs/NAME, its log $TMP/SIDE/NAME.log.
train() {
  local side=$1 bin=$2 name=$3 np=$4 opts=$5; shift 5
  local -a mo=()
  [ -z "$opts" ] || read -ra mo <<< "$opts"
  mkdir -p "$TMP/$side"
  (cd "$TMP/$side" && mpi "$np" "${mo[@]}" -- "$bin" train "$TMP/exp.ini" --set run.name="$name" "$@") \
    > "$TMP/$side/$name.log" 2>&1
}

# metrics FILE: metrics.jsonl without the wall-clock fields.
metrics() { sed -E 's/"(samples_per_s|elapsed_s)": ?[^,}]*(, ?)?//g; s/, ?}/}/' "$1"; }

# compare NAME: the two sides' final checkpoints and metrics.
compare() {
  local name=$1 b=$TMP/base/runs/$1 c=$TMP/now/runs/$1 why pb pc
  pb=$(path "$TMP/base/$name.log") pc=$(path "$TMP/now/$name.log")
  [ "$pb" = "$pc" ] || pc="$pb -> $pc"
  if ! why=$("$CKPTDIFF" "$(last_ckpt "$b")" "$(last_ckpt "$c")" all 2>&1); then
    echo "DIFFERS $name: $why  (path: $pc)"
    ndiff=$((ndiff + 1))
  elif ! cmp -s <(metrics "$b/metrics.jsonl") <(metrics "$c/metrics.jsonl"); then
    why=$(diff <(metrics "$b/metrics.jsonl") <(metrics "$c/metrics.jsonl") | grep -m1 '^[0-9]' || true)
    echo "DIFFERS $name: metrics.jsonl (lines $why; checkpoints bit-identical)  (path: $pc)"
    diff <(metrics "$b/metrics.jsonl") <(metrics "$c/metrics.jsonl") | grep '^[<>]' | head -2 | cut -c1-200 \
      | sed 's/^</    base:/; s/^>/    now: /' || true
    ndiff=$((ndiff + 1))
  else
    echo "same    $name  (path: $pc)"
    nsame=$((nsame + 1))
  fi
}

# run NAME NP MPIOPTS [ARGS...]: the run with both binaries, then the comparison; a run that fails
# on either side differs (its log is shown).
run() {
  local name=$1 side bin ok=1
  [[ "$name" == *${ONLY:-}* ]] || return 0
  for side in base now; do
    bin=$BASE_BIN; [ $side = base ] || bin=$BIN
    if ! train $side "$bin" "$@" || ! ls "$TMP/$side/runs/$name"/checkpoints/step-*.safetensors > /dev/null 2>&1; then
      echo "DIFFERS $name: the $side run failed:"; { tail -5 "$TMP/$side/$name.log" | sed 's/^/    /'; } 2>&1 || true
      ok=0
    fi
  done
  if [ $ok = 1 ]; then compare "$name"; else ndiff=$((ndiff + 1)); fi
}

# resume NAME NP [ARGS...]: each binary trains NAME-full, then NAME continues from its step-15
# checkpoint with --resume auto (what is compared is the resumed run).
resume() {
  local name=$1 np=$2 side bin ok=1; shift 2
  [[ "$name" == *${ONLY:-}* ]] || return 0
  for side in base now; do
    bin=$BASE_BIN; [ $side = base ] || bin=$BIN
    mkdir -p "$TMP/$side/runs/$name/checkpoints"
    if train $side "$bin" "$name-full" "$np" "" "$@" &&
       cp "$TMP/$side/runs/$name-full/checkpoints/step-0000000015.safetensors" "$TMP/$side/runs/$name/checkpoints/" &&
       train $side "$bin" "$name" "$np" "" --resume auto "$@" &&
       grep -q "resumed from" "$TMP/$side/$name.log"; then :; else
      echo "DIFFERS $name: the $side run failed:"; { tail -5 "$TMP/$side/$name.log" | sed 's/^/    /'; } 2>&1 || true
      ok=0
    fi
  done
  if [ $ok = 1 ]; then compare "$name"; else ndiff=$((ndiff + 1)); fi
}

BLOCKING=(--set training.bucket_mb=0 --set training.shard_optimizer=false)
TCP=$(mpi_force_tcp)
run one-rank             1 ""
run blocking-2           2 "" "${BLOCKING[@]}"
run bucketed-2           2 "" --set training.bucket_mb=0.01
run shards-mpi-2         2 "" --set training.bucket_mb=0 --set training.shared_memory=false
run shards-shm-2         2 ""
run default-3            3 ""
run default-4            4 ""
run blocking-3           3 "" "${BLOCKING[@]}"
run blocking-4           4 "" "${BLOCKING[@]}"
run tcp-shards-2         2 "$TCP" --set training.shared_memory=false
run tcp-bucketed-2       2 "$TCP" --set training.bucket_mb=0.01
for np in 1 2 4; do
  run det-$np            $np "" --set training.deterministic=true
  run det-noshard-$np    $np "" --set training.deterministic=true --set training.shard_optimizer=false
done
run det-eval-chunks-4   4 "" --set training.deterministic=true --set data.train="$TMP/many.csv" \
                              --set data.val_fraction=0.5
run skip-2               2 "" --set data.train="$TMP/overflow.csv" --set data.val_fraction=0 \
                              --set training.nonfinite=skip
run skip-blocking-2      2 "" --set data.train="$TMP/overflow.csv" --set data.val_fraction=0 \
                              --set training.nonfinite=skip "${BLOCKING[@]}"
# Both sides must have skipped steps, or the runs above do not cover the skip path.
for name in skip-2 skip-blocking-2; do
  [[ "$name" == *${ONLY:-}* ]] || continue
  for side in base now; do
    grep -q "step skipped" "$TMP/$side/$name.log" || { echo "DIFFERS $name: the $side run skipped no step"; ndiff=$((ndiff + 1)); }
  done
done
run clip-2               2 "" --set optimizer.clip_norm=0.5
run clip-blocking-2      2 "" --set optimizer.clip_norm=0.5 "${BLOCKING[@]}"
run penalties-1          1 "" --set regularization.l1=0.001 --set regularization.l2=0.01
run penalties-shards-2   2 "" --set regularization.l1=0.001 --set regularization.l2=0.01
run penalties-blocking-2 2 "" --set regularization.l1=0.001 --set regularization.l2=0.01 "${BLOCKING[@]}"
run penalties-det-2      2 "" --set regularization.l2=0.01 --set training.deterministic=true
run accumulation-2       2 "" --set training.accumulation=3
run threads-fused-2      2 "" "${BIG[@]}" --set training.update_threads=2 --set training.steps=4
run threads-twopass-2    2 "" "${BIG[@]}" --set training.update_threads=2 --set training.steps=4 \
                              --set optimizer.clip_norm=1
run threads-fused-1      1 "" "${BIG[@]}" --set training.update_threads=2 --set training.steps=4
resume resume-shards-2   2
resume resume-blocking-2 2 "${BLOCKING[@]}"

echo "$nsame same, $ndiff differ"
[ "$ndiff" -eq 0 ]
