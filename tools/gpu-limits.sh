#!/usr/bin/env bash
# The OpenCL tests (ctest -L opencl) and one short sweep, run under GPU limits: the
# fakegpu shim (../shared/tools/fakegpu, built by CMake as BUILD/fakegpu.so) makes PoCL
# report a GPU and enforces the limits as a driver would. Two settings:
#   48 KB of local memory, work-groups of 256 (a current NVIDIA/AMD GPU);
#   32 KB, work-groups of 64, no fused multiply-add (a small or older GPU).
# The sweep must run every launch on the fused path (issue 13, finding 1).
# Usage: tools/gpu-limits.sh [BUILD]   (default build; .ci/run runs it after make test)
set -euo pipefail
build="$(cd "${1:-build}" && pwd)"
shim="$build/fakegpu.so"
if [ ! -f "$shim" ]; then
  echo "gpu-limits: $shim is missing (the shim's source, ../shared/tools/fakegpu/fakegpu.c," \
       "was not beside the project when it was configured)" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# One setting: FAKE_* assignments. Prints what runs; fails on the first failure.
limits() {
  echo "gpu-limits: OpenCL tests under FAKE_TYPE=GPU $*"
  (cd "$build" && env -u FAKE_ALLOC -u FAKE_CU -u FAKE_NOFMA LD_PRELOAD="$shim" FAKE_TYPE=GPU \
     "$@" ctest -L opencl --output-on-failure --timeout 600)
  echo "gpu-limits: a two-launch sweep under FAKE_TYPE=GPU $*"
  local out="$tmp/sweep.log"
  (cd "$tmp" && env -u FAKE_ALLOC -u FAKE_CU -u FAKE_NOFMA LD_PRELOAD="$shim" FAKE_TYPE=GPU \
     "$@" "$build/abgpu" sweep --data synth:3000 --set batch=100,50 --set epochs=2 \
     --device 0 --finalists 1 --verbose --force >"$out" 2>&1) || { cat "$out" >&2; exit 1; }
  local fused per_op
  fused=$(grep -c "training path fused-" "$out" || true)
  per_op=$(grep -c "training path per-op" "$out" || true)
  if [ "$fused" -lt 3 ] || [ "$per_op" -ne 0 ]; then
    cat "$out" >&2
    echo "gpu-limits: the sweep's launches must all be fused ($fused fused, $per_op per-op)" >&2
    exit 1
  fi
  echo "gpu-limits: sweep ok: $fused launches fused, none per-op"
}

limits FAKE_LOCAL=49152 FAKE_WG=256
limits FAKE_LOCAL=32768 FAKE_WG=64 FAKE_NOFMA=1
echo "gpu-limits: passed under both settings"
