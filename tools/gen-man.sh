#!/usr/bin/env bash
# Writes the man page man/abgpu.1 from the help texts of a built abgpu (`abgpu --help` and
# every command's --help), so the page says what --help says. Regenerate after changing a
# help text; ctest `man_page` fails while the committed page differs.
# usage: tools/gen-man.sh ABGPU_BIN [OUT]   (OUT: default man/abgpu.1 beside this script)
set -euo pipefail
bin=$1
out=${2:-$(dirname "$0")/../man/abgpu.1}

# Help text as roff: preformatted, backslashes and leading dots escaped, the cpu device's
# core count (train --threads) written as N so the page does not depend on the machine.
roff() {
  sed -z 's/all cores, [0-9]\+\(\n *\)here;/all cores, N\1here;/' |
    sed -e 's/\\/\\e/g' -e 's/^[.'"'"']/\\\&&/' -e 's/-/\\-/g'
}

version=$("$bin" --version | sed 's/^abgpu //')
commands=$("$bin" --help | awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
[ -n "$commands" ] || { echo "gen-man: no commands in $bin --help" >&2; exit 1; }
{
  echo ".TH ABGPU 1 \"\" \"abgpu $version\" \"User Commands\""
  echo ".SH NAME"
  echo "abgpu \\- which audiobook customers will buy again"
  echo ".SH SYNOPSIS"
  echo ".B abgpu"
  echo ".I COMMAND"
  echo "[\\fIFLAGS\\fR]"
  echo ".SH DESCRIPTION"
  echo "Generated from the help texts by tools/gen-man.sh; docs/manual.md explains more."
  echo ".PP"
  echo ".nf"
  "$bin" --help | roff
  echo ".fi"
  echo ".SH COMMANDS"
  for c in $commands; do
    echo ".SS $c"
    echo ".nf"
    "$bin" "$c" --help | roff
    echo ".fi"
  done
} > "$out.tmp"
mv "$out.tmp" "$out"
