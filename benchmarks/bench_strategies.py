"""Which imbalance strategy works where: sklimb's default strategies on the benchmark suite.

Run with ``python benchmarks/bench_strategies.py`` (the whole development
suite of ``benchmarks/suite.py``; ``--quick`` for its seven-dataset subset).
Needs the benchmark extra: ``pip install -e ".[bench]"``. Every default
strategy of ``sklimb compare`` (each the estimator at its defaults with that
loss, weighting or sampler) goes through the same stratified
cross-validation on each dataset; the script prints the tables and writes
``docs/when_to_use.md``: the mean rank of each strategy over the datasets on
threshold metrics and on ranking metrics, and the best strategies per dataset.
The user guide's "when to use which" table is this file, not opinion.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sklimb import compare
from sklimb.strategies import DEFAULT_STRATEGIES

try:  # run as a script from the repository root or from benchmarks/
    from suite import load_suite
except ImportError:  # pragma: no cover
    from benchmarks.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD_METRICS = ("f1_macro", "balanced_accuracy", "minority_recall")
RANKING_METRICS = ("average_precision", "roc_auc")


def run(quick, n_jobs, folds):
    torch.set_num_threads(1)
    results = {}
    for name, (X, y) in load_suite(quick=quick).items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = compare(X, y, DEFAULT_STRATEGIES,
                             metrics=THRESHOLD_METRICS + RANKING_METRICS, cv=folds,
                             random_state=0, n_jobs=n_jobs, progress=False)
        results[name] = result
        print(f"\n## {name}: {len(y)} samples, classes "
              f"{np.unique(y, return_counts=True)[1].tolist()} "
              f"({time.perf_counter() - start:.0f} s)")
        print(result.summary_table().to_string())
    return results


def mean_ranks(results, metrics):
    """Mean rank (1 = best) of every strategy over datasets, averaged over ``metrics``."""
    per_dataset = {}
    for name, result in results.items():
        means = result.summary().xs("mean", axis=1, level=1)[list(metrics)]
        per_dataset[name] = means.rank(ascending=False, method="min").mean(axis=1)
    table = pd.DataFrame(per_dataset)
    return table.assign(mean=table.mean(axis=1)).sort_values("mean")


def report(results, folds):
    threshold = mean_ranks(results, THRESHOLD_METRICS)
    ranking = mean_ranks(results, RANKING_METRICS)
    lines = [
        "# When to use which strategy", "",
        "Measured, not opinion: `python benchmarks/bench_strategies.py` runs every default "
        f"strategy of `sklimb compare` through stratified {folds}-fold cross-validation on each "
        f"of the {len(results)} datasets of the development suite (`benchmarks/suite.py`). "
        "Every strategy is the estimator at its defaults with that loss, weighting or sampler "
        "(`ce` is class-weighted cross-entropy, `ce+unweighted` plain cross-entropy); the "
        "strategies are ranked per dataset (1 = best).", "",
        "## Threshold metrics (macro F1, balanced accuracy, minority recall): mean rank", "",
        threshold.round(1).to_markdown(), "",
        "## Ranking metrics (average precision, ROC AUC): mean rank", "",
        ranking.round(1).to_markdown(), "",
        "## Best three strategies per dataset on macro F1", "",
    ]
    for name, result in results.items():
        f1 = result.summary()[("f1_macro", "mean")].sort_values(ascending=False)
        top = ", ".join(f"{strategy} ({value:.3f})" for strategy, value in f1.head(3).items())
        lines.append(f"- **{name}**: {top}; default `ce`: {f1.get('ce', np.nan):.3f}")
    lines += ["", "## Reading it", "",
              "- Strategies near the top of the threshold table move the decision boundary "
              "towards the rare classes; compare their rows in the ranking table to see whether "
              "they also rank samples better or only shift the threshold.",
              "- Ranks are over these datasets and this network; run `sklimb compare` on your "
              "own data before choosing.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=-1)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.quick, args.n_jobs, args.folds)
    text = report(results, args.folds)
    print("\n" + text)
    if not args.no_write:
        (ROOT / "docs" / "when_to_use.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
