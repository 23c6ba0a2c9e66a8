"""Cross-validated comparison of imbalance strategies: :func:`compare`."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_X_y
from tqdm.auto import tqdm

from .metrics import check_metrics, metric_kind, score_fold
from .results import ComparisonResult
from .strategies import DEFAULT_STRATEGIES, Strategy


def compare(X, y, strategies=None, *, metrics=None, cv=5, n_repeats=1, random_state=0,
            n_jobs=None, scheduler=None, scale=True, net_params=None, device=None,
            progress=True):
    """Compare imbalance strategies on ``X, y`` with stratified (repeated) cross-validation.

    Every strategy is fitted on the same training folds and scored on the
    same test folds. Class weights, class counts and resampling are computed
    inside each training fold only, so nothing leaks from the test fold.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        Numeric features.
    y : array-like of shape (n_samples,)
        Class labels (at least two classes).
    strategies : list or dict, default=None
        Strategies to compare: strings such as ``"focal"``, ``"ce+balanced"``,
        ``"smote+ce"`` (see :class:`~sklimb.strategies.Strategy`),
        :class:`~sklimb.strategies.Strategy` objects, or a dict mapping a
        name to either of those or to any scikit-learn / imbalanced-learn
        estimator or pipeline (your own baseline). ``None`` runs
        :data:`~sklimb.strategies.DEFAULT_STRATEGIES`.
    metrics : list of str, default=None
        Built-in names (``balanced_accuracy``, ``f1_macro``,
        ``geometric_mean``, ``minority_recall``, ``average_precision``,
        ``roc_auc``) or any scikit-learn scorer name. ``None`` uses all built-ins.
    cv : int, default=5
        Number of stratified folds.
    n_repeats : int, default=1
        Repetitions of the cross-validation with different shuffles.
    random_state : int, default=0
        Seeds the folds, the samplers and the networks.
    n_jobs : int, default=None
        Fits run in parallel through joblib (``-1``: all cores). Each network
        uses one torch thread, so parallel fits do not oversubscribe cores.
    scheduler : str or dask.distributed.Client, default=None
        A Dask scheduler address or client: the fits then run on that
        cluster through joblib's Dask backend (needs ``sklimb[dask]``).
    scale : bool, default=True
        Put a ``StandardScaler`` before the sampler and the network.
    net_params : dict, default=None
        Extra :class:`~sklimb.ImbalancedNetClassifier` parameters for every
        strategy (for example ``{"max_epochs": 30}``).
    device : str, default=None
        Torch device for every network (``"cuda"`` for a GPU).
    progress : bool, default=True
        Show a progress bar.

    Returns
    -------
    result : ComparisonResult
        Scores per strategy, fold and metric, per-class reports and times.

    Examples
    --------
    >>> from sklimb import compare
    >>> from sklimb.datasets import load_long_tailed_digits
    >>> X, y = load_long_tailed_digits(imbalance_ratio=10, return_X_y=True)
    >>> result = compare(X, y, ["ce", "ce+balanced"], cv=2, net_params={"max_epochs": 2},
    ...                  progress=False)
    >>> sorted(result.summary().index)
    ['ce', 'ce+balanced']
    """
    X, y = _check_data(X, y)
    metrics = check_metrics(metrics)
    named = _named_strategies(strategies)
    classes, counts = np.unique(y, return_counts=True)
    minority = classes[np.argmin(counts)]
    splitter = RepeatedStratifiedKFold(n_splits=cv, n_repeats=n_repeats,
                                       random_state=random_state)
    net_params = dict(net_params or {})
    if device is not None:
        net_params["device"] = device
    splits = [(i // cv, i % cv, train, test)
              for i, (train, test) in enumerate(splitter.split(X, y))]
    tasks = [(name, spec, repeat, fold, train, test)
             for name, spec in named.items() for repeat, fold, train, test in splits]
    shared = (metrics, classes, minority, scale, random_state, net_params)
    rows = _execute(tasks, X, y, shared, n_jobs, scheduler, progress)
    return ComparisonResult.from_rows(
        rows, metrics={m: metric_kind(m) for m in metrics}, strategies=list(named),
        classes=classes, class_counts=counts,
        setup={"cv": cv, "n_repeats": n_repeats, "random_state": random_state,
               "n_samples": len(y), "n_features": X.shape[1], "scale": scale,
               "net_params": {k: repr(v) for k, v in net_params.items()}},
    )


def _check_data(X, y):
    columns = getattr(X, "columns", None)
    if columns is not None:
        non_numeric = [str(c) for c, dtype in X.dtypes.items() if not _is_numeric(dtype)]
        if non_numeric:
            raise ValueError(f"feature columns {non_numeric} are not numeric; encode them "
                             "first (for example with one-hot encoding) or drop them.")
    X, y = check_X_y(X, y, dtype=np.float32, ensure_all_finite=True, ensure_min_samples=2)
    check_classification_targets(y)
    if len(np.unique(y)) < 2:
        raise ValueError(f"y has only one class ({np.unique(y).tolist()}); a comparison needs "
                         "at least two classes.")
    return X, y


def _is_numeric(dtype):
    return dtype.kind in "biuf"


def _named_strategies(strategies):
    if strategies is None:
        strategies = DEFAULT_STRATEGIES
    if isinstance(strategies, (str, Strategy)):
        strategies = [strategies]
    if isinstance(strategies, Mapping):
        items = list(strategies.items())
    else:
        items = [(s.name if isinstance(s, Strategy) else str(s), s) for s in strategies]
    if not items:
        raise ValueError("strategies is empty; give at least one strategy.")
    named = {}
    for name, spec in items:
        if name in named:
            raise ValueError(f"strategy name {name!r} appears twice; names must be unique.")
        if isinstance(spec, str):
            spec = Strategy.parse(spec)
        elif not isinstance(spec, Strategy) and not (hasattr(spec, "fit")
                                                     and hasattr(spec, "predict")):
            raise ValueError(f"strategy {name!r} must be a strategy string, a Strategy or an "
                             f"estimator with fit/predict; got {type(spec).__name__}.")
        named[name] = spec
    return named


def _run_fold(task, X, y, shared):
    """Fit one strategy on one training fold and score it on the test fold."""
    name, spec, repeat, fold, train, test = task
    metrics, classes, minority, scale, random_state, net_params = shared
    if isinstance(spec, Strategy):
        estimator = spec.build(y[train], scale=scale, random_state=random_state,
                               net_params=net_params)
    else:
        estimator = clone(spec)
    start = time.perf_counter()
    estimator.fit(X[train], y[train])
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    scores, y_pred = score_fold(estimator, X[test], y[test], metrics, classes, minority)
    predict_time = time.perf_counter() - start
    precision, recall, f1, support = precision_recall_fscore_support(
        y[test], y_pred, labels=classes, zero_division=0)
    per_class = [
        {"class": label, "precision": p, "recall": r, "f1": f, "support": int(s)}
        for label, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    ]
    return {"strategy": name, "repeat": repeat, "fold": fold, "scores": scores,
            "per_class": per_class, "fit_time": fit_time, "predict_time": predict_time}


def _execute(tasks, X, y, shared, n_jobs, scheduler, progress):
    bar = tqdm(total=len(tasks), desc="sklimb compare", unit="fit", disable=not progress)
    try:
        if scheduler is None:
            results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(_run_fold)(task, X, y, shared) for task in tasks)
            return _collect(results, bar)
        return _collect(_on_dask(tasks, X, y, shared, scheduler), bar)
    finally:
        bar.close()


def _on_dask(tasks, X, y, shared, scheduler):
    """Submit every fold to a Dask cluster and yield results as they complete."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise ImportError("a Dask scheduler was given but dask.distributed is not installed; "
                          "pip install 'sklimb[dask]'.") from exc
    client = Client(scheduler, set_as_default=False) if isinstance(scheduler, str) else scheduler
    try:
        # hash=False gives this call's data keys of its own: with content-hashed keys a
        # second comparison on the same arrays (from another client, or right after the
        # first) reuses the key while the scheduler is still releasing it, and its folds
        # are cancelled for "lost dependencies".
        X_future, y_future = client.scatter([X, y], broadcast=True, hash=False)
        futures = [client.submit(_run_fold, task, X_future, y_future, shared, pure=False)
                   for task in tasks]
        for future in as_completed(futures):
            yield future.result()
    finally:
        if isinstance(scheduler, str):
            client.close()


def _collect(results, bar):
    rows = []
    for row in results:
        rows.append(row)
        bar.update(1)
    return rows


__all__ = ["compare"]
