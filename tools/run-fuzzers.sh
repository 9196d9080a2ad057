#!/usr/bin/env bash
# Runs every fuzz target in BUILD_DIR for SECONDS each on a scratch copy of its seed
# corpus (tests/fuzz/corpus/NAME). A crash stops with libFuzzer's report and the input
# saved as BUILD_DIR/crash-*; turn it into a regression test (tests/data/bad/).
# UBSan only prints and carries on by default; halt_on_error makes its report a crash.
set -euo pipefail
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
build=${1:?build dir}
secs=${2:-60}
cd "$(dirname "$0")/.."
status=0
for src in tests/fuzz/fuzz_*.c; do
  name=$(basename "$src" .c)
  corpus=tests/fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
  echo "fuzz: $name for ${secs}s (seed corpus $corpus: $(ls "$work" | wc -l) inputs)"
  if ! "$build/$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$build/" -print_final_stats=1 "$work" 2>"$build/$name.log"; then
    echo "fuzz: $name FAILED; see $build/$name.log" >&2
    tail -40 "$build/$name.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$build/$name.log" | tail -2
  fi
  rm -rf "$work"
done
exit $status
