"""Cross-validated comparison of imbalance strategies: :func:`compare`."""

from __future__ import annotations

import functools
import hashlib
import time
import warnings
from collections.abc import Mapping
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_X_y
from tqdm.auto import tqdm

from ._inputs import check_numeric_columns
from .estimator import ImbalancedNetClassifier
from .losses import warm_up as warm_up_loss_loops
from .metrics import check_metrics, metric_kind, score_fold
from .results import ComparisonResult
from .strategies import DEFAULT_STRATEGIES, Strategy

#: seconds to wait for a Dask scheduler given by address
SCHEDULER_TIMEOUT = 10


class SmallClassWarning(UserWarning):
    """A class has fewer samples than the cross-validation has folds."""


class ComparisonInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`compare`; ``result`` holds the folds that had finished.

    ``result`` is ``None`` when no fit had finished, else a
    :class:`~sklimb.results.ComparisonResult` with ``partial=True``.
    """

    def __init__(self, result, n_done, n_total):
        super().__init__(f"comparison interrupted after {n_done} of {n_total} fits")
        self.result = result
        self.n_done = n_done
        self.n_total = n_total


@validate_params(
    {"cv": [Interval(Integral, 2, None, closed="left")],
     "n_repeats": [Interval(Integral, 1, None, closed="left")],
     "random_state": [Interval(Integral, 0, None, closed="left")],
     "n_jobs": [None, Integral],
     "scale": ["boolean"], "net_params": [None, dict], "device": [None, str],
     "progress": ["boolean"]},
    prefer_skip_nested_validation=True,
)
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
        Strategies to compare: strings such as ``"focal"``, ``"ce+unweighted"``,
        ``"smote+ce"`` (see :class:`~sklimb.strategies.Strategy`; a strategy
        means the estimator with that loss at its defaults),
        :class:`~sklimb.strategies.Strategy` objects, or a dict mapping a
        name to either of those or to any scikit-learn / imbalanced-learn
        estimator or pipeline (your own baseline). ``None`` runs
        :data:`~sklimb.strategies.DEFAULT_STRATEGIES`.
    metrics : list of str, default=None
        Built-in names (``balanced_accuracy``, ``f1_macro``,
        ``geometric_mean``, ``minority_recall``, ``average_precision``,
        ``roc_auc``) or any scikit-learn scorer name. ``None`` uses all built-ins.
    cv : int, default=5
        Number of stratified folds. A class with fewer samples is missing
        from some test folds: a :class:`SmallClassWarning` says so, and the
        per-class figures of that class average the folds that have it.
    n_repeats : int, default=1
        Repetitions of the cross-validation with different shuffles.
    random_state : int, default=0
        Seeds the folds, the samplers and the networks.
    n_jobs : int, default=None
        Fits run in parallel through joblib (``-1``: all cores). Each network
        uses one torch thread, so parallel fits do not oversubscribe cores.
    scheduler : str or dask.distributed.Client, default=None
        A Dask scheduler address or client: the fits then run on that
        cluster (needs ``sklimb[dask]``).
    scale : bool, default=True
        Put a ``StandardScaler`` before the sampler and the network.
    net_params : dict, default=None
        :class:`~sklimb.ImbalancedNetClassifier` parameters for every
        strategy (for example ``{"max_epochs": 30}``). A strategy's own
        parts take precedence: ``net_params={"class_weight": "balanced"}``
        applies to the strategies that name no weighting. ``loss`` and
        ``random_state`` may not be given here (they are the strategy's and
        ``random_state``'s).
    device : str, default=None
        Torch device for every network (``"cuda"`` for a GPU).
    progress : bool, default=True
        Show a progress bar.

    Returns
    -------
    result : ComparisonResult
        Scores per strategy, fold and metric, per-class reports and times.

    Raises
    ------
    ComparisonInterrupted
        On Ctrl-C; its ``result`` holds the fits that had finished.

    Examples
    --------
    >>> from sklimb import compare
    >>> from sklimb.datasets import load_long_tailed_digits
    >>> X, y = load_long_tailed_digits(imbalance_ratio=10, return_X_y=True)
    >>> result = compare(X, y, ["ce", "ce+unweighted"], cv=2,
    ...                  net_params={"max_epochs": 2}, progress=False)
    >>> sorted(result.summary().index)
    ['ce', 'ce+unweighted']
    """
    X, y = _check_data(X, y)
    metrics = check_metrics(metrics)
    named = _named_strategies(strategies)
    net_params = dict(net_params or {})
    if device is not None:
        net_params["device"] = device
    _check_net_params(named, net_params)
    classes, counts = np.unique(y, return_counts=True)
    _warn_small_classes(classes, counts, cv)
    minority = classes[np.argmin(counts)]
    splitter = RepeatedStratifiedKFold(n_splits=cv, n_repeats=n_repeats,
                                       random_state=random_state)
    with warnings.catch_warnings():  # said once above, in our own words
        warnings.filterwarnings("ignore", "The least populated class", UserWarning)
        splits = [(i // cv, i % cv, train, test)
                  for i, (train, test) in enumerate(splitter.split(X, y))]
    tasks = [(name, spec, repeat, fold, train, test)
             for name, spec in named.items() for repeat, fold, train, test in splits]
    shared = (metrics, classes, minority, scale, random_state, net_params)
    setup = {"cv": cv, "n_repeats": n_repeats, "random_state": random_state,
             "n_samples": len(y), "n_features": X.shape[1], "scale": scale,
             "net_params": {k: repr(v) for k, v in net_params.items()}}

    def result_of(rows, partial=False):
        return ComparisonResult.from_rows(
            rows, metrics={m: metric_kind(m) for m in metrics}, strategies=list(named),
            classes=classes, class_counts=counts, setup={**setup, "partial": partial})

    rows = []
    try:
        _execute(tasks, X, y, shared, n_jobs, scheduler, progress, rows)
    except KeyboardInterrupt as exc:
        partial = result_of(rows, partial=True) if rows else None
        raise ComparisonInterrupted(partial, len(rows), len(tasks)) from exc
    return result_of(rows)


def _check_data(X, y):
    check_numeric_columns(X)
    X, y = check_X_y(X, y, dtype=np.float32, ensure_all_finite=True, ensure_min_samples=2)
    check_classification_targets(y)
    if len(np.unique(y)) < 2:
        raise ValueError(f"y has only one class ({np.unique(y).tolist()}); a comparison needs "
                         "at least two classes.")
    return X, y


def _check_net_params(named, net_params):
    """Build every strategy's network once, so that bad ``net_params`` fail before any fit."""
    for spec in named.values():
        if isinstance(spec, Strategy):
            params = spec.net_params(net_params, random_state=0)
            ImbalancedNetClassifier(**params)._validate_hyperparameters()


def _warn_small_classes(classes, counts, cv):
    small = [(label, int(n)) for label, n in zip(classes, counts, strict=True) if n < cv]
    if small:
        listed = ", ".join(f"{_plain(label)!r} ({n})" for label, n in small)
        warnings.warn(
            f"class(es) {listed} have fewer samples than the {cv} folds, so some test folds "
            "miss them; their per-class figures average the folds that have them, and "
            "a lower cv keeps every class in every test fold.",
            SmallClassWarning, stacklevel=3)


def _plain(label):
    """A numpy scalar label as the Python value it holds (for messages)."""
    return label.item() if hasattr(label, "item") else label


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


@functools.cache
def _warm_up_torch():
    """Train a tiny network once in this process, untimed.

    PyTorch initialises itself lazily: the first training in a process costs
    about a second more than the next ones (seen on 2 cores), which would
    otherwise be reported as the fit time of whichever strategy each worker
    happens to run first. The compiled loss loops are compiled or loaded here
    too, for the same reason.
    """
    warm_up_loss_loops()
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 2)).astype(np.float32), np.arange(16) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ImbalancedNetClassifier(max_epochs=1, random_state=0).fit(X, y).predict_proba(X)


def _uses_network(estimator):
    """Whether ``estimator`` is, or contains, an :class:`ImbalancedNetClassifier`."""
    return any(isinstance(part, ImbalancedNetClassifier)
               for part in (estimator, *estimator.get_params(deep=True).values()))


def _run_fold(task, X, y, shared):
    """Fit one strategy on one training fold and score it on the test fold."""
    name, spec, repeat, fold, train, test = task
    metrics, classes, minority, scale, random_state, net_params = shared
    if isinstance(spec, Strategy):
        estimator = spec.build(scale=scale, random_state=random_state,
                               net_params=net_params)
    else:
        estimator = clone(spec)
    if _uses_network(estimator):
        _warm_up_torch()
    start = time.perf_counter()
    estimator.fit(X[train], y[train])
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    scores, y_pred, proba = score_fold(estimator, X[test], y[test], metrics, classes,
                                       minority)
    predict_time = time.perf_counter() - start
    # NaN, not 0, for a class absent from the test fold (recall) or never predicted
    # (precision): averages over folds then leave those folds out
    precision, recall, f1, support = precision_recall_fscore_support(
        y[test], y_pred, labels=classes, zero_division=np.nan)
    f1 = np.where(support > 0, f1, np.nan)
    per_class = [
        {"class": label, "precision": p, "recall": r, "f1": f, "support": int(s)}
        for label, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    ]
    return {"strategy": name, "repeat": repeat, "fold": fold, "scores": scores,
            "per_class": per_class, "fit_time": fit_time, "predict_time": predict_time,
            "prediction_hash": prediction_hash(y_pred, proba)}


def prediction_hash(y_pred, proba=None):
    """A digest of one fold's predicted labels and probabilities (rounded to 1e-6).

    Equal digests on every fold mean two strategies made the same predictions,
    and the result tables show them as one row.
    """
    digest = hashlib.blake2b(np.asarray(y_pred).astype(str).tobytes(), digest_size=8)
    if proba is not None:
        digest.update(np.round(np.asarray(proba, dtype=np.float64), 6).tobytes())
    return digest.hexdigest()


def _execute(tasks, X, y, shared, n_jobs, scheduler, progress, rows):
    """Run every task, appending finished rows to ``rows`` as they complete."""
    bar = tqdm(total=len(tasks), desc="sklimb compare", unit="fit", disable=not progress)
    try:
        if scheduler is None:
            results = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(_run_fold)(task, X, y, shared) for task in tasks)
        else:
            results = _on_dask(tasks, X, y, shared, scheduler)
        for row in results:
            rows.append(row)
            bar.update(1)
    finally:
        bar.close()


def connect(scheduler, timeout=None):
    """A ``dask.distributed.Client`` for a scheduler address, with a clear error."""
    timeout = SCHEDULER_TIMEOUT if timeout is None else timeout
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError("a Dask scheduler was given but dask.distributed is not installed; "
                          "pip install 'sklimb[dask]'.") from exc
    try:
        return Client(scheduler, set_as_default=False, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"could not reach the Dask scheduler at {scheduler!r} within "
                         f"{timeout} s ({type(exc).__name__}: {exc}); check the address "
                         "and that the scheduler is running.") from exc


def _on_dask(tasks, X, y, shared, scheduler):
    """Submit every fold to a Dask cluster and yield results as they complete."""
    from distributed import as_completed

    client = connect(scheduler) if isinstance(scheduler, str) else scheduler
    try:
        # hash=False gives this call's data keys of its own: with content-hashed keys a
        # second comparison on the same arrays (from another client, or right after the
        # first) reuses the key while the scheduler is still releasing it, and its folds
        # are cancelled for "lost dependencies".
        X_future, y_future = client.scatter([X, y], broadcast=True, hash=False)
        futures = [client.submit(_run_fold, task, X_future, y_future, shared, pure=False)
                   for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
    finally:
        if isinstance(scheduler, str):
            client.close()


__all__ = ["ComparisonInterrupted", "SmallClassWarning", "compare", "connect"]
