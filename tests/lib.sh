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

# The MPI the binaries were built with: Open MPI (mpirun) or MPICH (mpiexec.mpich, make test-mpich).
MPI_IMPL=${MPI_IMPL:-openmpi}

# mpirun with N ranks, a time limit, one BLAS thread per rank and (Open MPI) yielding when idle.
# Extra launcher options go before "--": mpi N [opts...] -- cmd args...; write them with the
# helpers below (mpi_force_tcp, mpi_allreduce_alg) so that they mean the same under either MPI.
mpi() {
  local n=$1; shift
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts+=("$1"); shift; done
  shift
  if [ "$MPI_IMPL" = mpich ]; then
    timeout "${MPI_TIMEOUT:-60}" mpiexec.mpich -n "$n" -genv OPENBLAS_NUM_THREADS 1 "${opts[@]}" "$@"
  else
    timeout "${MPI_TIMEOUT:-60}" mpirun -np "$n" --oversubscribe --mca mpi_yield_when_idle 1 \
      -x OPENBLAS_NUM_THREADS=1 "${opts[@]}" "$@"
  fi
}

# skipped WHAT WHY: says loudly (tests/run.sh repeats SKIPPED lines) that WHAT is not tested.
skipped() { echo "SKIPPED: $1 is NOT tested: $2" >&2; }

# Launcher options that make ranks on one node talk over TCP, as ranks on different hosts do;
# fails (and says so) where that path cannot be tested: Debian's MPICH 4.0.2 (ch4:ucx) hangs in
# MPI_Finalize over UCX's TCP transport about one run in four (seen on 1 node and across nodes).
mpi_force_tcp() {
  if [ "$MPI_IMPL" = mpich ]; then
    skipped "the TCP path under MPICH" "MPICH's UCX TCP transport hangs in MPI_Finalize now and then"
    return 1
  fi
  echo --mca btl tcp,self
}

# Launcher options that force the MPI library's allreduce algorithm NAME: recursive_doubling or
# reduce_scatter_allgather (which Open MPI calls rabenseifner).
mpi_allreduce_alg() {
  if [ "$MPI_IMPL" = mpich ]; then
    echo -genv MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM "$1"
  else
    local n; case $1 in recursive_doubling) n=3 ;; reduce_scatter_allgather) n=6 ;; *) fail "mpi_allreduce_alg: unknown $1" ;; esac
    echo --mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm "$n"
  fi
}

fail() { echo "FAIL: $*" >&2; exit 1; }

# with_tmpfs DIR SIZE SCRIPT [ARGS...]: runs the bash SCRIPT (with mpi and $DPTRAIN at hand, ARGS
# as "$@") in a private mount namespace where DIR is a fresh tmpfs of SIZE; the tests run as root.
with_tmpfs() {
  local dir=$1 size=$2 script=$3; shift 3
  unshare -m sh -c "mount -t tmpfs -o size=$size tmpfs '$dir'" \
    || fail "cannot mount a private tmpfs on $dir (needs root and mount namespaces)"
  export -f mpi
  export DPTRAIN
  unshare -m bash -c "mount -t tmpfs -o size=$size tmpfs '$dir' && { $script
}" _ "$@"
}

# expect_contains FILE TEXT: FILE holds TEXT.
expect_contains() { grep -qF -- "$2" "$1" || { echo "--- $1:"; cat "$1"; fail "expected '$2' in $1"; }; }

# The newest step checkpoint of run directory $1.
last_ckpt() { ls "$1"/checkpoints/step-*.safetensors | sort | tail -1; }

CKPTDIFF=$ROOT/$BUILD/tests/mpi_ckptdiff

PY=/usr/bin/python3   # Debian's python3 has numpy (python3-numpy); pyenv's may not

# make_blobs FILE N: a CSV with a header, 4 features and a class label in 0..2 (separable blobs).
make_blobs() {
  awk -v n="$2" 'BEGIN { srand(7); print "a,b,c,d,label";
    for (i = 0; i < n; i++) { k = i % 3;
      printf "%.4f,%.4f,%.4f,%.4f,%d\n", k + rand() - 0.5, 2 * k - rand(), rand() - k, rand(), k } }' > "$1"
}

# blobs_experiment FILE N LAYERS STEPS BATCH: writes $TMP/blobs.csv (make_blobs, N rows) and an
# experiment FILE classifying it with LAYERS, a fifth held out, STEPS steps of BATCH; further INI
# lines (first [training] keys, then other sections) come on standard input.
blobs_experiment() {
  make_blobs "$TMP/blobs.csv" "$2"
  { printf '[data]\ntrain = %s\nval_fraction = 0.2\n[model]\nlayers = %s\n[loss]\nkind = cross_entropy\n' \
      "$TMP/blobs.csv" "$3"
    printf '[training]\nsteps = %s\nbatch = %s\n' "$4" "$5"
    cat; } > "$1"
}

# make_images PREFIX N [SEED]: N 1x8x8 float32 images in PREFIX_x.npy (N x 8 x 8) with class labels
# 0..2 in PREFIX_y.npy (a bright 3x3 square on the left, in the middle or on the right), and the
# same as CSV rows of 64 features and the label in PREFIX.csv.
make_images() {
  $PY - "$1" "$2" "${3:-3}" <<'PYEOF'
import sys, numpy as np
prefix, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
y = rng.integers(0, 3, n)
x = 0.3 * rng.random((n, 8, 8))
for i, c in enumerate(y):
    r, q = 1 + rng.integers(0, 3), 2 * c + rng.integers(0, 2)
    x[i, r:r + 3, q:q + 3] += 1.0
x = x.astype(np.float32)
np.save(prefix + "_x.npy", x)
np.save(prefix + "_y.npy", y.astype(np.int64))
with open(prefix + ".csv", "w") as f:
    for row, c in zip(x.reshape(n, -1), y):
        f.write(",".join("%.9g" % v for v in row) + ",%d\n" % c)
PYEOF
}

# make_regression FILE N: a CSV without header: 3 features, target = x1 - 2 x2 + 0.5 x3.
make_regression() {
  awk -v n="$2" 'BEGIN { srand(3);
    for (i = 0; i < n; i++) { a = rand(); b = rand(); c = rand();
      printf "%.5f,%.5f,%.5f,%.5f\n", a, b, c, a - 2 * b + 0.5 * c } }' > "$1"
}
