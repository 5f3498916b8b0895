#!/usr/bin/env bash
# Installs the Debian packages dptrain builds, tests and demos with.
# Idempotent: when every package is present it installs nothing and says so.
set -euo pipefail

pkgs=(
  build-essential pkg-config
  libopenmpi-dev openmpi-bin        # MPI (pkg-config: ompi-c)
  libmpich-dev mpich                # MPICH too (make MPI=mpich; mpirun stays Open MPI's)
  libopenblas-dev                   # BLAS (pkg-config: openblas)
  check                             # unit tests (pkg-config: check)
  libcjson-dev                      # safetensors headers, metrics.jsonl
  zlib1g-dev                        # .gz datasets
  gnuplot-nox                       # plots
  dataset-fashion-mnist             # the demo's data
  python3-numpy                     # checkpoint interop test
  iproute2                          # launch/fake-cluster.sh (network namespaces, tc)
)

# `install-deps.sh --fuzz` (make fuzz): clang and its libFuzzer runtime as well; `make test` does
# not need them (it replays the fuzz corpus with gcc).
if [ "${1:-}" = "--fuzz" ]; then
  pkgs+=(clang libclang-rt-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
