"""Metrics for imbalanced classification, split into threshold and ranking metrics.

*Threshold* metrics (balanced accuracy, macro F1, geometric mean, minority
recall) score hard predictions, so they move when a method shifts the
decision threshold, which is most of what re-weighting and resampling do.
*Ranking* metrics (average precision, ROC AUC) score the probabilities and
barely move under a threshold shift. :func:`sklimb.compare` reports the two
kinds apart.
"""

from __future__ import annotations

import warnings

import numpy as np
from imblearn.metrics import geometric_mean_score
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    get_scorer,
    get_scorer_names,
    recall_score,
    roc_auc_score,
)
from sklearn.preprocessing import label_binarize

THRESHOLD, RANKING = "threshold", "ranking"


def _balanced_accuracy(y, y_pred, proba, classes, minority):
    return balanced_accuracy_score(y, y_pred)


def _f1_macro(y, y_pred, proba, classes, minority):
    return f1_score(y, y_pred, average="macro", zero_division=0)


def _geometric_mean(y, y_pred, proba, classes, minority):
    """Geometric mean of the recalls of the classes present in the test fold."""
    return geometric_mean_score(y, y_pred, labels=np.unique(y), average="multiclass")


def _minority_recall(y, y_pred, proba, classes, minority):
    """Recall of the rarest class of the data (NaN for a fold without it)."""
    if not np.any(y == minority):
        return np.nan
    return recall_score(y, y_pred, labels=[minority], average="macro", zero_division=0)


def _one_vs_rest(score_func):
    """A ranking metric: the minority class's score (binary) or the macro one-vs-rest mean.

    In the multiclass case only classes present in the test fold are averaged.
    """
    def metric(y, y_pred, proba, classes, minority):
        if len(classes) == 2:
            return score_func(y == minority, proba[:, list(classes).index(minority)])
        present = np.isin(classes, y)
        onehot = label_binarize(y, classes=classes)
        return score_func(onehot[:, present], proba[:, present], average="macro")

    metric.__name__ = score_func.__name__
    return metric


_average_precision = _one_vs_rest(average_precision_score)
_roc_auc = _one_vs_rest(roc_auc_score)


BUILTIN_METRICS = {
    "balanced_accuracy": (_balanced_accuracy, THRESHOLD),
    "f1_macro": (_f1_macro, THRESHOLD),
    "geometric_mean": (_geometric_mean, THRESHOLD),
    "minority_recall": (_minority_recall, THRESHOLD),
    "average_precision": (_average_precision, RANKING),
    "roc_auc": (_roc_auc, RANKING),
}

DEFAULT_METRICS = ("balanced_accuracy", "f1_macro", "geometric_mean", "minority_recall",
                   "average_precision", "roc_auc")

_RANKING_SCORERS = ("roc_auc", "average_precision", "neg_log_loss", "neg_brier_score",
                    "top_k_accuracy", "d2_log_loss", "d2_brier")


def metric_kind(name):
    """``"threshold"`` or ``"ranking"`` for a built-in metric or scikit-learn scorer name."""
    if name in BUILTIN_METRICS:
        return BUILTIN_METRICS[name][1]
    return RANKING if name.startswith(_RANKING_SCORERS) else THRESHOLD


def check_metrics(metrics):
    """Validate metric names; return them as a tuple."""
    if metrics is None:
        metrics = DEFAULT_METRICS
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not metrics:
        raise ValueError("metrics is empty; give at least one metric name.")
    valid = set(BUILTIN_METRICS) | set(get_scorer_names())
    unknown = [m for m in metrics if m not in valid]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; use sklimb's {sorted(BUILTIN_METRICS)} "
                         "or any name of sklearn.metrics.get_scorer_names().")
    return metrics


def score_fold(estimator, X_test, y_test, metrics, classes, minority):
    """All metrics of one fitted estimator on one test fold.

    Returns
    -------
    scores : dict
        ``{metric name: value}``.
    y_pred : ndarray
        The predicted labels.
    proba : ndarray of shape (n_samples, len(classes)) or None
        The predicted probabilities (``None`` without ``predict_proba``).
    """
    y_pred = estimator.predict(X_test)
    proba = None
    if hasattr(estimator, "predict_proba"):
        proba = aligned_proba(estimator, X_test, classes)
    scores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        for name in metrics:
            if name in BUILTIN_METRICS:
                func, kind = BUILTIN_METRICS[name]
                if kind == RANKING and proba is None:
                    scores[name] = np.nan
                    continue
                scores[name] = float(func(y_test, y_pred, proba, classes, minority))
            else:
                scores[name] = float(get_scorer(name)(estimator, X_test, y_test))
    return scores, y_pred, proba


def aligned_proba(estimator, X, classes):
    """``predict_proba`` with one column per entry of ``classes`` (0 for unseen ones)."""
    proba = estimator.predict_proba(X)
    fitted = list(getattr(estimator, "classes_", classes))
    if list(fitted) == list(classes):
        return proba
    aligned = np.zeros((len(X), len(classes)))
    for column, label in enumerate(fitted):
        aligned[:, list(classes).index(label)] = proba[:, column]
    return aligned


__all__ = ["BUILTIN_METRICS", "DEFAULT_METRICS", "RANKING", "THRESHOLD", "check_metrics",
           "metric_kind", "score_fold"]
