# Sourced by the launchers: which MPI a dptrain binary was built with, so that the matching
# launcher starts it (Open MPI's mpirun, or MPICH's mpiexec.mpich); DPTRAIN_MPI overrides.
#   kind=$(mpi_kind BINARY)     -> openmpi | mpich
mpi_kind() {
  if [ -n "${DPTRAIN_MPI:-}" ]; then echo "$DPTRAIN_MPI"; return; fi
  # Not `ldd | grep -q`: grep's early exit fails ldd with SIGPIPE, and pipefail then says "no".
  case "$(ldd "$1" 2>/dev/null)" in *libmpich*) echo mpich ;; *) echo openmpi ;; esac
}
