#!/usr/bin/env python3
"""Training speed of abgpu's CPU path against PyTorch on one thread, side by side.

Both train the notebook's network (10-100-100-2, ReLU then sigmoid, Xavier-uniform
weights, zero biases, softmax cross-entropy, Adam lr 0.001, batch 100 with the last
partial batch dropped) on the identical standardised splits (`abgpu prep` writes them
for PyTorch), for the same fixed number of epochs, each epoch being the training steps
plus the validation loss and accuracy, as in abgpu's loop. The runs are interleaved
(PyTorch, abgpu, PyTorch, abgpu, ...) so that both see the same machine load; each
run's median epoch time is taken, and the medians over runs are compared:

    samples/s = (training batches per epoch * 100) / median epoch time

Usage: tools/compare_pytorch.py [--data CSV] [--epochs N] [--repeats R] [--threads T]
                                [--abgpu build/abgpu] [--seed S] [--json]
--data defaults to $ABGPU_REAL_DATA. Needs PyTorch: on Debian,
`apt-get install python3-torch libopenblas0`; without it the script says so and exits 0.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# One thread everywhere in PyTorch and the BLAS it calls, set before torch is imported.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 100


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("ABGPU_REAL_DATA"),
                   help="CSV export or synth:N (default: $ABGPU_REAL_DATA)")
    p.add_argument("--epochs", type=int, default=20, help="epochs per run (default: 20)")
    p.add_argument("--repeats", type=int, default=5, help="runs of each (default: 5)")
    p.add_argument("--threads", type=int, default=1, help="abgpu --threads (default: 1)")
    p.add_argument("--seed", type=int, default=1, help="split and batch-order seed (default: 1)")
    p.add_argument("--abgpu", default=os.path.join(ROOT, "build", "abgpu"),
                   help="the abgpu binary (default: build/abgpu)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return p.parse_args()


def prep_splits(args, outdir):
    """The standardised splits abgpu trains on, as the notebook's npz files."""
    cmd = [args.abgpu, "prep", "--data", args.data, "--out", outdir, "--seed", str(args.seed)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    import numpy as np
    out = {}
    for name in ("train", "validation"):
        z = np.load(os.path.join(outdir, "Audiobooks_data_%s.npz" % name))
        out[name] = (z["inputs"].astype(np.float32), z["targets"].astype(np.int64))
    return out


def torch_run(torch, splits, epochs, seed):
    """Epoch wall times (s) and the last epoch's losses of one PyTorch training run."""
    nn = torch.nn
    torch.manual_seed(seed)
    x, y = (torch.from_numpy(a) for a in splits["train"])
    xv, yv = (torch.from_numpy(a) for a in splits["validation"])
    model = nn.Sequential(nn.Linear(10, 100), nn.ReLU(), nn.Linear(100, 100), nn.Sigmoid(),
                          nn.Linear(100, 2))
    for m in model:
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    opt = torch.optim.Adam(model.parameters(), lr=0.001, betas=(0.9, 0.999), eps=1e-8)
    lossf = nn.CrossEntropyLoss()
    nb = x.shape[0] // BATCH
    times, train_loss, val_loss = [], 0.0, 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(x.shape[0])
        total = 0.0
        for b in range(nb):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            opt.zero_grad()
            loss = lossf(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item()
        with torch.no_grad():
            logits = model(xv)
            val_loss = lossf(logits, yv).item()
            (logits.argmax(1) == yv).sum().item()
        times.append(time.perf_counter() - t0)
        train_loss = total / nb
    return times, train_loss, val_loss


def abgpu_run(args):
    """Epoch wall times (s) and the last epoch's losses of one abgpu training run."""
    cmd = [args.abgpu, "train", "--data", args.data, "--device", "cpu", "--threads",
           str(args.threads), "--epochs", str(args.epochs), "--patience", str(args.epochs),
           "--seed", str(args.seed), "--quiet", "--json"]
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    j = json.loads(r.stdout)
    hist = j["history"]
    return [h["ms"] / 1000.0 for h in hist], hist[-1]["train_loss"], hist[-1]["val_loss"], j


def main():
    args = parse_args()
    try:
        import torch
    except ImportError:
        print("compare_pytorch: skipped: PyTorch is not installed "
              "(apt-get install python3-torch libopenblas0)")
        return 0
    if not args.data:
        print("compare_pytorch: give --data CSV or set ABGPU_REAL_DATA", file=sys.stderr)
        return 2
    if not os.access(args.abgpu, os.X_OK):
        print("compare_pytorch: %s not found: build first (make build)" % args.abgpu,
              file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    tmp = tempfile.mkdtemp(prefix="abgpu-compare-")
    try:
        splits = prep_splits(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ntrain = splits["train"][0].shape[0]
    samples = (ntrain // BATCH) * BATCH
    pt_med, ab_med, info = [], [], None
    for r in range(args.repeats):
        t, pt_loss, pt_val = torch_run(torch, splits, args.epochs, args.seed + r)
        pt_med.append(statistics.median(t))
        t, ab_loss, ab_val, info = abgpu_run(args)
        ab_med.append(statistics.median(t))
    pt, ab = statistics.median(pt_med), statistics.median(ab_med)
    res = {
        "data": args.data, "train_rows": ntrain, "epochs": args.epochs,
        "repeats": args.repeats, "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "abgpu_device": info["device"],
        "torch_ms_per_epoch": pt * 1e3, "abgpu_ms_per_epoch": ab * 1e3,
        "torch_samples_per_s": samples / pt, "abgpu_samples_per_s": samples / ab,
        "ratio": pt / ab,
        "pair_ratios": [p / a for p, a in zip(pt_med, ab_med)],
        "torch_final_losses": [pt_loss, pt_val], "abgpu_final_losses": [ab_loss, ab_val],
    }
    if args.json:
        print(json.dumps(res))
        return 0
    print("data %s: %d training rows, %d batches of %d; %d epochs x %d interleaved runs, "
          "median of each run's median epoch" % (args.data, ntrain, ntrain // BATCH, BATCH,
                                                  args.epochs, args.repeats))
    print("  PyTorch %s, %d thread   %9.0f samples/s  %8.2f ms/epoch  (final train/val loss "
          "%.4f / %.4f)" % (torch.__version__, torch.get_num_threads(), samples / pt, pt * 1e3,
                            pt_loss, pt_val))
    print("  abgpu %-22s %9.0f samples/s  %8.2f ms/epoch  (final train/val loss %.4f / %.4f)"
          % (info["device"], samples / ab, ab * 1e3, ab_loss, ab_val))
    print("  ratio abgpu / PyTorch: %.2fx  (per run: %s)" % (
        pt / ab, ", ".join("%.2f" % x for x in res["pair_ratios"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
