"""The evidence behind ``ImbalancedNetClassifier()``'s defaults.

Run with ``python benchmarks/bench_defaults.py`` (about 20 minutes on 2 cores;
``--seeds 1`` for a third of that). On every dataset of the quality suite
(``bench_quality.datasets``) each candidate is fitted on the same stratified
5-fold splits, repeated with several seeds; each seed draws new folds *and*
a new random state for every candidate, because on the long-tailed digits the
rarest class has three or four samples and one seed's luck moves macro F1 by
several points. Features are standardised on each training fold.

Candidates: the network as it was before the defaults changed (50 epochs,
no class weights), the default (``max_epochs="auto"``, ``class_weight="auto"``,
which is "balanced" for cross-entropy), the same budget without class weights,
and the strongest baseline of ``bench_quality.py``, SMOTE followed by
scikit-learn's ``MLPClassifier``. The script prints macro F1 per dataset and
the mean over the suite.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
import torch
from joblib import Parallel, delayed
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklimb import ImbalancedNetClassifier

try:  # run as a script from the repository root or from benchmarks/
    from bench_quality import _fold_smote, datasets
except ImportError:  # pragma: no cover
    from benchmarks.bench_quality import _fold_smote, datasets

#: name -> ImbalancedNetClassifier parameters (None: SMOTE + MLPClassifier).
CANDIDATES = {
    "50 epochs, no class weight (old default)": {"max_epochs": 50, "class_weight": None},
    "auto epochs, balanced (default)": {},
    "auto epochs, no class weight": {"class_weight": None},
    "SMOTE + MLPClassifier": None,
}


def _score(data, train, test, name, seed):
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    X, y = data
    scaler = StandardScaler().fit(X[train])
    X_train = scaler.transform(X[train]).astype(np.float32)
    X_test = scaler.transform(X[test]).astype(np.float32)
    params = CANDIDATES[name]
    if params is None:
        X_res, y_res = _fold_smote(X_train, y[train])
        model = MLPClassifier(max_iter=300, random_state=seed).fit(X_res, y_res)
    else:
        model = ImbalancedNetClassifier(random_state=seed, **params).fit(X_train, y[train])
    return f1_score(y[test], model.predict(X_test), average="macro")


def run(seeds, folds, n_jobs):
    suite = datasets(quick=False)
    jobs = [(data_name, seed, train, test, name)
            for data_name, (X, y) in suite.items() for seed in range(seeds)
            for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y)
            for name in CANDIDATES]
    scores = Parallel(n_jobs=n_jobs)(delayed(_score)(suite[d], tr, te, name, seed)
                                     for d, seed, tr, te, name in jobs)
    frame = pd.DataFrame([(d, name, seed) for d, seed, _, _, name in jobs],
                         columns=["dataset", "candidate", "seed"])
    frame["f1_macro"] = scores
    return frame


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=-1)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    frame = run(args.seeds, args.folds, args.n_jobs)
    table = frame.pivot_table(index="dataset", columns="candidate", values="f1_macro",
                              sort=False)[list(CANDIDATES)]
    table.loc["mean over the suite"] = table.mean()
    print(f"macro F1, mean over {args.folds} folds x {args.seeds} seeds")
    print(table.round(3).to_string())
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
