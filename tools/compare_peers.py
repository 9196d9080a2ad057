#!/usr/bin/env python3
"""abgpu against its peers on abgpu's own splits, protocols A and B: one table.

Protocol A: `abgpu prep --balance first --seed S` (the notebook's split: first-N balancing,
80/10/10; test = 448 balanced customers on the real export), seeds 1..10.
Protocol B: tools/holdout.py holds out a stratified fifth of the file at its natural ratio
(seed S); `abgpu prep --balance none --seed S` on the other four fifths gives the
training and validation rows (every customer: the rows abgpu's default `train` uses);
everything is scored on the held-out fifth. 5 splits.

Every method sees the same rows (the peers read them by customer id from the npz files
`abgpu prep` writes). Peers pick their hyperparameters by mean validation ROC AUC over the
splits of a protocol (the test and held-out rows are not looked at), early-stop on the
validation rows where they can, and only the picked configuration is scored:
- LightGBM, XGBoost, CatBoost: small grids, raw features;
- logistic regression (scikit-learn): log1p of the skewed features and out-of-fold target
  encoding of the repeating columns (as abgpu's `--transform log1p,te`), C from a grid;
- the notebook's recipe in PyTorch: 10-100-100-2 ReLU/sigmoid, Adam 1e-3, batch 100 (last
  partial batch dropped), the training split in one fixed order every epoch, stop at the
  first rise of the validation loss, last epoch kept; scaler fitted on the training rows;
- abgpu: its default `train`, `--seed-compat`, and the configuration given by --winner
  (docs/sweep.md's), each trained on the same splits by `abgpu train --seed S`.

Development only (docs/quality.md); needs a venv with numpy<2, scikit-learn, lightgbm,
xgboost, catboost and PyTorch (docs/quality.md says how).

Usage: tools/compare_peers.py [--data CSV] [--seeds-a 1-10|none] [--seeds-b 1-5|none]
                              [--winner "TRAIN FLAGS"] [--abgpu build/abgpu] [--skip NAME,...]
"""
import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import warnings

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")
warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
LOG1P = [0, 1, 2, 3, 7, 8, 9]   # the skewed features abgpu's log1p acts on
TE_COLS = [1, 3, 5, 8, 9]       # the repeating columns abgpu's te encodes


def seeds(text):
    if text == "none":  # leave the protocol out
        return []
    lo, hi = (int(v) for v in text.split("-"))
    return list(range(lo, hi + 1))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("ABGPU_REAL_DATA"))
    p.add_argument("--seeds-a", type=seeds, default=seeds("1-10"))
    p.add_argument("--seeds-b", type=seeds, default=seeds("1-5"))
    p.add_argument("--winner", default="", help="abgpu train flags of the sweep's winner")
    p.add_argument("--abgpu", default=os.path.join(os.path.dirname(HERE), "build", "abgpu"))
    p.add_argument("--skip", default="", help="comma-separated methods to leave out")
    a = p.parse_args()
    if not a.data:
        sys.exit("compare_peers: give --data or set ABGPU_REAL_DATA")
    a.skip = set(filter(None, a.skip.split(",")))
    return a


# ---- splits ----

def load_csv(path):
    import numpy as np
    d = np.genfromtxt(path, delimiter=",", ndmin=2)
    return {int(r[0]): r for r in d}


def prep_ids(a, data, seed, out, balance):
    import numpy as np
    os.makedirs(out, exist_ok=True)
    cmd = [a.abgpu, "prep", "--data", data, "--out", out, "--seed", str(seed)]
    subprocess.run(cmd + (["--balance", balance] if balance else []), check=True,
                   stdout=subprocess.DEVNULL)
    return [np.load(os.path.join(out, "Audiobooks_data_%s.npz" % n))["ids"]
            for n in ("train", "validation", "test")]


def rows(table, ids):
    import numpy as np
    m = np.array([table[int(i)] for i in ids])
    return m[:, 1:11], m[:, 11].astype(int)


def make_splits(a, tmp):
    """{'A': [(train, val, test)], 'B': [...]}, each a (x, y) pair of raw features."""
    table = load_csv(a.data)
    out = {"A": [], "B": []}
    for s in a.seeds_a:
        tr, va, te = prep_ids(a, a.data, s, os.path.join(tmp, "a%d" % s), "first")
        out["A"].append((rows(table, tr), rows(table, va), rows(table, te)))
    for s in a.seeds_b:
        d = os.path.join(tmp, "b%d" % s)
        subprocess.run([sys.executable, os.path.join(HERE, "holdout.py"), "--data", a.data,
                        "--seed", str(s), "--out", d], check=True)
        tr, va, _ = prep_ids(a, os.path.join(d, "rest.csv"), s, d, "none")
        held = load_csv(os.path.join(d, "holdout.csv"))
        out["B"].append((rows(table, tr), rows(table, va), rows(held, list(held))))
    return out


# ---- peers: fit(cfg, train, val) -> predict_proba(x) for class 1 ----

def fit_lgb(cfg, tr, va):
    import lightgbm as lgb
    m = lgb.LGBMClassifier(n_estimators=3000, learning_rate=cfg["lr"], max_depth=cfg["depth"],
                           num_leaves=cfg["leaves"], min_child_samples=cfg["min_child"],
                           subsample=0.8, subsample_freq=1, colsample_bytree=0.8, n_jobs=1,
                           verbose=-1, random_state=0)
    m.fit(tr[0], tr[1], eval_set=[va], callbacks=[lgb.early_stopping(100, verbose=False)])
    return lambda x: m.predict_proba(x)[:, 1]


def fit_xgb(cfg, tr, va):
    import xgboost as xgb
    m = xgb.XGBClassifier(n_estimators=3000, learning_rate=cfg["lr"], max_depth=cfg["depth"],
                          min_child_weight=cfg["min_child"], subsample=0.8, colsample_bytree=0.8,
                          n_jobs=1, early_stopping_rounds=100, eval_metric="logloss",
                          random_state=0, tree_method="hist")
    m.fit(tr[0], tr[1], eval_set=[va], verbose=False)
    return lambda x: m.predict_proba(x)[:, 1]


def fit_cat(cfg, tr, va):
    import catboost as cb
    m = cb.CatBoostClassifier(iterations=3000, learning_rate=cfg["lr"], depth=cfg["depth"],
                              l2_leaf_reg=cfg["l2"], thread_count=1, random_seed=0, verbose=False,
                              od_type="Iter", od_wait=100, use_best_model=True,
                              allow_writing_files=False)  # no catboost_info/ in the cwd
    m.fit(tr[0], tr[1], eval_set=va)
    return lambda x: m.predict_proba(x)[:, 1]


def te_fit(x, y, cols, folds=5, m=10.0, seed=0):
    """Out-of-fold target encoding of the training rows and full-training tables."""
    import numpy as np
    prior = y.mean()
    fold = np.random.RandomState(seed).permutation(len(y)) % folds
    oof = np.zeros((len(y), len(cols)))
    tables = []
    for c, j in enumerate(cols):
        v = x[:, j]
        full = {}
        for val in np.unique(v):
            h = v == val
            full[val] = (y[h].sum() + m * prior) / (h.sum() + m)
        tables.append(full)
        for f in range(folds):
            out, inn = fold == f, fold != f
            for val in np.unique(v[out]):
                h = inn & (v == val)
                oof[out & (v == val), c] = (y[h].sum() + m * prior) / (h.sum() + m)
    return oof, tables, prior


def te_apply(x, cols, tables, prior):
    import numpy as np
    return np.column_stack([[t.get(val, prior) for val in x[:, j]] for j, t in zip(cols, tables)])


def fit_logreg(cfg, tr, va):
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    def log1p(x):
        x = x.copy()
        x[:, LOG1P] = np.log1p(x[:, LOG1P])
        return x
    oof, tables, prior = te_fit(tr[0], tr[1], TE_COLS)
    sc = StandardScaler().fit(np.hstack([log1p(tr[0]), oof]))
    m = LogisticRegression(C=cfg["C"], max_iter=5000).fit(sc.transform(np.hstack([log1p(tr[0]), oof])), tr[1])
    enc = lambda x: sc.transform(np.hstack([log1p(x), te_apply(x, TE_COLS, tables, prior)]))
    return lambda x: m.predict_proba(enc(x))[:, 1]


def fit_torch(cfg, tr, va):
    """The notebook's recipe: fixed batch order, stop at the first validation-loss rise."""
    import numpy as np
    import torch
    torch.manual_seed(cfg["seed"])
    torch.set_num_threads(1)
    mu, sd = tr[0].mean(0), tr[0].std(0)
    sd[sd == 0] = 1
    t = lambda x: torch.tensor((x - mu) / sd, dtype=torch.float32)
    xt, yt, xv, yv = t(tr[0]), torch.tensor(tr[1]), t(va[0]), torch.tensor(va[1])
    net = torch.nn.Sequential(torch.nn.Linear(10, 100), torch.nn.ReLU(), torch.nn.Linear(100, 100),
                              torch.nn.Sigmoid(), torch.nn.Linear(100, 2))
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss = torch.nn.CrossEntropyLoss()
    prev = np.inf
    for _ in range(100):
        for b in range(len(yt) // 100):
            opt.zero_grad()
            loss(net(xt[b * 100:(b + 1) * 100]), yt[b * 100:(b + 1) * 100]).backward()
            opt.step()
        with torch.no_grad():
            v = loss(net(xv), yv).item()
        if v > prev:
            break
        prev = v
    return lambda x: torch.softmax(net(t(x)), 1)[:, 1].detach().numpy()


PEERS = {
    "LightGBM": (fit_lgb, [dict(lr=lr, depth=d, leaves=8 if d == 3 else 31, min_child=mc)
                           for lr, d, mc in itertools.product([0.02, 0.05], [3, 5, -1], [5, 20, 50])]),
    "XGBoost": (fit_xgb, [dict(lr=lr, depth=d, min_child=mc)
                          for lr, d, mc in itertools.product([0.02, 0.05], [3, 5, 7], [1, 5, 10])]),
    "CatBoost": (fit_cat, [dict(lr=lr, depth=d, l2=l2)
                           for lr, d, l2 in itertools.product([0.03, 0.1], [4, 6], [3, 10])]),
    "logistic regression, log1p + te": (fit_logreg, [dict(C=c) for c in (0.01, 0.1, 1.0, 10.0)]),
    "PyTorch, notebook recipe (fixed order)": (fit_torch, [dict(seed=1)]),
}


def figures(p, split):
    import numpy as np
    from sklearn.metrics import roc_auc_score
    return float(np.mean((p > 0.5) == split[1])), float(roc_auc_score(split[1], p))


def run_peer(fit, grid, splits):
    """The configuration with the best mean validation AUC over splits, and its scores."""
    import numpy as np
    if not splits:
        return None, float("nan"), []
    best = None
    for cfg in grid:
        preds = [fit(cfg, tr, va) for tr, va, _ in splits]
        val = np.mean([figures(f(va[0]), va)[1] for f, (_, va, _) in zip(preds, splits)])
        if best is None or val > best[0]:
            best = (val, cfg, preds)
    val, cfg, preds = best
    test = [figures(f(te[0]), te) for f, (_, _, te) in zip(preds, splits)]
    return cfg, val, test


# ---- abgpu ----

def abgpu_runs(a, flags, tmp):
    import numpy as np
    out = {"A": [], "B": [], "Aval": [], "Bval": []}
    for s in a.seeds_a:
        j = json.loads(subprocess.run([a.abgpu, "train", "--data", a.data, "--seed", str(s), "--json",
                                       "--quiet", "--balance", "first"] + flags, check=True,
                                      capture_output=True, text=True).stdout)
        out["A"].append((j["test_metrics"]["accuracy"], j["test_metrics"]["roc_auc"]))
        out["Aval"].append(j["val_metrics"]["roc_auc"])
    for s in a.seeds_b:
        d = os.path.join(tmp, "b%d" % s)
        m = os.path.join(d, "abgpu.abm")
        t = json.loads(subprocess.run([a.abgpu, "train", "--data", os.path.join(d, "rest.csv"),
                                       "--seed", str(s), "--quiet", "--json", "--out", m] + flags,
                                      check=True, capture_output=True, text=True).stdout)
        out["Bval"].append(t["val_metrics"]["roc_auc"])
        j = json.loads(subprocess.run([a.abgpu, "eval", "--model", m, "--data",
                                       os.path.join(d, "holdout.csv"), "--json"], check=True,
                                      capture_output=True, text=True).stdout)
        out["B"].append((j["accuracy"], j["roc_auc"]))
    res = {k: (float(np.mean([r[0] for r in out[k]])), float(np.mean([r[1] for r in out[k]])))
           for k in ("A", "B")}
    res.update({k: float(np.mean(out[k])) for k in ("Aval", "Bval")})
    return res


def cfg_text(cfg):
    return " ".join("%s %s" % kv for kv in cfg.items())


def main():
    a = parse_args()
    try:
        import numpy as np  # noqa: F401
        import sklearn  # noqa: F401
        import lightgbm, xgboost, catboost, torch  # noqa: F401,E401
    except ImportError as e:
        print("compare_peers: %s; see docs/quality.md for the venv" % e)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        splits = make_splits(a, tmp)
        print("| method | picked on validation (A; B) | A: val AUC | A: TEST acc | A: TEST AUC "
              "| B: val AUC | B: HELD-OUT AUC |")
        print("|---|---|---:|---:|---:|---:|---:|")
        abgpu = [("abgpu default", []), ("abgpu --seed-compat", ["--seed-compat"])]
        if a.winner:
            abgpu.append(("abgpu, docs/sweep.md's configuration", a.winner.split()))
        for name, flags in abgpu:
            if name in a.skip:
                continue
            r = abgpu_runs(a, flags, tmp)
            print("| %s | `%s` | %.4f | %.2f%% | %.4f | %.4f | %.4f |" % (
                name, " ".join(flags) or "-", r["Aval"], 100 * r["A"][0], r["A"][1], r["Bval"],
                r["B"][1]), flush=True)
        for name, (fit, grid) in PEERS.items():
            if name in a.skip:
                continue
            ca, va, ta = run_peer(fit, grid, splits["A"])
            cb, vb, tb = run_peer(fit, grid, splits["B"])
            picks = [cfg_text(c) for c in (ca, cb) if c is not None]
            pick = "; ".join(picks) if len(set(picks)) > 1 else "".join(picks[:1])
            print("| %s | %s | %.4f | %.2f%% | %.4f | %.4f | %.4f |" % (
                name, pick, va, 100 * np.mean([t[0] for t in ta]), np.mean([t[1] for t in ta]),
                vb, np.mean([t[1] for t in tb])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
