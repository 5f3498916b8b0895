#!/usr/bin/env bash
# A cluster: N ranks spread over the hosts of HOSTFILE (lines like "node1 slots=8"),
# through Open MPI's mpirun or MPICH's mpiexec.mpich, whichever the binary was built with. dptrain must be at the same path on every
# host, and data paths must resolve there; rank 0 writes the run directory.
# Build with a MARCH every host has (make MARCH=x86-64-v3) when they differ.
#   launch/hostfile.sh hosts.txt 16 launch/configs/default.ini
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 HOSTFILE N EXPERIMENT.ini [dptrain train options...]" >&2
  exit 2
fi
hostfile=$1; n=$2; shift 2
[ -r "$hostfile" ] || { echo "$0: cannot read hostfile $hostfile" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${DPTRAIN:-$here/build/dptrain}
# Installed (make install): this script is PREFIX/share/dptrain/launch/, the binary PREFIX/bin/.
[ -n "${DPTRAIN:-}" ] || [ -x "$bin" ] || bin=$(cd "$here/../.." && pwd)/bin/dptrain
. "$(dirname "$0")/mpi-kind.sh"
if [ "$(mpi_kind "$bin")" = mpich ]; then
  # MPICH's hostfile says "node1:8" where Open MPI's says "node1 slots=8".
  machines=$(mktemp)
  trap 'rm -f "$machines"' EXIT
  sed -E 's/^[[:space:]]*([^[:space:]#]+)[[:space:]]+slots=([0-9]+).*/\1:\2/' "$hostfile" > "$machines"
  mpiexec.mpich -f "$machines" -n "$n" "$bin" train "$@"
  exit
fi
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# One BLAS thread per rank unless told otherwise: ranks fill the slots, so
# dptrain's own default (cores / ranks per node) applies when unset.
exec mpirun --hostfile "$hostfile" -np "$n" --map-by slot --bind-to none \
  ${DPTRAIN_MCA:+$DPTRAIN_MCA} "$bin" train "$@"
