#!/usr/bin/env python3
"""Protocol B's splits: hold out a random stratified fifth of an export at its natural ratio.

Writes REST.csv (four fifths, in file order, so `--balance first` keeps its meaning) and
HOLDOUT.csv (the other fifth, in file order): buyers and non-buyers are each shuffled with
Python's seeded generator and every fifth one goes to the hold-out, so both files keep the
file's share of buyers. Lines are copied byte for byte (header, if any, to both).

Development only (the measurements in docs/quality.md); no third-party packages.

Usage: tools/holdout.py --data CSV --seed S --out DIR   (writes DIR/rest.csv, DIR/holdout.csv)
"""
import argparse
import os
import random
import sys


def split_lines(lines, seed):
    """Indices of the hold-out rows: a stratified fifth, by the last field (the target)."""
    by_class = {}
    for i, line in enumerate(lines):
        by_class.setdefault(line.rstrip("\r\n").rsplit(",", 1)[-1].strip(), []).append(i)
    rng = random.Random(seed)
    held = set()
    for cls in sorted(by_class):
        rows = by_class[cls][:]
        rng.shuffle(rows)
        held.update(rows[: (len(rows) + 2) // 5])
    return held


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("ABGPU_REAL_DATA"))
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if not a.data:
        sys.exit("holdout: give --data or set ABGPU_REAL_DATA")
    with open(a.data, newline="") as f:
        lines = [l for l in f if l.strip()]
    header = [] if lines[0].split(",")[0].strip().lstrip("-").replace(".", "").isdigit() else [lines.pop(0)]
    held = split_lines(lines, a.seed)
    os.makedirs(a.out, exist_ok=True)
    for name, keep in (("rest.csv", False), ("holdout.csv", True)):
        with open(os.path.join(a.out, name), "w", newline="") as f:
            f.writelines(header + [l for i, l in enumerate(lines) if (i in held) == keep])
    return 0


if __name__ == "__main__":
    sys.exit(main())
