#!/usr/bin/env bash
# ctest `completion`: `abgpu completion bash` is valid bash and completes commands and each
# command's flags as their --help lists them, and that
# man/abgpu.1 is what tools/gen-man.sh makes from the current help texts.
# usage: tests/completion.sh ABGPU_BIN SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
tmp=$(mktemp -d /tmp/abgpu-completion-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "completion test: $*" >&2; exit 1; }

"$bin" completion bash > "$tmp/abgpu.bash" || fail "abgpu completion bash failed"
bash -n "$tmp/abgpu.bash" || fail "the script is not valid bash"
# complete WORDS...: what TAB offers after the words (the last one is being typed).
complete_words() {
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _abgpu
           printf "%s\n" "${COMPREPLY[@]}"' _ "$tmp/abgpu.bash" "$@"
}
[ "$(complete_words abgpu tr)" = train ] || fail "abgpu tr<TAB> gives '$(complete_words abgpu tr)'"
[ "$(complete_words abgpu co)" = completion ] || fail "abgpu co<TAB> is not completion"
[ "$(complete_words abgpu split --out-tr)" = --out-train ] || fail "split --out-tr<TAB> is not --out-train"
[ "$(complete_words abgpu completion b)" = bash ] || fail "completion b<TAB> is not bash"
# Every flag of eval's help is offered after `abgpu eval --`, and nothing else.
"$bin" eval --help | grep -o '^  -[-a-z]*\(, --[a-z]*\)\?' | tr -d ' ' | tr ',' '\n' | sort -u > "$tmp/want"
complete_words abgpu eval - | sort -u > "$tmp/got"
[ "$(wc -l < "$tmp/want")" -ge 10 ] || fail "eval --help lists $(wc -l < "$tmp/want") flags: the check is broken"
diff "$tmp/want" "$tmp/got" || fail "eval's flags differ from its --help"
# A file name is offered for a value.
touch "$tmp/customers.csv"
[ "$(cd "$tmp" && complete_words abgpu eval --data cust)" = customers.csv ] || fail "no file name completion"
# Unknown shells are a usage error.
set +e; "$bin" completion zsh > /dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 2 ] || fail "completion zsh exits $rc, expected 2"

# The committed man page is the one the help texts make.
bash "$src/tools/gen-man.sh" "$bin" "$tmp/abgpu.1"
diff -u "$src/man/abgpu.1" "$tmp/abgpu.1" > "$tmp/man.diff" ||
  { head -20 "$tmp/man.diff"; fail "man/abgpu.1 is stale: run tools/gen-man.sh build/abgpu"; }
grep -q '^\.SS completion$' "$tmp/abgpu.1" || fail "the man page has no completion section"
