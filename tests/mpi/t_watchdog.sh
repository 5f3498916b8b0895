# A rank that stops responding (SIGSTOP here; a dead link or a hung node alike) must not hang
# the job: the other rank's watchdog (training.timeout) ends it within the timeout plus a few
# seconds, naming the step and what it waited for, with a non-zero status.
. tests/lib.sh
cd "$TMP"
stopped=""
# The stopped rank is this test's own: let it go and end it whatever happens.
trap 'if [ -n "$stopped" ]; then kill -CONT "$stopped" 2>/dev/null || :; kill -KILL "$stopped" 2>/dev/null || :; fi
      rm -rf "$TMP"' EXIT
# Epochs of 10 000 steps: a stop lands in a step, seldom at an epoch's end, whose barrier after
# rank 0's writes gets ten times the timeout.
MPI_TIMEOUT=90 mpi 2 -- "$DPTRAIN" train --set training.timeout=5 --set training.epochs=1000000 \
  --set training.batch=10 --set data.synthetic_samples=100000 --set training.log_every=100 \
  --set run.dir="$TMP/runs" --set run.name=wd > out.txt 2> err.txt &
job=$!
# up to 60 s: under ASan on a machine whose cores other work keeps busy, 30 s was seen too few
for _ in $(seq 1 300); do [ -s runs/wd/metrics.jsonl ] && break; sleep 0.2; done
[ -s runs/wd/metrics.jsonl ] || { cat err.txt; fail "the run did not start training"; }
exe=$(realpath "$DPTRAIN")
for p in $(pgrep -f -- "$TMP/runs"); do
  [ "$(realpath "/proc/$p/exe" 2>/dev/null)" = "$exe" ] || continue
  # Open MPI and MPICH's Hydra each name the rank in the environment
  tr '\0' '\n' < "/proc/$p/environ" | grep -qx -e OMPI_COMM_WORLD_RANK=1 -e PMI_RANK=1 && stopped=$p
done
[ -n "$stopped" ] || fail "rank 1's process not found"
kill -STOP "$stopped"
start=$(date +%s)
set +e
wait "$job"
rc=$?
set -e
elapsed=$(( $(date +%s) - start ))
echo "job status $rc, $elapsed s after the stop"
cat err.txt
[ "$rc" -ne 124 ] || fail "the job hung until the test's time limit"
[ "$rc" -ne 0 ] || fail "the job exited 0"
[ "$elapsed" -le 15 ] || fail "the job ended $elapsed s after the stop (timeout 5 s)"
expect_contains err.txt "dptrain: rank 0: no progress for 5 s in step "
expect_contains err.txt "(waiting for the other ranks in "

# The stopped rank of the aborted job is gone before the next part looks for processes.
kill -CONT "$stopped" 2>/dev/null || :
kill -KILL "$stopped" 2>/dev/null || :
for _ in $(seq 1 50); do kill -0 "$stopped" 2>/dev/null || break; sleep 0.1; done

# A rank that is itself stopped and continued (Ctrl-Z and fg, a debugger) with no one waiting
# for it keeps training: the time it was stopped does not count against it.
stopped=""
MPI_TIMEOUT=90 mpi 1 -- "$DPTRAIN" train --set training.timeout=2 --set training.epochs=1000000 \
  --set training.steps=1000000000 --set training.batch=10 --set data.synthetic_samples=1000 \
  --set training.log_every=100 --set run.dir="$TMP/alone" --set run.name=alone > out1.txt 2> err1.txt &
job=$!
for _ in $(seq 1 300); do [ -s alone/alone/metrics.jsonl ] && break; sleep 0.2; done
for p in $(pgrep -f -- "$TMP/alone"); do
  [ "$(realpath "/proc/$p/exe" 2>/dev/null)" = "$exe" ] && stopped=$p
done
[ -n "$stopped" ] || fail "the rank's process not found"
kill -STOP "$stopped"
sleep 4
kill -CONT "$stopped"
sleep 2
kill -0 "$stopped" 2>/dev/null || { cat err1.txt; fail "the rank ended after it was continued"; }
! grep -q "no progress" err1.txt || { cat err1.txt; fail "the watchdog counted the rank's own stop"; }
kill -TERM "$stopped"
wait "$job" || true
