#!/usr/bin/env python3
"""Gradient-boosted trees on abgpu's own splits: the peer figure for issue 6's accuracy bar.

For each seed, `abgpu prep --balance first --seed S` writes the notebook's protocol
splits (80/10/10 of the balanced export; test = 448 customers on the real data). LightGBM
and XGBoost are trained on the training split with early stopping on the validation
split's log loss, over a small grid; each library's configuration is picked by its mean
validation accuracy over the seeds (the test split is not looked at), and only the picked
one's test accuracy and ROC AUC are reported. Trees split on thresholds, so the
standardised inputs `prep` writes give the same trees as raw ones.

Development only (not part of `make test`); needs numpy, scikit-learn, lightgbm and
xgboost, e.g. `python3 -m venv v && v/bin/pip install numpy scikit-learn lightgbm xgboost`.

Usage: tools/compare_trees.py [--data CSV] [--seeds 1-10] [--abgpu build/abgpu]
--data defaults to $ABGPU_REAL_DATA.
"""
import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore", module="lightgbm")  # API deprecations between versions

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=os.environ.get("ABGPU_REAL_DATA"))
    p.add_argument("--seeds", default="1-10", help="first-last (default 1-10)")
    p.add_argument("--abgpu", default=os.path.join(os.path.dirname(HERE), "build", "abgpu"))
    a = p.parse_args()
    if not a.data:
        sys.exit("compare_trees: give --data or set ABGPU_REAL_DATA")
    lo, hi = (int(v) for v in a.seeds.split("-"))
    a.seeds = list(range(lo, hi + 1))
    return a


def splits(abgpu, data, seed, tmp):
    import numpy as np
    d = os.path.join(tmp, str(seed))
    os.makedirs(d, exist_ok=True)
    subprocess.run([abgpu, "prep", "--data", data, "--out", d, "--seed", str(seed),
                    "--balance", "first"], check=True, stdout=subprocess.DEVNULL)
    out = []
    for name in ("train", "validation", "test"):
        z = np.load(os.path.join(d, "Audiobooks_data_%s.npz" % name))
        out.append((z["inputs"], z["targets"]))
    return out


def fit_lgb(cfg, tr, va):
    import lightgbm as lgb
    m = lgb.LGBMClassifier(n_estimators=2000, learning_rate=cfg["lr"], max_depth=cfg["depth"],
                           num_leaves=cfg["leaves"], min_child_samples=cfg["min_child"],
                           subsample=0.8, subsample_freq=1, colsample_bytree=0.8, n_jobs=1,
                           verbose=-1, random_state=0)
    m.fit(tr[0], tr[1], eval_set=[va], callbacks=[lgb.early_stopping(50, verbose=False)])
    return m


def fit_xgb(cfg, tr, va):
    import xgboost as xgb
    m = xgb.XGBClassifier(n_estimators=2000, learning_rate=cfg["lr"], max_depth=cfg["depth"],
                          min_child_weight=cfg["min_child"], subsample=0.8, colsample_bytree=0.8,
                          n_jobs=1, early_stopping_rounds=50, eval_metric="logloss",
                          random_state=0, tree_method="hist")
    m.fit(tr[0], tr[1], eval_set=[va], verbose=False)
    return m


def accuracy(model, split):
    return ((model.predict_proba(split[0])[:, 1] > 0.5) == split[1]).mean()


GRIDS = {
    "LightGBM": (fit_lgb, [dict(lr=lr, depth=d, leaves=8 if d == 3 else 31, min_child=mc)
                           for lr, d, mc in itertools.product([0.03, 0.1], [3, 5, -1], [5, 20])]),
    "XGBoost": (fit_xgb, [dict(lr=lr, depth=d, min_child=mc)
                          for lr, d, mc in itertools.product([0.03, 0.1], [3, 5, 7], [1, 5])]),
}


def main():
    a = parse_args()
    try:
        import numpy as np
        from sklearn.metrics import roc_auc_score
        import lightgbm  # noqa: F401
        import xgboost  # noqa: F401
    except ImportError as e:
        print("compare_trees: %s; install numpy, scikit-learn, lightgbm and xgboost (see the "
              "top of this file)" % e)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        data = {s: splits(a.abgpu, a.data, s, tmp) for s in a.seeds}
    print("seeds %d-%d, --balance first, 80/10/10; picked by mean validation accuracy"
          % (a.seeds[0], a.seeds[-1]))
    for lib, (fit, grid) in GRIDS.items():
        best = None
        for cfg in grid:
            models = {s: fit(cfg, data[s][0], data[s][1]) for s in a.seeds}
            val = np.mean([accuracy(models[s], data[s][1]) for s in a.seeds])
            if best is None or val > best[0]:
                best = (val, cfg, models)
        val, cfg, models = best
        acc = [accuracy(models[s], data[s][2]) for s in a.seeds]
        auc = [roc_auc_score(data[s][2][1], models[s].predict_proba(data[s][2][0])[:, 1])
               for s in a.seeds]
        print("%-9s %s: validation accuracy %.2f%%; TEST accuracy %.2f%% (sd %.2f), "
              "TEST ROC AUC %.4f" % (lib, cfg, 100 * val, 100 * np.mean(acc),
                                     100 * np.std(acc, ddof=1), np.mean(auc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
