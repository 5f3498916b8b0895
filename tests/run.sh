#!/usr/bin/env bash
# Runs every script test of one kind (tests/mpi/t_*.sh or tests/cli/t_*.sh), each under a time
# limit, TEST_JOBS of them at once (default 2: most of a test's time is launching ranks and
# waiting for them, not computing), and closes with "N passed, N failed". Each test's output is
# kept apart and shown when it ends: its PASS/FAIL line, SKIPPED/MEASURED lines, a failure's tail.
set -u
kind=$1; shift
for a in "$@"; do export "$a"; done
export BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
jobs_max=${TEST_JOBS:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pass=0; fail=0; failed=(); running=()

# run_one T NAME: runs test T in the background; its status and seconds land in $out/NAME.rc.
run_one() {
  local start
  start=$(date +%s)
  timeout 300 bash "$1" > "$out/$2.log" 2>&1
  echo "$? $(( $(date +%s) - start ))" > "$out/$2.rc.tmp"
  mv "$out/$2.rc.tmp" "$out/$2.rc"
}

# show NAME: reports a finished test once.
show() {
  local name=$1 rc secs
  read -r rc secs < "$out/$name.rc"
  if [ "$rc" -eq 0 ]; then
    pass=$((pass + 1)); echo "PASS $name (${secs}s)"
    grep -E '^(SKIPPED|MEASURED)' "$out/$name.log" | sed 's/^/    /' || true
  else
    fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name (${secs}s)"
    sed 's/^/    /' "$out/$name.log" | tail -40
  fi
}

# collect: shows every test that has finished since the last call; leaves the others running.
collect() {
  local left=() name
  for name in "${running[@]}"; do
    if [ -e "$out/$name.rc" ]; then show "$name"; else left+=("$name"); fi
  done
  running=("${left[@]}")
}

for t in tests/"$kind"/t_*.sh; do
  [ -e "$t" ] || continue
  [ -z "${ONLY:-}" ] || [[ "$t" == *"$ONLY"* ]] || continue
  name=${t#tests/}
  if [[ " ${SKIP:-} " == *" $(basename "$t" .sh) "* ]]; then # SKIP="t_a t_b": not in this stage
    echo "SKIPPED $name (not in this stage)"; continue
  fi
  mkdir -p "$out/$(dirname "$name")"
  while [ "${#running[@]}" -ge "$jobs_max" ]; do
    wait -n 2> /dev/null || true
    collect
  done
  run_one "$t" "$name" &
  running+=("$name")
done
wait
collect
echo "$kind${ONLY:+ ($ONLY)}: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
