"""Tuned decisions: per-class logit offsets (or a binary threshold) chosen on held-out data."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from numbers import Integral
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.metrics import get_scorer_names
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import _safe_indexing, indexable
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._scoring import score_predictions
from .metrics import aligned_proba

_GRID = np.linspace(-6.0, 6.0, 61)
_TAUS = np.linspace(0.0, 3.0, 31)
#: binary problems: at most this many candidate thresholds (quantiles of the probabilities)
MAX_THRESHOLDS = 2000


@dataclass
class DecisionRule:
    """The decision rule chosen by :func:`choose_offsets`.

    ``predict`` is ``argmax(log p + offsets)``. ``threshold`` is set for two
    classes (predict the second class when its probability is at least
    ``threshold``), ``tau`` for the ``"prior"`` family of more classes.
    """

    offsets: np.ndarray
    threshold: float | None
    tau: float | None
    best_score: float
    default_score: float


def choose_offsets(proba, y, classes, scoring="balanced_accuracy", method="prior", n_passes=3):
    r"""Per-class offsets on the log-probabilities that maximise ``scoring``.

    ``proba`` are held-out (out-of-fold) probabilities of the samples whose
    labels are ``y``, one column per entry of ``classes``. For two classes the
    rule is a threshold on the probability of ``classes[1]``, found by
    scanning the distinct probabilities (at most ``MAX_THRESHOLDS`` of
    their quantiles); ties go to the threshold closest to 0.5. For more
    classes, ``method="prior"`` searches the logit-adjustment family
    :math:`b_c = -\tau \log \pi_c` over :math:`\tau \in [0, 3]` (ties to
    the smallest :math:`\tau`), and ``method="per_class"`` runs
    ``n_passes`` passes of coordinate ascent on a grid (:math:`b_0 = 0`).

    Returns
    -------
    rule : DecisionRule
    """
    classes = np.asarray(classes)
    log_proba = np.log(np.clip(proba, 1e-300, None))

    def score(offsets):
        labels = classes[np.argmax(log_proba + offsets, axis=1)]
        return score_predictions(scoring, y, classes, labels=labels)

    zeros = np.zeros(len(classes))
    default = score(zeros)
    threshold = tau = None
    if len(classes) == 2:
        offsets, threshold = _binary_threshold(proba[:, 1], score)
    elif method == "prior":
        counts = np.array([np.sum(y == label) for label in classes], dtype=float)
        log_prior = np.log(np.maximum(counts, 1.0) / len(y))
        tau = max((score(-t * log_prior), -t, t) for t in _TAUS)[2]
        offsets = -tau * (log_prior - log_prior[0])
    else:
        offsets = _coordinate_ascent(score, zeros, n_passes)
    return DecisionRule(offsets, threshold, tau, score(offsets), default)


def _binary_threshold(p1, score):
    """Scan candidate thresholds on ``p1``; return ``(offsets, threshold)``."""
    p1 = np.clip(p1, 1e-12, 1 - 1e-12)
    candidates = np.unique(p1)
    if len(candidates) > MAX_THRESHOLDS:
        candidates = np.unique(np.quantile(p1, np.linspace(0, 1, MAX_THRESHOLDS)))
    candidates = np.unique(np.concatenate([candidates, [0.5]]))
    best_value, best_threshold = -np.inf, 0.5
    for threshold in candidates:
        # predict 1 iff log p1 + b >= log p0, i.e. p1 >= threshold
        value = score(np.array([0.0, _threshold_offset(threshold)]))
        if value > best_value or (value == best_value and abs(threshold - 0.5) <
                                  abs(best_threshold - 0.5)):
            best_value, best_threshold = value, threshold
    return np.array([0.0, _threshold_offset(best_threshold)]), float(best_threshold)


def _threshold_offset(threshold):
    return np.log(1 - threshold) - np.log(threshold) + 1e-12


def _coordinate_ascent(score, offsets, n_passes):
    best = score(offsets)
    for _ in range(n_passes):
        improved = False
        for c in range(1, len(offsets)):
            for value in _GRID:
                trial = offsets.copy()
                trial[c] = value
                trial_score = score(trial)
                if trial_score > best + 1e-12:
                    best, offsets, improved = trial_score, trial, True
        if not improved:
            break
    return offsets


def balanced_offsets(class_counts, log_shift=None, temperature=1.0):
    r"""The closed-form rule for balanced accuracy: offsets that divide by the class prior.

    Balanced accuracy is maximised by predicting
    :math:`\arg\max_c p(c \mid x) / \pi_c`, with :math:`\pi_c` the class
    frequencies of the training rows. A network whose training multiplied
    class :math:`c` by :math:`m_c` (class weights, resampling, logit
    adjustment: ``log_shift`` is :math:`\log m_c`) predicts
    :math:`p(c \mid x) m_c` up to normalisation, and after a temperature
    :math:`T` its log-probabilities are its logits over :math:`T`, so the
    offsets on its log-probabilities are

    .. math:: b_c = -\frac{\log \pi_c + \log m_c}{T}.

    A class without training rows gets the smallest offset of the others.

    Returns
    -------
    rule : DecisionRule
        ``threshold`` is set for two classes; ``best_score`` and
        ``default_score`` are NaN (nothing was scored).

    Examples
    --------
    >>> from sklimb.decision import balanced_offsets
    >>> rule = balanced_offsets([90, 10])
    >>> rule.offsets.round(3).tolist(), round(rule.threshold, 3)
    ([0.105, 2.303], 0.1)
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    seen = counts > 0
    offsets = np.zeros(len(counts))
    offsets[seen] = -np.log(counts[seen] / counts.sum())
    if log_shift is not None:
        offsets -= np.asarray(log_shift, dtype=np.float64)
    offsets /= temperature
    offsets[~seen] = offsets[seen].min()
    threshold = None
    if len(counts) == 2:  # p1 >= t exactly when log p1 + b1 >= log p0 + b0
        threshold = float(1.0 / (1.0 + np.exp(offsets[1] - offsets[0])))
    return DecisionRule(offsets, threshold, None, np.nan, np.nan)


def apply_offsets(proba, offsets, classes):
    """``classes[argmax(log proba + offsets)]``."""
    scores = np.log(np.clip(proba, 1e-300, None)) + offsets
    return np.asarray(classes)[np.argmax(scores, axis=1)]


def tune_decision(estimator, X, y, *, scoring="balanced_accuracy", cv=5, method="prior",
                  n_passes=3, random_state=None, classes=None, params=None):
    """The decision rule that maximises ``scoring`` on out-of-fold probabilities.

    ``clone(estimator)`` is cross-validated on ``X, y`` (``cv`` an int means
    shuffled ``StratifiedKFold`` seeded by ``random_state``; the labels reach
    every fold as they are), and
    :func:`choose_offsets` picks the rule from the out-of-fold
    probabilities. Used by :class:`TunedDecisionClassifier` and by
    ``ImbalancedNetClassifier(decision=...)``.

    Parameters
    ----------
    classes : array-like or None, default=None
        The labels of the ``predict_proba`` columns, if not those of ``y``.
    params : dict or None, default=None
        Passed to the estimator's ``fit`` (arrays of length ``n_samples``,
        such as ``sample_weight``, are split with the folds).

    Returns
    -------
    rule : DecisionRule
    """
    (X,), y = indexable(X), np.asarray(y)
    classes = np.unique(y) if classes is None else np.asarray(classes)
    if isinstance(cv, Integral):
        cv = StratifiedKFold(int(cv), shuffle=True, random_state=random_state)
    params = params or {}
    proba = np.zeros((len(y), len(classes)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The least populated class")
        splits = list(cv.split(np.zeros((len(y), 1)), y))
    for train, test in splits:
        fold_params = {key: _safe_indexing(value, train) if _per_sample(value, len(y)) else value
                       for key, value in params.items()}
        model = clone(estimator).fit(_safe_indexing(X, train), y[train], **fold_params)
        proba[test] = aligned_proba(model, _safe_indexing(X, test), classes)
    return choose_offsets(proba, y, classes, scoring, method, n_passes)


def _per_sample(value, n_samples):
    """Whether a fit parameter holds one value per sample (and is split with the folds)."""
    return hasattr(value, "__len__") and not isinstance(value, (str, dict)) \
        and len(value) == n_samples


class TunedDecisionClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    r"""Choose the decision rule of a classifier to maximise a metric on held-out data.

    The wrapped ``estimator`` (a classifier or a whole imbalanced-learn
    pipeline with its resampler) is cross-validated on the training data;
    its out-of-fold probabilities, on samples no resampler has touched, choose
    per-class offsets :math:`b_c` (see :func:`choose_offsets`), and
    ``predict`` returns :math:`\arg\max_c \, \log p_c(x) + b_c`. For two
    classes this is a threshold on the probability of ``classes_[1]``
    (``threshold_``); for more classes the offsets come from the
    logit-adjustment family or from coordinate ascent. scikit-learn's
    ``TunedThresholdClassifierCV`` covers the binary case only.

    ``predict_proba`` is the wrapped estimator's, unchanged: the offsets move
    the decisions, not the probabilities.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        The model, cloned before fitting.
    scoring : str, default="balanced_accuracy"
        A label-based scikit-learn scorer name (``"f1_macro"``,
        ``"balanced_accuracy"``, ...).
    cv : int or cross-validation splitter, default=5
        Folds for the out-of-fold probabilities (an int means shuffled
        ``StratifiedKFold``). Tuning on every training sample, rather than on
        one small hold-out, keeps the offsets of rare classes from fitting
        noise.
    method : {"prior", "per_class"}, default="prior"
        The family of offsets searched for more than two classes.
    n_passes : int, default=3
        Coordinate-ascent passes over the classes (``method="per_class"``).
    random_state : int or None, default=None
        Seeds the shuffled folds.

    Attributes
    ----------
    estimator_ : classifier
        The estimator refitted on all the data.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Number of features seen in ``fit``.
    class_offsets_ : ndarray of shape (n_classes,)
        Offsets added to the log-probabilities.
    tau_ : float or None
        The chosen logit-adjustment strength (``method="prior"``, multiclass).
    threshold_ : float or None
        Binary problems: predict ``classes_[1]`` when its probability is at
        least this value.
    best_score_ : float
        The out-of-fold score of the chosen decision rule.
    default_score_ : float
        The out-of-fold score of plain ``argmax``.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklimb.decision import TunedDecisionClassifier
    >>> X, y = make_classification(600, weights=[0.9], random_state=0)
    >>> clf = TunedDecisionClassifier(LogisticRegression(), scoring="f1_macro",
    ...                               random_state=0).fit(X, y)
    >>> bool(clf.best_score_ >= clf.default_score_)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "scoring": [StrOptions(set(get_scorer_names()))],
        "cv": [Interval(Integral, 2, None, closed="left"), "cv_object"],
        "method": [StrOptions({"prior", "per_class"})],
        "n_passes": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, scoring="balanced_accuracy", cv=5, method="prior",
                 n_passes=3, random_state=None):
        self.estimator = estimator
        self.scoring = scoring
        self.cv = cv
        self.method = method
        self.n_passes = n_passes
        self.random_state = random_state

    def fit(self, X, y, **fit_params):
        """Tune the decisions on out-of-fold probabilities, then refit on all data."""
        self._validate_params()
        validate_data(self, X, skip_check_array=True)
        y = column_or_1d(np.asarray(y), warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(f"y has only one class ({encoder.classes_.tolist()!r}); tuning a "
                             "decision needs samples of two or more.")
        rule = tune_decision(self.estimator, X, y, scoring=self.scoring, cv=self.cv,
                             method=self.method, n_passes=self.n_passes,
                             random_state=self.random_state, params=fit_params)
        self.class_offsets_, self.threshold_, self.tau_ = rule.offsets, rule.threshold, rule.tau
        self.best_score_, self.default_score_ = rule.best_score, rule.default_score
        self.classes_ = encoder.classes_
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        return self

    def predict_proba(self, X):
        """The wrapped estimator's probabilities (not changed by the offsets)."""
        check_is_fitted(self)
        return aligned_proba(self.estimator_, X, self.classes_)

    def predict(self, X):
        """``classes_[argmax(log p + class_offsets_)]``."""
        return apply_offsets(self.predict_proba(X), self.class_offsets_, self.classes_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.input_tags = inner.input_tags
        tags.non_deterministic = inner.non_deterministic
        return tags


__all__ = ["DecisionRule", "TunedDecisionClassifier", "apply_offsets", "balanced_offsets",
           "choose_offsets", "tune_decision"]
