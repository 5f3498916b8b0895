#!/usr/bin/env bash
# Reruns a failed training job with `--resume auto`, up to N more times.
#   launch/run-with-restart.sh N LAUNCHER [LAUNCHER ARGS...]
# e.g. launch/run-with-restart.sh 3 launch/local.sh 2 exp.ini
# The first attempt already passes --resume auto: with no checkpoint it starts fresh.
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 RETRIES LAUNCHER [ARGS...]" >&2
  exit 2
fi
retries=$1; shift
attempt=0
while :; do
  "$@" --resume auto
  rc=$?
  [ "$rc" -eq 0 ] && exit 0
  if [ "$attempt" -ge "$retries" ]; then
    echo "run-with-restart: failed $((attempt + 1)) times (last status $rc); giving up" >&2
    exit "$rc"
  fi
  attempt=$((attempt + 1))
  echo "run-with-restart: job failed with status $rc; restart $attempt of $retries" >&2
  sleep "${RESTART_DELAY:-1}"
done
