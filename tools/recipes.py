#!/usr/bin/env python3
"""Training recipes side by side on protocols A and B, chosen on validation figures only.

Protocol A: `abgpu train --balance first --seed S` (the notebook's split: first-N
balancing, 80/10/10, 448 balanced test customers), seeds 1..10 by default.
Protocol B: tools/holdout.py holds out a stratified fifth of the file at its natural
ratio (seed S), `abgpu train --seed S` trains on the rest (balancing and splitting it as
usual), 5 splits by default; with --test, `abgpu eval` scores the held-out fifth.

Each recipe is one line of a recipe file, `NAME | FLAGS [| B FLAGS]` (train flags, and
optionally flags for protocol B only, e.g. a --balance, which protocol A fixes to first;
`#` comments).
Without --test the table holds validation figures only (the split each training stops
on), which is what a recipe is chosen by; --test adds protocol A's test accuracy and
ROC AUC and protocol B's held-out ROC AUC, to be run once, for the chosen recipes.

Development only (docs/quality.md has the tables); standard library only.

Usage: tools/recipes.py --recipes FILE [--data CSV] [--seeds-a 1-10] [--seeds-b 1-5]
                        [--test] [--jobs 2] [--abgpu build/abgpu] [--json OUT]
"""
import argparse
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def seeds(text):
    lo, hi = (int(v) for v in text.split("-"))
    return list(range(lo, hi + 1))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recipes", required=True)
    p.add_argument("--data", default=os.environ.get("ABGPU_REAL_DATA"))
    p.add_argument("--seeds-a", type=seeds, default=seeds("1-10"))
    p.add_argument("--seeds-b", type=seeds, default=seeds("1-5"))
    p.add_argument("--test", action="store_true", help="also the test / held-out figures")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--abgpu", default=os.path.join(os.path.dirname(HERE), "build", "abgpu"))
    p.add_argument("--json", help="write every run's figures here")
    a = p.parse_args()
    if not a.data:
        sys.exit("recipes: give --data or set ABGPU_REAL_DATA")
    return a


def read_recipes(path):
    out = []
    for line in open(path):
        line = line.split("#", 1)[0].strip()
        if line:
            name, flags, *b = line.split("|")
            out.append((name.strip(), flags.split(), flags.split() + (b[0].split() if b else [])))
    return out


def train(a, data, seed, flags, model=None):
    cmd = [a.abgpu, "train", "--data", data, "--seed", str(seed), "--threads", "1", "--json",
           "--quiet"] + flags + (["--out", model] if model else [])
    j = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return {"val_loss": j["val_metrics"]["log_loss"], "val_acc": j["val_metrics"]["accuracy"],
            "val_auc": j["val_metrics"]["roc_auc"], "epochs": j["epochs"],
            "test_acc": j["test_metrics"]["accuracy"], "test_auc": j["test_metrics"]["roc_auc"]}


def blind(a, r):
    """Without --test, the test figures train prints are dropped unread."""
    if not a.test:
        del r["test_acc"], r["test_auc"]
    return r


def run_a(a, flags, seed):
    return blind(a, train(a, a.data, seed, ["--balance", "first"] + flags))


def run_b(a, flags, seed, tmp):
    d = os.path.join(tmp, "b%d" % seed)
    model = os.path.join(d, "m%d.abm" % abs(hash(tuple(flags))))
    r = train(a, os.path.join(d, "rest.csv"), seed, flags, model if a.test else None)
    if a.test:
        out = subprocess.run([a.abgpu, "eval", "--model", model, "--data",
                              os.path.join(d, "holdout.csv"), "--json"], check=True,
                             capture_output=True, text=True).stdout
        r["holdout_auc"] = json.loads(out)["roc_auc"]
        os.remove(model)
    return blind(a, r)


def mean(runs, key):
    return statistics.mean(r[key] for r in runs)


def row(name, ra, rb, test):
    cells = [name, "%.4f" % mean(ra, "val_loss"), "%.2f%%" % (100 * mean(ra, "val_acc")),
             "%.4f" % mean(ra, "val_auc"), "%g" % statistics.median(r["epochs"] for r in ra),
             "%.4f" % mean(rb, "val_auc"), "%.2f%%" % (100 * mean(rb, "val_acc"))]
    if test:
        cells += ["%.2f%%" % (100 * mean(ra, "test_acc")), "%.4f" % mean(ra, "test_auc"),
                  "%.4f" % mean(rb, "holdout_auc")]
    return "| " + " | ".join(cells) + " |"


def main():
    a = parse_args()
    recipes = read_recipes(a.recipes)
    head = ["recipe", "A val loss", "A val acc", "A val AUC", "A epochs (median)",
            "B val AUC", "B val acc"]
    if a.test:
        head += ["A TEST acc", "A TEST AUC", "B HELD-OUT AUC"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    everything = {}
    with tempfile.TemporaryDirectory() as tmp, cf.ThreadPoolExecutor(a.jobs) as pool:
        for s in a.seeds_b:
            subprocess.run([sys.executable, os.path.join(HERE, "holdout.py"), "--data", a.data,
                            "--seed", str(s), "--out", os.path.join(tmp, "b%d" % s)], check=True)
        for name, flags, bflags in recipes:
            fa = [pool.submit(run_a, a, flags, s) for s in a.seeds_a]
            fb = [pool.submit(run_b, a, bflags, s, tmp) for s in a.seeds_b]
            ra, rb = [f.result() for f in fa], [f.result() for f in fb]
            everything[name] = {"flags": flags, "B flags": bflags, "A": ra, "B": rb}
            print(row(name, ra, rb, a.test), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(everything, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
