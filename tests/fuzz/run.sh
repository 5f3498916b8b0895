#!/usr/bin/env bash
# The fuzz harnesses' two runners (called by the Makefile):
#   tests/fuzz/run.sh replay BUILD        every file under tests/fuzz/NAME/ through BUILD/fuzz/replay_NAME
#   tests/fuzz/run.sh fuzz BUILD SECONDS  libFuzzer on each BUILD/fuzz/fuzz_NAME for SECONDS
# Both limit single allocations to 2 GB: a small file that asks for more is a finding.
set -u
mode=$1 build=$2 secs=${3:-60}
cd "$(dirname "$0")/../.."
names="config idx npy csv libsvm checkpoint"
pass=0 fail=0
if [ "$mode" = replay ]; then
  for h in $names; do
    out=$(ASAN_OPTIONS=max_allocation_size_mb=2048:allocator_may_return_null=0:detect_leaks=1 \
          UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$build/fuzz/replay_$h" "tests/fuzz/$h" 2>&1)
    echo "$out" | grep -v '^fuzz-replay' | tail -40
    line=$(echo "$out" | grep '^fuzz-replay' | tail -1)
    echo "${line:-fuzz-replay $h: did not finish}"
    p=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p'); f=$(echo "$line" | sed -n 's/.*, \([0-9]*\) failed/\1/p')
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-1}))
  done
  echo "fuzz-replay: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
fi
mkdir -p "$build/fuzz/artifacts"
for h in $names; do
  mkdir -p "$build/fuzz/corpus/$h"
  log="$build/fuzz/$h.log"
  # New inputs go to the first folder (build/, not committed); tests/fuzz/NAME seeds it.
  "$build/fuzz/fuzz_$h" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz/artifacts/$h-" \
    "$build/fuzz/corpus/$h" "tests/fuzz/$h" > "$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if [ $rc -eq 0 ]; then
    pass=$((pass + 1)); echo "fuzz $h: ${execs:-?} executions, ${cov:-cov: ?}, nothing found"
  else
    fail=$((fail + 1)); echo "fuzz $h: ${execs:-?} executions, ${cov:-cov: ?}, FOUND: $(grep -m1 -E 'ERROR|SUMMARY|out-of-memory|leak' "$log")"
    ls "$build/fuzz/artifacts/$h-"* 2>/dev/null | sed 's/^/    input: /'
  fi
done
echo "fuzz: $pass passed, $fail failed (logs in $build/fuzz/*.log)"
[ "$fail" -eq 0 ]
