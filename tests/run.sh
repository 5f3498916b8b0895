#!/usr/bin/env bash
# Runs every script test of one kind (tests/mpi/t_*.sh or tests/cli/t_*.sh),
# each under a time limit, and closes with "N passed, N failed".
set -u
kind=$1; shift
for a in "$@"; do export "$a"; done
export BUILD=${BUILD:-build}
cd "$(dirname "$0")/.."
pass=0; fail=0; failed=()
for t in tests/"$kind"/t_*.sh; do
  [ -e "$t" ] || continue
  [ -z "${ONLY:-}" ] || [[ "$t" == *"$ONLY"* ]] || continue
  name=${t#tests/}
  if [[ " ${SKIP:-} " == *" $(basename "$t" .sh) "* ]]; then # SKIP="t_a t_b": not in this stage
    echo "SKIPPED $name (not in this stage)"; continue
  fi
  log=$(mktemp)
  start=$(date +%s)
  if timeout 300 bash "$t" >"$log" 2>&1; then
    pass=$((pass + 1)); echo "PASS $name ($(( $(date +%s) - start ))s)"
    grep -E '^(SKIPPED|MEASURED)' "$log" | sed 's/^/    /' || true
  else
    fail=$((fail + 1)); failed+=("$name"); echo "FAIL $name ($(( $(date +%s) - start ))s)"
    sed 's/^/    /' "$log" | tail -40
  fi
  rm -f "$log"
done
echo "$kind${ONLY:+ ($ONLY)}: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
