#!/usr/bin/env bash
# Installs what abgpu needs to build and test on Debian 12, only what is missing.
# Usage: tools/install-deps.sh [--optional]   (root, or sudo available)
# --optional also installs the tools some tests use when present
# (chromium for the report screenshot, OpenMPI for `mpirun abgpu sweep` and its test).
set -euo pipefail

required=(cmake make gcc pkg-config libcriterion-dev ocl-icd-opencl-dev opencl-headers
          pocl-opencl-icd clinfo libclblast-dev python3-numpy
          clang libclang-rt-14-dev valgrind)   # make fuzz, make test-sanitize, valgrind run
optional=(chromium libopenmpi-dev openmpi-bin)  # the report screenshot; mpirun sweeps

want=("${required[@]}")
[ "${1:-}" = "--optional" ] && want+=("${optional[@]}")

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
