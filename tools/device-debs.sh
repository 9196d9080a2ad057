#!/usr/bin/env bash
# Fetches the Debian 12 packages that a GPU machine without network or apt may lack,
# for tools/device-check.sh: the OpenCL ICD loader (and its headers, to build there),
# clinfo, CLBlast and Criterion (what the carried build's programs and tests link), with
# `apt-get download` (no root, nothing installed here) into DIR/debs, unpacked into
# DIR/root (dpkg-deb -x). DIR defaults to .device-debs (ignored by git); carry it with
# the build: docs/opencl.md, "Device check".
# Usage: tools/device-debs.sh [DIR]
set -euo pipefail
dir="${1:-.device-debs}"
pkgs=(ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers opencl-headers clinfo
      libclblast1 libclblast-dev
      libcriterion3 libgit2-1.5 libnanomsg5 libhttp-parser2.9 libmbedtls14 libmbedx509-1
      libmbedcrypto7 libssh2-1)
mkdir -p "$dir/debs" "$dir/root"
(cd "$dir/debs" && apt-get download "${pkgs[@]}")
for d in "$dir"/debs/*.deb; do dpkg-deb -x "$d" "$dir/root"; done
rm -rf "$dir/root/usr/share/doc" "$dir/root/usr/share/man"
echo "device-debs: ${#pkgs[@]} packages unpacked into $dir/root ($(du -sh "$dir" | cut -f1) in all)"
