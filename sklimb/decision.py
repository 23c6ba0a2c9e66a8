"""Tuned decisions: per-class logit offsets (or a binary threshold) chosen on held-out data."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.metrics import get_scorer
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .metrics import aligned_proba

_GRID = np.linspace(-6.0, 6.0, 61)


class _FixedLabels(ClassifierMixin, BaseEstimator):
    """A stand-in classifier whose ``predict`` returns labels computed already."""

    def __init__(self, labels=None, classes=None):
        self.labels = labels
        self.classes = classes

    def fit(self, X=None, y=None):
        return self

    @property
    def classes_(self):
        return self.classes

    def predict(self, X):
        return self.labels[X]


class TunedDecisionClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    r"""Choose the decision rule of a classifier to maximise a metric on held-out data.

    The wrapped ``estimator`` (a classifier or a whole imbalanced-learn
    pipeline with its resampler) is cross-validated on the training data;
    its out-of-fold probabilities, on samples no resampler has touched, choose
    per-class offsets :math:`b_c`, and ``predict`` returns
    :math:`\arg\max_c \, \log p_c(x) + b_c`. For two
    classes this is a threshold on the probability of ``classes_[1]``
    (``threshold_``), found by scanning every candidate; for more classes
    the offsets are found by coordinate ascent over a grid (``b_0 = 0``).
    scikit-learn's ``TunedThresholdClassifierCV`` covers the binary case only.

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
        Seeds the hold-out split.

    Attributes
    ----------
    estimator_ : classifier
        The estimator refitted on all the data.
    classes_ : ndarray of shape (n_classes,)
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
        if self.method not in ("prior", "per_class"):
            raise ValueError(f"method={self.method!r} is not supported; use 'prior' or "
                             "'per_class'.")
        y = column_or_1d(np.asarray(y), warn=True)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError("y has a single class; tuning a decision needs two or more.")
        cv = self.cv
        if isinstance(cv, (int, np.integer)):
            cv = StratifiedKFold(int(cv), shuffle=True, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The least populated class")
            proba = cross_val_predict(clone(self.estimator), X, y, cv=cv,
                                      method="predict_proba", params=fit_params)
        scorer = get_scorer(self.scoring)
        y_valid = y

        def score(offsets):
            labels = encoder.classes_[np.argmax(log_proba + offsets, axis=1)]
            return scorer(_FixedLabels(labels, encoder.classes_), np.arange(len(labels)),
                          y_valid)

        log_proba = np.log(np.clip(proba, 1e-300, None))
        offsets = np.zeros(len(encoder.classes_))
        self.default_score_ = score(offsets)
        self.tau_ = None
        if len(encoder.classes_) == 2:
            offsets, self.threshold_ = self._binary(proba, score)
        elif self.method == "prior":
            log_prior = np.log(np.bincount(encoder.transform(y)) / len(y))
            scores = [(score(-tau * log_prior), -abs(tau - 0.0), tau)
                      for tau in np.linspace(0.0, 3.0, 31)]
            self.tau_ = max(scores)[2]
            offsets = -self.tau_ * (log_prior - log_prior[0])
            self.threshold_ = None
        else:
            offsets = self._coordinate_ascent(score, offsets)
            self.threshold_ = None
        self.best_score_ = score(offsets)
        self.class_offsets_ = offsets
        self.classes_ = encoder.classes_
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        return self

    @staticmethod
    def _binary(proba, score):
        """Scan every distinct validation probability of class 1 as a threshold."""
        p1 = np.clip(proba[:, 1], 1e-12, 1 - 1e-12)
        candidates = np.unique(np.concatenate([p1, [0.5]]))
        best = (-np.inf, 0.5)
        for threshold in candidates:
            # predict 1 iff log p1 + b >= log p0, i.e. p1 >= threshold
            offset = np.log(1 - threshold) - np.log(threshold)
            value = score(np.array([0.0, offset + 1e-12]))
            if value > best[0] or (value == best[0] and abs(threshold - 0.5) <
                                   abs(best[1] - 0.5)):
                best = (value, threshold)
        threshold = best[1]
        return np.array([0.0, np.log(1 - threshold) - np.log(threshold) + 1e-12]), threshold

    def _coordinate_ascent(self, score, offsets):
        best = score(offsets)
        for _ in range(self.n_passes):
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

    def predict_proba(self, X):
        """The wrapped estimator's probabilities (not changed by the offsets)."""
        check_is_fitted(self)
        return aligned_proba(self.estimator_, X, self.classes_)

    def predict(self, X):
        """``classes_[argmax(log p + class_offsets_)]``."""
        proba = self.predict_proba(X)
        scores = np.log(np.clip(proba, 1e-300, None)) + self.class_offsets_
        return self.classes_[np.argmax(scores, axis=1)]


__all__ = ["TunedDecisionClassifier"]
