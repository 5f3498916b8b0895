#!/usr/bin/env bash
# One node: N ranks of `dptrain train EXPERIMENT [ARGS...]`.
# Handles running as root, more ranks than cores (oversubscription, yielding
# when idle) and BLAS threads per rank (cores / N, at least 1), with Open MPI or
# MPICH (whichever the binary was built with: make MPI=mpich).
#   launch/local.sh 2 launch/configs/default.ini --set training.epochs=3
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 N EXPERIMENT.ini [dptrain train options...]" >&2
  exit 2
fi
n=$1; shift
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${DPTRAIN:-$here/build/dptrain}
# Installed (make install): this script is PREFIX/share/dptrain/launch/, the binary PREFIX/bin/.
[ -n "${DPTRAIN:-}" ] || [ -x "$bin" ] || bin=$(cd "$here/../.." && pwd)/bin/dptrain
[ -x "$bin" ] || { echo "$0: $bin not built (run make)" >&2; exit 2; }
. "$(dirname "$0")/mpi-kind.sh"
cores=$(nproc)
threads=$(( cores / n )); [ "$threads" -ge 1 ] || threads=1
if [ "$(mpi_kind "$bin")" = mpich ]; then
  # Hydra starts more ranks than cores without a flag; each rank gets its share of the cores.
  bind=(); [ "$n" -gt "$cores" ] || bind=(-bind-to "core:$threads")
  exec mpiexec.mpich -n "$n" "${bind[@]}" -genv OPENBLAS_NUM_THREADS "$threads" "$bin" train "$@"
fi
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
if [ "$n" -gt "$cores" ]; then
  opts=(--oversubscribe --bind-to none --mca mpi_yield_when_idle 1)
else
  # Each rank pinned to its own cores, so ranks and their BLAS threads never migrate or collide.
  opts=(--map-by "slot:PE=$threads" --bind-to core)
fi
exec mpirun -np "$n" "${opts[@]}" -x OPENBLAS_NUM_THREADS="$threads" "$bin" train "$@"
