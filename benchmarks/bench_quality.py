"""Predictive quality of sklimb against the methods people use instead.

Run with ``python benchmarks/bench_quality.py`` (under 20 minutes on 2
cores) or ``--quick`` (three datasets, one 2-fold split, under 3 minutes,
prints only). Every method goes through the same repeated stratified
cross-validation of :func:`sklimb.compare` on a suite of imbalanced datasets
available offline. Each repeat is a separate ``compare`` run with its own
seed, which draws new folds *and* new random states for every method (the
networks' initialisation and shuffling, the forests, SMOTE), so a method
cannot win by one lucky seed. The script prints each dataset's table, the
per-dataset winner and each method's average rank, and (full run) rewrites
the "Predictive quality" section of ``docs/benchmarks.md`` and the plot
``docs/img/quality.png``.

"sklimb best (inner CV)" picks one sklimb strategy per training fold by an
inner cross-validation on that fold (``GridSearchCV``), never by looking at
the test fold.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from imblearn import FunctionSampler
from imblearn.ensemble import BalancedRandomForestClassifier
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import Pipeline, make_pipeline
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, TunedThresholdClassifierCV
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import LabelEncoder, StandardScaler
from skorch import NeuralNetClassifier

from sklimb import ImbalancedNetClassifier, compare
from sklimb.datasets import load_imbalanced_breast_cancer, load_long_tailed_digits
from sklimb.modules import MLP
from sklimb.results import ComparisonResult
from sklimb.strategies import make_sampler

METRICS = ("f1_macro", "balanced_accuracy", "geometric_mean", "average_precision")
FOLDS = 3
SEEDS = (0, 1)  # full run: 3-fold stratified CV, repeated with two seeds
SECTION = ("<!-- bench_quality:start -->", "<!-- bench_quality:end -->")
ROOT = Path(__file__).resolve().parents[1]


def datasets(quick):
    """The suite: name -> (X, y). Real data first, then harder synthetic sets."""
    suite = {
        "digits LT r=10": load_long_tailed_digits(10, return_X_y=True),
        "digits LT r=50": load_long_tailed_digits(50, return_X_y=True),
        "digits LT r=100": load_long_tailed_digits(100, return_X_y=True),
        "breast cancer r=20": load_imbalanced_breast_cancer(20, return_X_y=True),
        "synthetic binary, overlap+noise": make_classification(
            n_samples=2000, n_features=20, n_informative=6, n_redundant=4, weights=[0.93],
            class_sep=0.6, flip_y=0.03, random_state=1),
        "synthetic 5-class long tail": make_classification(
            n_samples=2500, n_features=20, n_informative=10, n_classes=5,
            n_clusters_per_class=2, weights=[0.6, 0.25, 0.1, 0.04, 0.01], class_sep=0.9,
            flip_y=0.02, random_state=2),
        "synthetic binary, 1% positives": make_classification(
            n_samples=4000, n_features=15, n_informative=8, weights=[0.99], class_sep=1.0,
            flip_y=0.005, random_state=3),
    }
    if quick:
        keep = ("digits LT r=50", "breast cancer r=20", "synthetic binary, overlap+noise")
        suite = {name: suite[name] for name in keep}
    return suite


class SkorchCE(NeuralNetClassifier):
    """Stock skorch with CE on raw logits: the network a user would otherwise write.

    Only the glue skorch needs is added (float32 input, integer labels, sizing
    the module from the data); no imbalance handling.
    """

    def __init__(self, module=MLP, criterion=torch.nn.CrossEntropyLoss,
                 optimizer=torch.optim.Adam, lr=1e-3, max_epochs=50, batch_size=128,
                 train_split=None, verbose=0, **kwargs):
        kwargs.setdefault("iterator_train__shuffle", True)
        super().__init__(module, criterion=criterion, optimizer=optimizer, lr=lr,
                         max_epochs=max_epochs, batch_size=batch_size, train_split=train_split,
                         verbose=verbose, **kwargs)

    def fit(self, X, y, **fit_params):
        self.encoder_ = LabelEncoder().fit(y)
        self.set_params(module__n_features=X.shape[1],
                        module__n_classes=len(self.encoder_.classes_))
        torch.manual_seed(0)
        return super().fit(np.asarray(X, dtype=np.float32),
                           self.encoder_.transform(y).astype(np.int64), **fit_params)

    @property
    def classes_(self):
        return self.encoder_.classes_

    def predict_proba(self, X):
        return super().predict_proba(np.asarray(X, dtype=np.float32))

    def predict(self, X):
        return self.encoder_.classes_[self.predict_proba(X).argmax(axis=1)]


def _fold_smote(X, y):
    """SMOTE with k_neighbors fitted to the rarest class of the training fold."""
    return make_sampler("smote", y, random_state=0).fit_resample(X, y)


def sklimb_inner_cv(random_state):
    """One sklimb strategy per training fold, chosen by inner 2-fold CV on macro F1."""
    pipe = Pipeline([("scale", StandardScaler()), ("sampler", "passthrough"),
                     ("net", ImbalancedNetClassifier(random_state=random_state))])
    grid = [
        {"net__loss": ["ce"]},  # the default: class-weighted cross-entropy
        {"net__loss": ["logit_adjusted"]},
        {"sampler": [RandomOverSampler(random_state=random_state)],
         "net__class_weight": [None]},
    ]
    return GridSearchCV(pipe, grid, scoring="f1_macro",
                        cv=StratifiedKFold(2, shuffle=True, random_state=random_state))


def methods(binary, random_state):
    """name -> estimator (or sklimb strategy string) for one dataset."""
    scaled = lambda est: make_pipeline(StandardScaler(), est)  # noqa: E731
    out = {
        "sklimb default": scaled(ImbalancedNetClassifier(random_state=random_state)),
        "sklimb best (inner CV)": sklimb_inner_cv(random_state),
        "LogisticRegression balanced": scaled(LogisticRegression(class_weight="balanced",
                                                                 max_iter=5000)),
        "HistGradientBoosting balanced": HistGradientBoostingClassifier(
            class_weight="balanced", random_state=random_state),
        "BalancedRandomForest": BalancedRandomForestClassifier(
            n_estimators=200, sampling_strategy="all", replacement=True, bootstrap=False,
            random_state=random_state),
        "SMOTE + MLPClassifier": make_pipeline(
            StandardScaler(), FunctionSampler(func=_fold_smote, validate=False),
            MLPClassifier(max_iter=300, random_state=random_state)),
        "skorch CE": scaled(SkorchCE()),
    }
    if binary:
        out["skorch CE + tuned threshold"] = TunedThresholdClassifierCV(
            scaled(SkorchCE()), scoring="f1_macro", cv=3, random_state=random_state)
    return out


def run(quick, n_jobs):
    torch.set_num_threads(1)
    tables, timings = {}, {}
    folds, seeds = (2, [0]) if quick else (FOLDS, SEEDS)
    for name, (X, y) in datasets(quick).items():
        start = time.perf_counter()
        results = []
        for seed in seeds:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                results.append(compare(X, y, methods(len(np.unique(y)) == 2, seed),
                                       metrics=METRICS, cv=folds, random_state=seed,
                                       n_jobs=n_jobs, progress=False))
        result = _pooled(results, seeds)
        timings[name] = time.perf_counter() - start
        tables[name] = result.summary()
        print(f"\n## {name} ({len(y)} samples, classes {np.bincount(_codes(y)).tolist()}, "
              f"{timings[name]:.0f} s)")
        print(result.summary_table().to_string())
    return tables, timings


def _pooled(results, seeds):
    """One result holding every seed's folds, each seed as one repeat."""
    if len(results) == 1:
        return results[0]
    frames = {}
    for attr in ("scores", "per_class", "times"):
        parts = [getattr(r, attr).assign(repeat=seed) for r, seed in zip(results, seeds,
                                                                         strict=True)]
        frames[attr] = pd.concat(parts, ignore_index=True)
    first = results[0]
    return ComparisonResult(frames["scores"], frames["per_class"], frames["times"],
                            first.metrics, first.strategies, first.classes,
                            first.class_counts, {**first.setup, "seeds": list(seeds)})


def _codes(y):
    return np.unique(y, return_inverse=True)[1]


def ranks(tables, metric="f1_macro"):
    """Average rank of every method over datasets (1 = best) on ``metric``."""
    means = pd.DataFrame({name: table[(metric, "mean")] for name, table in tables.items()})
    return means, means.rank(ascending=False, method="min").mean(axis=1).sort_values()


def report(tables, timings, quick):
    means, f1_ranks = ranks(tables)
    setup = "2-fold x 1 seed" if quick else f"{FOLDS}-fold x {len(SEEDS)} seeds"
    lines = [f"Generated by `python benchmarks/bench_quality.py{' --quick' if quick else ''}`: "
             f"stratified {setup} cross-validation through `sklimb.compare` (each seed "
             "draws new folds and new random states for every method); mean ± std over "
             f"folds. Total run time {sum(timings.values()) / 60:.1f} min on this machine.",
             "", "![macro F1 per dataset and method](img/quality.png)", "",
             "### Macro F1 by dataset", "", _with_mean(means).round(3).to_markdown(), "",
             "(The tuned-threshold baseline runs on the binary datasets only; its mean is "
             "over those.)", "",
             "### Average rank on macro F1 (1 = best)", "",
             f1_ranks.round(2).to_frame("mean rank").to_markdown(), ""]
    for metric in METRICS[1:]:
        _, metric_ranks = ranks(tables, metric)
        lines += [f"Average rank on {metric}: " + ", ".join(
            f"{name} {value:.1f}" for name, value in metric_ranks.items()), ""]
    lines += ["### Per dataset", ""]
    for name, table in tables.items():
        winner = table[("f1_macro", "mean")].idxmax()
        lines += [f"#### {name}", "", f"Winner on macro F1: **{winner}**.", "",
                  _table_strings(table).to_markdown(), ""]
    return "\n".join(lines), means, f1_ranks


def _with_mean(means):
    """Datasets as rows, methods as columns, plus the mean over the suite."""
    table = means.T
    table.loc["mean over the suite"] = table.mean()
    return table


def _table_strings(table):
    out = pd.DataFrame(index=table.index)
    for metric in METRICS:
        out[metric] = [f"{m:.3f} ± {s:.3f}" for m, s in
                       zip(table[(metric, "mean")], table[(metric, "std")], strict=True)]
    return out


def plot(means, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.45 * len(means) + 1.5))
    order = means.mean(axis=1).sort_values().index
    for offset, column in enumerate(means.columns):
        ax.scatter(means.loc[order, column], range(len(order)), label=column, s=25,
                   marker="os^vD<>"[offset % 7])
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel("macro F1 (mean over folds)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(1.0, 0.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    tables, timings = run(args.quick, args.n_jobs)
    text, means, f1_ranks = report(tables, timings, args.quick)
    print("\nwinner per dataset (macro F1):")
    for name, table in tables.items():
        print(f"  {name:<34} {table[('f1_macro', 'mean')].idxmax()}")
    print("\naverage rank on macro F1:")
    print(f1_ranks.round(2).to_string())
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if not args.quick and not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", text)
        plot(means, ROOT / "docs" / "img" / "quality.png")


def write_section(path, text):
    """Replace the text between the ``SECTION`` markers of ``path`` (append if absent)."""
    page = path.read_text(encoding="utf-8")
    block = f"{SECTION[0]}\n{text.rstrip()}\n{SECTION[1]}"
    if SECTION[0] in page and SECTION[1] in page:
        head, rest = page.split(SECTION[0], 1)
        page = head + block + rest.split(SECTION[1], 1)[1]
    else:
        page = page.rstrip() + "\n\n## Predictive quality\n\n" + block + "\n"
    path.write_text(page, encoding="utf-8")


if __name__ == "__main__":
    main()
