# Shared by the script tests: how to launch dptrain under mpirun here, and
# small assertions. Sourced, never run.
set -euo pipefail
BUILD=${BUILD:-build}
ROOT=$PWD
DPTRAIN=$ROOT/$BUILD/dptrain
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
TMP=$(mktemp -d /tmp/dptrain-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# mpirun with N ranks, a time limit, one BLAS thread per rank and yielding when idle.
# Extra mpirun options go before "--": mpi N [opts...] -- cmd args...
mpi() {
  local n=$1; shift
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  timeout "${MPI_TIMEOUT:-60}" mpirun -np "$n" --oversubscribe --mca mpi_yield_when_idle 1 \
    -x OPENBLAS_NUM_THREADS=1 "${opts[@]}" "$@"
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_contains FILE TEXT: FILE holds TEXT.
expect_contains() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "expected '$2' in $1"; }; }

# The newest step checkpoint of run directory $1.
last_ckpt() { ls "$1"/checkpoints/step-*.safetensors | sort | tail -1; }

CKPTDIFF=$ROOT/$BUILD/tests/mpi_ckptdiff
