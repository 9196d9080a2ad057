#!/usr/bin/env python3
"""Training speed of abgpu's CPU path against JAX (and PoCL) on one thread, side by side.

JAX trains the seed network (10-100-100-2, ReLU then sigmoid, Xavier-uniform weights,
zero biases, softmax cross-entropy, Adam lr 0.001, batch 100 with the last partial batch
dropped) on abgpu's own standardised splits (`abgpu prep`), each epoch one `jit`-compiled
`lax.scan` over the batches in a fixed order, then the validation loss and accuracy, as
in abgpu's loop. XLA runs on one thread (XLA_FLAGS below, set before jax is imported).
abgpu runs `train --device cpu --threads 1` and `train --device 0` (OpenCL device 0:
PoCL on the CPU) on the same data (RECIPE below, batch order fixed too). Rounds alternate JAX, abgpu cpu, PoCL so that all
see the same machine load; each run's median epoch time (after 2 warm-up epochs) is
taken, and the medians over rounds are compared:

    ratio JAX / abgpu-cpu  and  PoCL / abgpu-cpu  (ms per epoch; > 1: abgpu cpu faster)

On a shared machine wall times swing with the other work, so the CPU time an epoch
takes is reported too: JAX's per epoch (process time, median after warm-up), abgpu's as
the CPU time of a run less that of a 2-epoch run, over the difference in epochs.

Usage: tools/compare_jax.py [--data CSV | --synth-rows N] [--epochs N] [--rounds R]
                            [--abgpu build/abgpu] [--seed S] [--no-pocl] [--json]
--data defaults to $ABGPU_REAL_DATA; --synth-rows writes N synthetic customers with
`abgpu synth` first. Development only: needs a venv with `pip install 'jax[cpu]' numpy`
(docs/benchmarks.md); without jax the script says so and exits 0.
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

os.environ["XLA_FLAGS"] = ("--xla_cpu_multi_thread_eigen=false "
                           "intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 100
WARM = 2  # epochs left out of each run's median (compilation, caches)
# The seed network's inputs: the 10 standardised features of balanced rows (bench's
# data), not train's default transforms (log1p,ple:32,te widen the input layer).
RECIPE = ["--balance", "random", "--transform", "none"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("ABGPU_REAL_DATA"),
                   help="CSV export (default: $ABGPU_REAL_DATA)")
    p.add_argument("--synth-rows", type=int, default=0,
                   help="instead of --data: N customers from `abgpu synth`")
    p.add_argument("--epochs", type=int, default=20,
                   help="epochs per run, %d of them warm-up (default: 20)" % WARM)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default: 3)")
    p.add_argument("--seed", type=int, default=1, help="split and initialisation seed")
    p.add_argument("--abgpu", default=os.path.join(ROOT, "build", "abgpu"),
                   help="the abgpu binary (default: build/abgpu)")
    p.add_argument("--no-pocl", action="store_true", help="leave out --device 0")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return p.parse_args()


def prep_splits(args, data, outdir):
    """The standardised train and validation splits abgpu trains on."""
    import numpy as np
    cmd = [args.abgpu, "prep", "--data", data, "--out", outdir, "--seed", str(args.seed)] + RECIPE
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    out = {}
    for name in ("train", "validation"):
        z = np.load(os.path.join(outdir, "Audiobooks_data_%s.npz" % name))
        out[name] = (z["inputs"].astype(np.float32), z["targets"].astype(np.int32))
    return out


def jax_trainer(jax, splits, seed):
    """A function running `epochs` epochs, returning their wall times and last losses."""
    import numpy as np
    jnp, lax = jax.numpy, jax.lax
    x, y = (jnp.asarray(a) for a in splits["train"])
    xv, yv = (jnp.asarray(a) for a in splits["validation"])
    nb = x.shape[0] // BATCH
    rng = np.random.default_rng(seed)
    dims = [10, 100, 100, 2]
    params = []
    for i, o in zip(dims[:-1], dims[1:]):
        lim = np.sqrt(6.0 / (i + o))
        params.append((jnp.asarray(rng.uniform(-lim, lim, (i, o)).astype(np.float32)),
                       jnp.zeros((o,), jnp.float32)))
    order = jnp.asarray(rng.permutation(x.shape[0])[:nb * BATCH].astype(np.int32))

    def forward(p, xb):
        h = jax.nn.relu(xb @ p[0][0] + p[0][1])
        h = jax.nn.sigmoid(h @ p[1][0] + p[1][1])
        return h @ p[2][0] + p[2][1]

    def loss_fn(p, xb, yb):
        logits = forward(p, xb)
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) -
                        jnp.take_along_axis(logits, yb[:, None], axis=1)[:, 0])

    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.001

    def step(carry, batch):
        p, m, v, t = carry
        xb, yb = batch
        loss, g = jax.value_and_grad(loss_fn)(p, xb, yb)
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, b: b1 * a + (1 - b1) * b, m, g)
        v = jax.tree_util.tree_map(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        p = jax.tree_util.tree_map(
            lambda w, a, b: w - lr / c1 * a / (jnp.sqrt(b / c2) + eps), p, m, v)
        return (p, m, v, t), loss

    # The data are arguments, not constants: XLA would otherwise fold the batch gather
    # into the program at compile time.
    @jax.jit
    def epoch(state, x, y, order):
        xb = x[order].reshape(nb, BATCH, x.shape[1])
        yb = y[order].reshape(nb, BATCH)
        state, losses = lax.scan(step, state, (xb, yb))
        return state, jnp.mean(losses)

    @jax.jit
    def validate(p, xv, yv):
        logits = forward(p, xv)
        loss = jnp.mean(jax.nn.logsumexp(logits, axis=1) -
                        jnp.take_along_axis(logits, yv[:, None], axis=1)[:, 0])
        return loss, jnp.sum(jnp.argmax(logits, axis=1) == yv)

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)

    def run(epochs):
        state = (params, zeros, zeros, jnp.float32(0))
        times, cpu, tl, vl = [], [], 0.0, 0.0
        for _ in range(epochs):
            t0, c0 = time.perf_counter(), time.process_time()
            state, tl = epoch(state, x, y, order)
            vl, corr = validate(state[0], xv, yv)
            jax.block_until_ready((tl, vl, corr))
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return times, float(tl), float(vl), statistics.median(cpu[WARM:])

    return run, nb


def abgpu_train(args, data, device, epochs):
    """One `abgpu train` run: its JSON and the CPU seconds it used."""
    cmd = [args.abgpu, "train", "--data", data, "--device", device, "--epochs",
           str(epochs), "--patience", str(epochs), "--seed", str(args.seed),
           "--batch-order", "fixed", "--quiet", "--json"] + RECIPE
    if device == "cpu":
        cmd[cmd.index("--epochs"):cmd.index("--epochs")] = ["--threads", "1"]
    c0 = os.times()
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    c1 = os.times()
    return json.loads(r.stdout), (c1.children_user + c1.children_system -
                                  c0.children_user - c0.children_system)


def abgpu_run(args, data, device):
    """Epoch wall times (s), the last losses and the CPU seconds an epoch of one run:
    the CPU time of a run of --epochs less that of a run of WARM epochs, over the
    difference (so loading and preparing the data cancel out)."""
    j, cpu = abgpu_train(args, data, device, args.epochs)
    _, cpu0 = abgpu_train(args, data, device, WARM)
    hist = j["history"]
    return ([h["ms"] / 1000.0 for h in hist], hist[-1]["train_loss"], hist[-1]["val_loss"],
            j["device"], (cpu - cpu0) / (args.epochs - WARM))


def median_after_warmup(times):
    return statistics.median(times[WARM:] if len(times) > WARM else times)


def load_text():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def measure(args, data, jax, splits):
    run, nb = jax_trainer(jax, splits, args.seed)
    systems = ["jax", "cpu"] + ([] if args.no_pocl else ["pocl"])
    med = {s: [] for s in systems}
    cpu = {s: [] for s in systems}
    info = {}
    loads = [load_text()]
    for _ in range(args.rounds):
        for s in systems:
            if s == "jax":
                t, tl, vl, c = run(args.epochs)
                info[s] = ("JAX %s (XLA CPU, 1 thread)" % jax.__version__, tl, vl)
            else:
                t, tl, vl, dev, c = abgpu_run(args, data, "cpu" if s == "cpu" else "0")
                info[s] = (dev, tl, vl)
            med[s].append(median_after_warmup(t))
            cpu[s].append(c)
        loads.append(load_text())
    return med, cpu, info, loads, nb


def report(args, data, ntrain, nb, med, cpu, info, loads):
    ms = {s: statistics.median(v) * 1e3 for s, v in med.items()}
    cms = {s: statistics.median(v) * 1e3 for s, v in cpu.items()}
    res = {"data": data, "train_rows": ntrain, "batches": nb, "epochs": args.epochs,
           "rounds": args.rounds, "load_before_and_after_each_round": loads,
           "ms_per_epoch": ms, "cpu_ms_per_epoch": cms,
           "names": {s: info[s][0] for s in info},
           "final_losses": {s: info[s][1:] for s in info},
           "ratio_jax_to_abgpu_cpu": ms["jax"] / ms["cpu"],
           "round_ratios_jax": [j / c for j, c in zip(med["jax"], med["cpu"])],
           "cpu_time_ratio_jax_to_abgpu_cpu": cms["jax"] / cms["cpu"]}
    if "pocl" in ms:
        res["cpu_time_ratio_pocl_to_abgpu_cpu"] = cms["pocl"] / cms["cpu"]
        res["ratio_pocl_to_abgpu_cpu"] = ms["pocl"] / ms["cpu"]
        res["round_ratios_pocl"] = [p / c for p, c in zip(med["pocl"], med["cpu"])]
    if args.json:
        print(json.dumps(res))
        return
    print("data %s: %d training rows, %d batches of %d; %d epochs a run (median after %d "
          "warm-up), %d alternating rounds, median over rounds" % (
              data, ntrain, nb, BATCH, args.epochs, WARM, args.rounds))
    for s in med:
        name, tl, vl = info[s]
        print("  %-34.34s %8.2f ms/epoch  per round: %s;  CPU %.2f ms/epoch  (final "
              "train/val loss %.4f / %.4f)" % (name, ms[s], ", ".join(
                  "%.2f" % (x * 1e3) for x in med[s]), cms[s], tl, vl))
    print("  ratio JAX / abgpu cpu: %.2fx  (per round: %s)" % (
        res["ratio_jax_to_abgpu_cpu"], ", ".join("%.2f" % x for x in res["round_ratios_jax"])))
    if "pocl" in ms:
        print("  ratio PoCL / abgpu cpu: %.2fx  (per round: %s)" % (
            res["ratio_pocl_to_abgpu_cpu"],
            ", ".join("%.2f" % x for x in res["round_ratios_pocl"])))
    print("  CPU time per epoch, JAX / abgpu cpu: %.2fx%s" % (
        res["cpu_time_ratio_jax_to_abgpu_cpu"], "; PoCL / abgpu cpu: %.2fx" %
        res["cpu_time_ratio_pocl_to_abgpu_cpu"] if "pocl" in ms else ""))
    print("  load average (1, 5, 15 min) before and after each round: %s" % "; ".join(loads))


def main():
    args = parse_args()
    try:
        import jax
    except ImportError:
        print("compare_jax: skipped: jax is not installed (python3 -m venv /work/venv-cpu && "
              "/work/venv-cpu/bin/pip install 'jax[cpu]' numpy; see docs/benchmarks.md)")
        return 0
    if not os.access(args.abgpu, os.X_OK):
        print("compare_jax: %s not found: build first" % args.abgpu, file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="abgpu-compare-jax-")
    try:
        data = args.data
        if args.synth_rows:
            data = os.path.join(tmp, "synth.csv")
            subprocess.run([args.abgpu, "synth", "--rows", str(args.synth_rows), "--out", data],
                           check=True, stdout=subprocess.DEVNULL)
        if not data:
            print("compare_jax: give --data CSV, --synth-rows N or set ABGPU_REAL_DATA",
                  file=sys.stderr)
            return 2
        splits = prep_splits(args, data, tmp)
        med, cpu, info, loads, nb = measure(args, data, jax, splits)
        shown = "synth %d rows" % args.synth_rows if args.synth_rows else data
        report(args, shown, splits["train"][0].shape[0], nb, med, cpu, info, loads)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
