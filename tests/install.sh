#!/usr/bin/env bash
# ctest `install`: installs the build to a temporary prefix, checks what is there, builds
# the program of docs/library.md with pkg-config (shared and static) and with CMake's
# find_package(abgpu), runs each, and compares the scores with `abgpu predict`.
# usage: tests/install.sh BUILD_DIR SOURCE_DIR C_COMPILER
set -euo pipefail
build=$1 src=$2 cc=$3
tmp=$(mktemp -d /tmp/abgpu-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "install test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install failed"; }
for f in bin/abgpu lib/libabgpu.so lib/libabgpu.a include/abgpu/abgpu.h include/abgpu/version.h \
         include/abgpu/model.h include/abgpu/ops.h lib/pkgconfig/abgpu.pc \
         lib/cmake/abgpu/abgpuConfig.cmake lib/cmake/abgpu/abgpuTargets.cmake share/man/man1/abgpu.1; do
  [ -e "$prefix/$f" ] || fail "$f is not installed"
done
soname=$(readelf -d "$prefix/lib/libabgpu.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libabgpu.so.0.1" ] || fail "SONAME is '$soname', expected libabgpu.so.0.1"
[ -e "$prefix/lib/$soname" ] || fail "lib/$soname (the SONAME's link) is missing"

# Every exported symbol starts with ab_.
nm -D --defined-only "$prefix/lib/libabgpu.so" | awk '{print $NF}' > "$tmp/syms"
n=$(wc -l < "$tmp/syms")
[ "$n" -gt 100 ] || fail "only $n exported symbols: the check is broken"
if grep -v '^ab_' "$tmp/syms" > "$tmp/bad"; then fail "exported without ab_: $(tr '\n' ' ' < "$tmp/bad")"; fi
grep -qx ab_model_load "$tmp/syms" || fail "ab_model_load is not exported"

# The program and the CMakeLists.txt, exactly as docs/library.md shows them.
block() { awk -v tag="$1" 'index($0, tag) { on = 1; next } on && /^```/ { if (inside) exit; inside = 1; next } inside { print }' "$src/docs/library.md"; }
mkdir -p "$tmp/cm"
block '<!-- score.c:' > "$tmp/cm/score.c"
block '<!-- CMakeLists.txt:' > "$tmp/cm/CMakeLists.txt"
[ "$(wc -l < "$tmp/cm/score.c")" -ge 25 ] || fail "no program found in docs/library.md"
[ "$(wc -l < "$tmp/cm/CMakeLists.txt")" -eq 5 ] || fail "the CMakeLists.txt of docs/library.md is not 5 lines"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
"$cc" -std=c11 -Wall -Werror -o "$tmp/score_pc" "$tmp/cm/score.c" $(pkg-config --cflags --libs abgpu) \
  || fail "the program does not build with pkg-config"
static_libs=$(pkg-config --libs --static abgpu | sed "s|-labgpu|$prefix/lib/libabgpu.a|")
"$cc" -std=c11 -o "$tmp/score_static" "$tmp/cm/score.c" $(pkg-config --cflags abgpu) $static_libs \
  || fail "the program does not link statically with pkg-config --static"
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  > "$tmp/cm.log" 2>&1 && cmake --build "$tmp/cm/build" >> "$tmp/cm.log" 2>&1 \
  || { cat "$tmp/cm.log"; fail "the program does not build with find_package(abgpu)"; }

abgpu=$prefix/bin/abgpu
version=$("$abgpu" --version)
"$abgpu" --help | grep -q -- '--version' || fail "abgpu --help does not list --version"
"$abgpu" train --data synth:3000:4 --epochs 2 --quiet --out "$tmp/m.abm" > /dev/null
"$abgpu" synth --rows 2500 --seed 6 --out "$tmp/c.csv" > /dev/null
"$abgpu" predict --model "$tmp/m.abm" --data "$tmp/c.csv" | tail -n +2 | cut -d, -f1,2 > "$tmp/want"
[ "$(wc -l < "$tmp/want")" -eq 2500 ] || fail "abgpu predict gave $(wc -l < "$tmp/want") rows"
for prog in "$tmp/score_pc" "$tmp/score_static" "$tmp/cm/build/score"; do
  LD_LIBRARY_PATH=$prefix/lib "$prog" "$tmp/m.abm" "$tmp/c.csv" > "$tmp/got" 2> "$tmp/err" \
    || { cat "$tmp/err"; fail "$prog failed"; }
  cmp -s "$tmp/got" "$tmp/want" || { diff "$tmp/got" "$tmp/want" | head; fail "$prog scores differ from abgpu predict"; }
  [ "$(cat "$tmp/err")" = "lib${version}" ] || fail "$prog says '$(cat "$tmp/err")', abgpu --version says '$version'"
done
echo "install test: prefix $prefix: $n exported ab_ symbols, SONAME $soname, the docs/library.md program built with pkg-config (shared, static) and find_package(abgpu) scores as abgpu predict ($version)"
