"""The ablation behind ``ImbalancedNetClassifier()``'s defaults, on the development suite.

Run with ``python benchmarks/bench_defaults.py`` (about an hour on 2 cores;
``--seeds 1`` for a third of that, ``--only NAME ...`` for some candidates).
Needs the benchmark extra: ``pip install -e ".[bench]"``.

Every candidate is fitted on the same stratified 5-fold splits of every
dataset of ``benchmarks/suite.py``, repeated with several seeds; each seed
draws new folds *and* a new random state for every candidate. The candidates
walk from the previous default to the current one, one change at a time,
then try the alternatives the default was chosen over (each a single change
of the step before the last, which differs from the default only in its
balanced class weights). The script prints the mean macro F1, balanced accuracy and
G-mean over the suite, the average rank on macro F1 among the candidates, and
the median fit time, and with ``--write`` replaces the ablation table of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np
import pandas as pd
import torch
from imblearn.metrics import geometric_mean_score
from joblib import Parallel, delayed
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklimb import ImbalancedNetClassifier
from sklimb.resampling import make_sampler

try:  # run as a script from the repository root or from benchmarks/
    from _docs import write_section
    from suite import load_suite
except ImportError:  # pragma: no cover
    from benchmarks._docs import write_section
    from benchmarks.suite import load_suite

PREVIOUS = "previous default"
#: the parameters of the previous default (its "auto" budget is resolved per fold)
PREVIOUS_PARAMS = dict(module="mlp", module__hidden_layer_sizes=(256, 128),
                       module__dropout=0.1, batch_size=128, lr=1e-3, lr_schedule="constant",
                       ema_decay=None, input_transform=None, class_weight="balanced")
SMALL = dict(module__hidden_layer_sizes=(100,), module__dropout=0.0, batch_size=200,
             max_epochs=200)

#: the weights of every step before square-root balanced ones
BALANCED = {"class_weight": "balanced"}
#: every step before the last has AdamW's own weight decay (the default has 0.3)
OLD_DECAY = {"weight_decay": 0.01}

#: name -> ImbalancedNetClassifier parameters; None is SMOTE + MLPClassifier. The
#: alternatives after the walk are single changes of the step they name.
CANDIDATES = {
    PREVIOUS: {**PREVIOUS_PARAMS, **OLD_DECAY},
    "one layer of 100, no dropout, 200 epochs": {**PREVIOUS_PARAMS, **SMALL, **OLD_DECAY},
    "+ standardised, smoothly clipped inputs": {**PREVIOUS_PARAMS, **SMALL, **OLD_DECAY,
                                                "input_transform": "standard"},
    "+ cosine schedule and weight average (lr 2e-3)": {
        **SMALL, **BALANCED, **OLD_DECAY, "lr": 2e-3},
    "+ lr 5e-3 (balanced weights)": {**BALANCED, **OLD_DECAY},
    "+ square-root balanced weights": OLD_DECAY,
    "+ weight decay 0.3: the default": {},
    "lr 5e-3 step, unweighted": {"class_weight": None, **OLD_DECAY},
    "lr 5e-3 step, two layers (100, 100)": {**BALANCED, **OLD_DECAY,
                                            "module__hidden_layer_sizes": (100, 100)},
    "lr 5e-3 step, piecewise-linear encoding": {**BALANCED, **OLD_DECAY,
                                                "input_transform": "piecewise_linear"},
    "lr 5e-3 step, TabM-mini ensemble (k=4)": {**BALANCED, **OLD_DECAY,
                                               "module": "ensemble_mlp",
                                               "module__n_members": 4},
    "lr 5e-3 step, SMOTE every epoch": {"sampler": "smote", **OLD_DECAY},  # no weights
    "square-root step, dropout 0.1": {**OLD_DECAY, "module__dropout": 0.1},
    "square-root step, weight decay 0.1": {"weight_decay": 0.1},
    "square-root step, robust-scaled inputs": {**OLD_DECAY, "input_transform": "robust"},
    "SMOTE + MLPClassifier": None,
}


def previous_epochs(n_train, batch_size=128, steps=2000, low=10, high=500):
    """The previous default's ``max_epochs="auto"``: about 2000 steps within [10, 500]."""
    return int(np.clip(math.ceil(steps / math.ceil(n_train / batch_size)), low, high))


def _score(X, y, train, test, name, seed):
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    params = CANDIDATES[name]
    start = time.perf_counter()
    if params is None:
        scaler = StandardScaler().fit(X[train])
        X_res, y_res = make_sampler("smote", random_state=seed).fit_resample(
            scaler.transform(X[train]), y[train])
        model = MLPClassifier(random_state=seed).fit(X_res, y_res)
        predicted = model.predict(scaler.transform(X[test]))
    else:
        if params.get("input_transform", "standard") is None:  # the previous default's scaler
            scaler = StandardScaler().fit(X[train])
            X_train, X_test = scaler.transform(X[train]), scaler.transform(X[test])
        else:
            X_train, X_test = X[train], X[test]
        if name == PREVIOUS:
            params = {**params, "max_epochs": previous_epochs(len(train))}
        model = ImbalancedNetClassifier(random_state=seed, **params).fit(X_train, y[train])
        predicted = model.predict(X_test)
    fit_time = time.perf_counter() - start
    return (f1_score(y[test], predicted, average="macro"),
            balanced_accuracy_score(y[test], predicted),
            geometric_mean_score(y[test], predicted, average="multiclass"), fit_time)


def run(names, seeds, folds, n_jobs):
    suite = load_suite()
    jobs = [(dataset, seed, train, test, name)
            for dataset, (X, y) in suite.items() for seed in range(seeds)
            for train, test in StratifiedKFold(folds, shuffle=True,
                                               random_state=seed).split(X, y)
            for name in names]
    jobs.sort(key=lambda job: -len(suite[job[0]][1]))  # large datasets first
    scores = Parallel(n_jobs=n_jobs)(delayed(_score)(*suite[d], tr, te, name, seed)
                                     for d, seed, tr, te, name in jobs)
    frame = pd.DataFrame([(d, name, seed) for d, seed, _, _, name in jobs],
                         columns=["dataset", "candidate", "seed"])
    frame[["f1_macro", "balanced_accuracy", "geometric_mean", "fit_time"]] = scores
    return frame


def table(frame, names):
    means = frame.groupby(["candidate", "dataset"]).mean(numeric_only=True)
    out = {}
    for metric in ("f1_macro", "balanced_accuracy", "geometric_mean"):
        out[metric] = means[metric].groupby("candidate").mean()
    f1 = means["f1_macro"].unstack("candidate")
    out["rank (macro F1)"] = f1.rank(axis=1, ascending=False).mean()
    out["median fit s"] = means["fit_time"].groupby("candidate").median()
    return pd.DataFrame(out).loc[names]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(CANDIDATES))
    parser.add_argument("--write", action="store_true",
                        help="replace the ablation table of docs/benchmarks.md")
    parser.add_argument("--block", default="bench_defaults", metavar="NAME",
                        help="with --write: the block of docs/benchmarks.md to replace "
                             "(a run with --only ranks among its own candidates, so it gets a "
                             "block of its own)")
    args = parser.parse_args(argv)
    names = args.only or list(CANDIDATES)
    start = time.perf_counter()
    frame = run(names, args.seeds, args.folds, args.n_jobs)
    result = table(frame, names)
    text = (f"`python benchmarks/bench_defaults.py`: {len(frame['dataset'].unique())} datasets, "
            f"{args.folds}-fold CV x {args.seeds} seeds; means over the suite, rank among "
            f"these candidates. Total {(time.perf_counter() - start) / 60:.0f} min.\n\n"
            + result.round(3).to_markdown())
    print(text)
    if args.write:
        write_section(args.block, text)


if __name__ == "__main__":
    main()
