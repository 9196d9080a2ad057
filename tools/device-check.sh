#!/usr/bin/env bash
# The device check (issue 13): what to run the first time a GPU is at hand, on a machine
# with no network and no apt, in at most 8 minutes. It finds or builds abgpu, makes the
# OpenCL loader and NVIDIA's driver visible, picks the GPU by type, then runs the OpenCL
# tests, bench for each training path and for CLBlast and cpu, sweeps of 1, 64 and 512
# models (sampling `nvidia-smi dmon` when there is one), 1M synthetic rows at batch 100
# and 4096 (and the cpu device at 4096), and a 1024,1024 net; it writes summary.md (the
# figures, the chosen paths, every step's exit status) and each step's log into the
# output folder. Exit status 0 when every step exited 0.
#
# Usage: tools/device-check.sh [FOLDER]   (or make device-check)
#   FOLDER         where summary.md and the logs go (default: $OUT when set, else
#                  device-check-DATE in the current folder)
#   QUICK=1        every size shrunk (~3 minutes on PoCL; CI runs it under the fakegpu
#                  shim); with QUICK=1 and no GPU, the first OpenCL device is used
#   BUILD=DIR      the build to use (default: build); used when its programs' libraries
#                  resolve (ldd) and it was configured for this folder, else a new one
#                  is built into build-device-check with what is there (MPI off)
#   DEBS=DIR       carried packages from tools/device-debs.sh (default: .device-debs):
#                  their libraries (the ICD loader, CLBlast, Criterion) are used where
#                  the system lacks them
#   ABGPU_REAL_DATA  the real export, when it is there (else synth:14084)
#   LIMIT=SECONDS  the whole check's time (default: 480)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
start=$(date +%s)
limit="${LIMIT:-480}"
quick="${QUICK:-0}"
out="${1:-${OUT:-$root/device-check-$(date +%Y%m%d-%H%M%S)}}"
mkdir -p "$out" && out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
summary="$out/summary.md"
rows=()   # summary table rows
notes=()  # setup lines
failed=0

note() { notes+=("$*"); echo "device-check: $*" >&2; }
left() { echo $((limit - ($(date +%s) - start))); }

# step NAME CAP CMD...: runs CMD with its output in NAME.log, at most CAP seconds and never
# past the check's limit; records its exit status and seconds.
step() {
  local name="$1" cap="$2"; shift 2
  local budget=$(($(left) - 5))
  [ "$budget" -lt "$cap" ] && cap=$budget
  last_name=$name
  if [ "$cap" -le 0 ]; then
    last_rc="not run (the check's ${limit} s were used up)"
    last_secs=0
    failed=1
    return 1
  fi
  echo "device-check: $name (at most ${cap} s): $*" >&2
  local t0=$(date +%s) rc
  timeout --kill-after=5 "$cap" "$@" >"$out/$name.log" 2>&1
  rc=$?
  local secs=$(($(date +%s) - t0))
  [ "$rc" -ne 0 ] && failed=1
  last_rc=$rc
  last_secs=$secs
  [ "$rc" -eq 124 ] && echo "(timed out after ${cap} s)" >>"$out/$name.log"
  return "$rc"
}
# record FIGURES: the table row of the last step.
record() {
  local f="$*"
  case "$last_rc" in "not run"*) f="-" ;; 124) f="timed out; $f" ;; esac
  rows+=("| $last_name | $last_rc | $last_secs | $f |")
}

# A field of the first JSON object in FILE that has it: json_field FILE NAME.
json_field() { grep -o "\"$2\": *[^,}]*" "$1" 2>/dev/null | head -1 | sed 's/.*: *//; s/"//g'; }
# The training path lines of a --verbose log.
paths_of() { grep -o "training path [a-z-]*" "$1" 2>/dev/null | sort | uniq -c | awk '{printf "%s%s x%s", s, $4, $1; s="; "}'; }

# ---- the OpenCL loader and the ICD ----

debs="${DEBS:-$root/.device-debs}"
if [ -d "$debs/debs" ] && [ ! -d "$debs/root/usr" ]; then
  mkdir -p "$debs/root"
  for d in "$debs"/debs/*.deb; do dpkg-deb -x "$d" "$debs/root" 2>/dev/null; done
fi
carried_lib="$debs/root/usr/lib/x86_64-linux-gnu"
system_libs="$(ldconfig -p 2>/dev/null)"
has_lib() { case "$system_libs" in *"$1 "*) return 0 ;; esac; return 1; }
if [ -d "$carried_lib" ]; then
  # Only what the system lacks comes from the carried packages.
  mkdir -p "$work/lib"
  for f in "$carried_lib"/*.so*; do
    base=$(basename "$f")
    case "$base" in *.so.*.*.*) continue ;; esac # the files behind the sonames' links
    has_lib "$base" || ln -sf "$f" "$work/lib/$base"
  done
  if [ -n "$(ls "$work/lib")" ]; then
    export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    note "carried libraries used (the system lacks them): $(ls "$work/lib" | tr '\n' ' ')"
  fi
  [ -x "$debs/root/usr/bin/clinfo" ] && ! command -v clinfo >/dev/null && export PATH="$PATH:$debs/root/usr/bin"
fi
has_lib libOpenCL.so.1 || [ -e "$work/lib/libOpenCL.so.1" ] ||
  note "no OpenCL ICD loader (libOpenCL.so.1) here or carried: run tools/device-debs.sh and carry .device-debs"

vendors="${OCL_ICD_VENDORS:-/etc/OpenCL/vendors}"
nv=$(echo "$system_libs" | awk '/libnvidia-opencl.so.1/ {print $NF; exit}')
[ -z "$nv" ] && nv=$(ls /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 /usr/lib64/libnvidia-opencl.so.1 \
  /usr/local/nvidia/lib64/libnvidia-opencl.so.1 2>/dev/null | head -1)
if [ -n "$nv" ] && ! grep -qs "libnvidia-opencl" "$vendors"/*.icd; then
  mkdir -p "$work/vendors"
  cp "$vendors"/*.icd "$work/vendors/" 2>/dev/null
  echo "$nv" >"$work/vendors/nvidia-device-check.icd"
  export OCL_ICD_VENDORS="$work/vendors"
  note "NVIDIA's $nv was named by no ICD file: registered through OCL_ICD_VENDORS=$work/vendors"
fi

# ---- the build ----

build="${BUILD:-$root/build}"
usable() { # a build whose programs start here and which was configured for this folder
  [ -x "$1/abgpu" ] || return 1
  ldd "$1/abgpu" 2>/dev/null | grep -q "not found" && return 1
  grep -qs "^CMAKE_HOME_DIRECTORY:INTERNAL=$root\$" "$1/CMakeCache.txt"
}
if usable "$build"; then
  note "build: the carried $build"
else
  why="missing"
  [ -x "$build/abgpu" ] && why="its libraries do not resolve here or it was configured for another folder"
  note "build: $build is not usable ($why): building build-device-check (MPI off)"
  build="$root/build-device-check"
  cl_hints=()
  [ -d "$debs/root/usr/include/CL" ] && ! [ -f /usr/include/CL/cl.h ] &&
    cl_hints=(-DOpenCL_INCLUDE_DIR="$debs/root/usr/include" -DOpenCL_LIBRARY="$carried_lib/libOpenCL.so")
  step build 240 bash -c "cmake -S '$root' -B '$build' -DABGPU_MPI=OFF ${cl_hints[*]} &&
    cmake --build '$build' -j$(nproc 2>/dev/null || echo 4)"
  record "configure and build"
fi
abgpu="$build/abgpu"
if [ ! -x "$abgpu" ]; then
  note "no abgpu to run: nothing more can be checked"
else

# ---- the device: the first GPU, by type ----

"$abgpu" devices >"$out/devices.log" 2>&1
dev=$(awk '$1 ~ /^[0-9]+$/ && $2 == "GPU" {print $1; exit}' "$out/devices.log")
if [ -z "$dev" ] && [ "$quick" = 1 ]; then
  dev=$(awk '$1 ~ /^[0-9]+$/ {print $1; exit}' "$out/devices.log")
  [ -n "$dev" ] && note "no GPU: QUICK=1 uses the first OpenCL device, $dev"
fi
if [ -z "$dev" ]; then
  note "no GPU among the OpenCL devices (devices.log): nothing more can be checked"
  failed=1
else
  export ABGPU_DEVICE="$dev"
  note "device $dev: $(awk -v d="$dev" '$1 == d' "$out/devices.log" | tr -s ' ')"
  if [ -n "${ABGPU_REAL_DATA:-}" ] && [ -r "$ABGPU_REAL_DATA" ]; then data="$ABGPU_REAL_DATA"
  else data="synth:14084"; note "no real data (ABGPU_REAL_DATA): the seed-net figures are on synth:14084"; fi

  if [ "$quick" = 1 ]; then
    tests="test_op_|test_cl_gpu"; bench_data=(--rows 3000); ep=2
    ks=(1 4 16); big=20000; wide="256,256"; sweep_data="synth:3000"
  else
    tests=""; bench_data=(--data "$data"); ep=10
    ks=(1 64 512); big=1000000; wide="1024,1024"; sweep_data="$data"
  fi

  # The OpenCL tests on the device.
  if [ -f "$build/CTestTestfile.cmake" ]; then
    step tests 150 ctest --test-dir "$build" -L opencl ${tests:+-R "$tests"} --output-on-failure --timeout 300
    record "$(grep -E "tests passed|tests failed" "$out/tests.log" | tail -1)"
  else
    rows+=("| tests | not run | 0 | the build has no tests (no Criterion) |"); failed=1
  fi

  # bench: each training path, CLBlast, cpu (the seed net).
  for p in auto off step epoch; do
    step "bench-$p" 60 env ABGPU_CL_FUSED=$p "$abgpu" bench "${bench_data[@]}" --backends "$dev" \
      --epochs "$ep" --json-out "$work/bench-$p.json"
    record "ABGPU_CL_FUSED=$p: $(json_field "$work/bench-$p.json" ms_per_epoch) ms/epoch, $(json_field "$work/bench-$p.json" gflops) GFLOP/s"
  done
  step bench-clblast-cpu 90 "$abgpu" bench "${bench_data[@]}" --backends "$dev:clblast,cpu" \
    --epochs "$ep" --json-out "$work/bench-cc.json"
  record "$(grep -o '"backend": "[^"]*"[^}]*"ms_per_epoch": [0-9.]*' "$work/bench-cc.json" 2>/dev/null |
    sed 's/"backend": "\([^"]*\)".*"ms_per_epoch": \(.*\)/\1 \2 ms\/epoch/' | paste -sd';' -)"

  # Sweeps of K models in one launch: seconds per model against K = 1.
  per1=""
  for k in "${ks[@]}"; do
    seeds=$(seq -s, 1 "$k")
    dmon=""
    if command -v nvidia-smi >/dev/null; then
      nvidia-smi dmon -s u -d 1 >"$out/dmon-k$k.log" 2>&1 & dmon=$!
    fi
    step "sweep-k$k" 120 bash -c "cd '$work' && '$abgpu' sweep --data '$sweep_data' --set seed=$seeds \
      --set epochs=2 --parallel $k --device $dev --finalists 1 --force --verbose --json-out sweep-k$k.json"
    rc=$?
    [ -n "$dmon" ] && kill "$dmon" 2>/dev/null && wait "$dmon" 2>/dev/null
    secs=$(json_field "$work/sweep-k$k.json" seconds)
    per=$(awk -v s="${secs:-0}" -v k="$k" 'BEGIN {printf "%.4f", s / k}')
    [ "$k" = 1 ] && per1=$per
    vs=$(awk -v a="${per1:-0}" -v b="$per" 'BEGIN {if (b > 0) printf "%.1fx", a / b; else print "-"}')
    sm=""
    [ -s "$out/dmon-k$k.log" ] && sm=$(awk '!/^#/ && NF > 2 {s += $2; n++; if ($2 > m) m = $2}
      END {if (n) printf "; SM busy %.0f%% mean, %d%% max (nvidia-smi dmon)", s / n, m}' "$out/dmon-k$k.log")
    record "K=$k: ${secs:-?} s, $per s per model, $vs faster per model than K=1; $(paths_of "$out/sweep-k$k.log")$sm"
  done

  # Many rows: one model at batch 100 and 4096, and the cpu device at 4096.
  for b in 100 4096; do
    step "rows-b$b" 100 "$abgpu" train --data "synth:$big" --batch "$b" --epochs 2 --device "$dev" \
      --json-out "$work/rows-b$b.json" --verbose --quiet
    record "synth:$big, batch $b: $(json_field "$work/rows-b$b.json" ms_per_epoch) ms/epoch; $(paths_of "$out/rows-b$b.log")"
  done
  step rows-b4096-cpu 100 "$abgpu" train --data "synth:$big" --batch 4096 --epochs 2 --device cpu \
    --json-out "$work/rows-cpu.json" --quiet
  g=$(json_field "$work/rows-b4096.json" ms_per_epoch); c=$(json_field "$work/rows-cpu.json" ms_per_epoch)
  record "cpu device, batch 4096: $c ms/epoch; the OpenCL device is $(awk -v g="${g:-0}" -v c="${c:-0}" 'BEGIN {if (g > 0) printf "%.1fx", c / g; else print "?"}') faster"

  # A wide net.
  step "wide-$wide" 90 "$abgpu" train --data synth:14084 --hidden "$wide" --epochs 2 --device "$dev" \
    --json-out "$work/wide.json" --verbose --quiet
  record "hidden $wide: $(json_field "$work/wide.json" ms_per_epoch) ms/epoch; $(paths_of "$out/wide-$wide.log")"
fi
fi

# ---- summary.md ----
{
  echo "# abgpu device check"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname), QUICK=$quick, $(($(date +%s) - start)) s of ${limit}; abgpu $(git -C "$root" describe --always --dirty 2>/dev/null)"
  echo
  for n in "${notes[@]}"; do echo "- $n"; done
  echo
  echo "| step | exit | seconds | figures |"
  echo "| --- | --- | --- | --- |"
  for r in "${rows[@]}"; do echo "$r"; done
  echo
  echo "Each step's output is in STEP.log beside this file; devices.log lists the devices."
  [ "$failed" -ne 0 ] && echo && echo "**A step failed or did not run.**"
} >"$summary"
echo "device-check: wrote $summary" >&2
cat "$summary"
exit "$failed"
