#!/usr/bin/env bash
# One full `abgpu train` under valgrind memcheck per backend (cpu, and OpenCL device 0
# when there is one): fails on any error or definite leak not explained in
# tools/valgrind.supp.   Usage: tools/valgrind-train.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
out=$(mktemp -d)
status=0
run() {
  local name=$1; shift
  echo "valgrind: train on $name"
  if valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
       --suppressions=tools/valgrind.supp --num-callers=30 \
       "$build/abgpu" train --data synth:2000 --epochs 2 --quiet --out "$out/$name.abm" "$@" \
       >"$out/$name.log" 2>&1; then
    grep -E "ERROR SUMMARY" "$out/$name.log"
  else
    echo "valgrind: errors on $name:" >&2
    cat "$out/$name.log" >&2
    status=1
  fi
}
run cpu --device cpu
run ref --device ref
if "$build/abgpu" devices 2>/dev/null | grep -qE '^ *0 '; then run opencl0 --device 0; fi
rm -rf "$out"
exit $status
