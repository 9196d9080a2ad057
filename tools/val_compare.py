#!/usr/bin/env python3
"""Validation figures of abgpu train flag sets on protocols A and B: nothing else looked at.

Protocol A: `abgpu train --balance first --seed S` (the notebook's split), seeds 1..10.
Protocol B: tools/holdout.py --seed S holds out a fifth of the file; `abgpu train --seed S`
on the other four fifths. Only the validation split each run stopped on is read (its
ROC AUC and accuracy from `--json`); the test split and the held-out fifth are not
scored, so flag sets can be compared and chosen without spending them (docs/quality.md).

Development only; plain Python 3, no packages.

Usage: tools/val_compare.py [--data CSV] [--seeds-a 1-10] [--seeds-b 1-5] [--abgpu PATH]
                            "FLAGS" ["FLAGS" ...]     ("" is the default recipe)
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def seeds(text):
    if text == "none":
        return []
    lo, hi = (int(v) for v in text.split("-"))
    return list(range(lo, hi + 1))


def train(a, data, seed, flags):
    out = subprocess.run([a.abgpu, "train", "--data", data, "--seed", str(seed), "--quiet",
                          "--json"] + flags, check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    return j["val_metrics"]["roc_auc"], j["val_metrics"]["accuracy"], j["epochs"]


def mean(xs):
    return statistics.mean(xs) if xs else float("nan")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("ABGPU_REAL_DATA"))
    p.add_argument("--seeds-a", type=seeds, default=seeds("1-10"))
    p.add_argument("--seeds-b", type=seeds, default=seeds("1-5"))
    p.add_argument("--abgpu", default=os.path.join(os.path.dirname(HERE), "build", "abgpu"))
    p.add_argument("flags", nargs="+")
    a = p.parse_args()
    if not a.data:
        sys.exit("val_compare: give --data or set ABGPU_REAL_DATA")
    print("| flags | A: val AUC | A: val acc | A: median epochs | B: val AUC | B: val acc |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        rest = {}
        for s in a.seeds_b:
            d = os.path.join(tmp, "b%d" % s)
            subprocess.run([sys.executable, os.path.join(HERE, "holdout.py"), "--data", a.data,
                            "--seed", str(s), "--out", d], check=True)
            rest[s] = os.path.join(d, "rest.csv")
        for text in a.flags:
            flags = text.split()
            ra = [train(a, a.data, s, ["--balance", "first"] + flags) for s in a.seeds_a]
            rb = [train(a, rest[s], s, flags) for s in a.seeds_b]
            med = statistics.median([r[2] for r in ra]) if ra else float("nan")
            print("| `%s` | %.4f | %.2f%% | %g | %.4f | %.2f%% |" % (
                text or "-", mean([r[0] for r in ra]), 100 * mean([r[1] for r in ra]), med,
                mean([r[0] for r in rb]), 100 * mean([r[1] for r in rb])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
