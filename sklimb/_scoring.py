"""Score predictions computed already with any scikit-learn scorer name."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import get_scorer


class PrecomputedPredictions(ClassifierMixin, BaseEstimator):
    """A fitted-looking classifier whose outputs were computed already.

    Called on row indices ``X``, ``predict`` returns ``labels[X]`` (or the
    class of the largest probability when no labels are given) and
    ``predict_proba`` returns ``proba[X]``, so that a scikit-learn scorer
    (any name ``get_scorer`` accepts) can score them.
    """

    def __init__(self, classes=None, proba=None, labels=None):
        self.classes = classes
        self.proba = proba
        self.labels = labels

    def fit(self, X=None, y=None):
        return self

    @property
    def classes_(self):
        return self.classes

    def predict(self, X):
        if self.labels is not None:
            return self.labels[X]
        return self.classes[self.proba[X].argmax(axis=1)]

    def predict_proba(self, X):
        return self.proba[X]

    def decision_function(self, X):
        proba = self.proba[X]
        return proba[:, 1] if proba.shape[1] == 2 else proba


def score_predictions(scoring, y_true, classes, *, proba=None, labels=None):
    """``get_scorer(scoring)`` applied to precomputed probabilities or labels.

    scikit-learn's warnings about undefined metrics (a class with no
    prediction) are silenced: the score is still defined (0 for that class).
    """
    stand_in = PrecomputedPredictions(np.asarray(classes), proba, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
        return get_scorer(scoring)(stand_in, np.arange(len(y_true)), y_true)
