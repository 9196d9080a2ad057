#!/usr/bin/env bash
# Installs what abgpu needs to build and test on Debian 12, only what is missing.
# Usage: tools/install-deps.sh [--mpi | --optional]   (root, or sudo available)
# --mpi also installs OpenMPI: `mpirun abgpu sweep` and its tests (CI uses this).
# --optional installs that and chromium (the report screenshot test): everything any
# test or docs/scale-out.md uses on one machine.
set -euo pipefail

required=(cmake make gcc pkg-config libcriterion-dev ocl-icd-opencl-dev opencl-headers
          pocl-opencl-icd clinfo libclblast-dev python3-numpy
          clang libclang-rt-14-dev valgrind)   # make fuzz, make test-sanitize, valgrind run
mpi=(libopenmpi-dev openmpi-bin)               # mpirun sweeps (CMake finds MPI and builds it in)
optional=(chromium)                            # the report screenshot

want=("${required[@]}")
case "${1:-}" in
  "") ;;
  --mpi) want+=("${mpi[@]}") ;;
  --optional) want+=("${mpi[@]}" "${optional[@]}") ;;
  *) echo "usage: tools/install-deps.sh [--mpi | --optional]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
