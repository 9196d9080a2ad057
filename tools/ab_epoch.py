#!/usr/bin/env python3
"""Alternating A/B of abgpu builds' CPU training speed (development only).

usage: tools/ab_epoch.py OLD_BINARY NEW_BINARY [MORE...]

Each round runs every binary once, in turn: `train --device cpu --threads T --epochs E
--patience 0 --min-epochs E --batch-order fixed --balance random --transform none` on
$AB_DATA (default $ABGPU_REAL_DATA), and takes the median ms/epoch after 2 warm-up
epochs from --json's history. Prints each round, then per binary the median over rounds
and the median of its per-round ratios to the first binary (< 1: faster). Environment:
AB_ROUNDS (default 7), AB_EPOCHS (60), AB_THREADS (1)."""
import json
import os
import statistics as st
import subprocess
import sys


def epoch_ms(binary, data, epochs, threads):
    cmd = [binary, "train", "--data", data, "--device", "cpu", "--threads", threads,
           "--epochs", str(epochs), "--patience", "0", "--min-epochs", str(epochs),
           "--batch-order", "fixed", "--balance", "random", "--transform", "none",
           "--quiet", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return st.median(h["ms"] for h in json.loads(out)["history"][2:])


def main():
    bins = sys.argv[1:]
    data = os.environ.get("AB_DATA", os.environ.get("ABGPU_REAL_DATA"))
    if len(bins) < 2 or not data:
        sys.exit(__doc__)
    rounds = int(os.environ.get("AB_ROUNDS", "7"))
    epochs = int(os.environ.get("AB_EPOCHS", "60"))
    threads = os.environ.get("AB_THREADS", "1")
    res = [[] for _ in bins]  # by position: a binary may be given twice (an A/A check)
    for r in range(rounds):
        for i, b in enumerate(bins):
            res[i].append(epoch_ms(b, data, epochs, threads))
        load = open("/proc/loadavg").read().split()[0]
        print("round", r, " ".join("%.3f" % t[-1] for t in res), "load", load, flush=True)
    for b, t in zip(bins, res):
        ratio = st.median(x / y for x, y in zip(t, res[0]))
        print("%-28s median %.3f ms/epoch  min %.3f  ratio to the first %.3f"
              % (b, st.median(t), min(t), ratio))


if __name__ == "__main__":
    main()
