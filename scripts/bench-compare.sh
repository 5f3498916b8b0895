#!/usr/bin/env bash
# Before and after, in one run: the training-step benchmark of commit BASE (built in a scratch
# worktree) and of this checkout's build, alternating configuration by configuration, each
# reduction path of each, with the ratio beside them. For a change meant to keep speed (a
# refactor), no ratio should fall below 1 beyond the noise, which the repeats show.
#   scripts/bench-compare.sh [BASE]        # BASE defaults to HEAD~1
#   BENCH_SECONDS=2 REPEATS=3 scripts/bench-compare.sh 65f24c3
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
base=${1:-HEAD~1}
secs=${BENCH_SECONDS:-1}
repeats=${REPEATS:-2}
new=$BUILD/bench/step_bench
[ -x "$new" ] || { echo "bench-compare: $new is not built (run make)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
sha=$(git rev-parse --short=12 "$base") || exit 2
wt=$BUILD/bench-compare/$sha
if [ ! -x "$wt/build/bench/step_bench" ]; then
  rm -rf "$wt"; git worktree prune
  git worktree add -q --detach "$wt" "$sha" || exit 2
  make -C "$wt" -j2 BUILD=build build/bench/step_bench > "$BUILD/bench-compare/$sha.log" 2>&1 \
    || { tail -5 "$BUILD/bench-compare/$sha.log"; echo "bench-compare: cannot build $sha" >&2; exit 2; }
fi
old=$wt/build/bench/step_bench

# figures BIN NP ARGS...: "label=samples/s" for every path one step_bench run times.
figures() {
  local bin=$1 np=$2; shift 2
  OPENBLAS_NUM_THREADS=1 timeout -k 5 300 mpirun --oversubscribe --mca mpi_yield_when_idle 1 -np "$np" \
    "$bin" --seconds "$secs" "$@" 2>&1 | awk '
    / samples\/s \(dpt_trainer_step\)/ { printf "as-configured=%s\n", $4 }
    /shards through MPI/ { sub(":", "", $0); for (i = 1; i <= NF; i++) if ($(i + 1) == "samples/s;") printf "mpi-shards=%s\n", $i }
    /training.deterministic with/ { printf "deterministic-%s-blocks=%s\n", $3, $5 }'
}

echo "== bench-compare: $sha (before) against $(git rev-parse --short=12 HEAD)$(git diff --quiet || echo '+changes') (after)"
echo "   $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg); ${secs}s per timed run, best of $repeats"
printf '%-40s %12s %12s %7s\n' "configuration / path" "before" "after" "ratio"
configs=(
  "1|--models 784-512-512-10 --batches 128"
  "1|--models 784-2048-2048-10 --batches 512 --threads 2"
  "2|--models 784-512-512-10 --batches 128 --det-blocks 8"
  "2|--models 784-2048-2048-10 --batches 512"
  "2|--models 784-512-512-10 --batches 128 --bucket-mb 0.5"
  "2|--models 784-512-512-10 --batches 128 --bucket-mb 0"
)
for c in "${configs[@]}"; do
  np=${c%%|*}; args=${c#*|}
  declare -A before=() after=()
  for ((k = 0; k < repeats; k++)); do
    for side in before after; do
      bin=$old; [ $side = after ] && bin=$new
      while IFS== read -r key v; do
        [ -n "$key" ] || continue
        if [ $side = before ]; then cur=${before[$key]:-0}; else cur=${after[$key]:-0}; fi
        awk -v a="$v" -v b="$cur" 'BEGIN { exit !(a > b) }' && { [ $side = before ] && before[$key]=$v || after[$key]=$v; }
      done < <(figures "$bin" "$np" $args)
    done
  done
  for key in "${!after[@]}"; do
    printf '%-40s %12.0f %12.0f %6.2fx\n' "${np}r $args: $key" "${before[$key]:-0}" "${after[$key]}" \
      "$(awk -v a="${after[$key]}" -v b="${before[$key]:-0}" 'BEGIN { print (b > 0 ? a / b : 0) }')"
  done
  unset before after
done
