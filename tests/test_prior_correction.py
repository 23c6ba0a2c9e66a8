"""prior_correction: probabilities that reflect the class distribution again."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_classification
from sklearn.metrics import brier_score_loss

from sklimb import ImbalancedNetClassifier


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(2000, weights=[0.9], class_sep=0.8, flip_y=0.05, random_state=0)
    return X.astype(np.float32), y


def fit(X, y, **params):
    return ImbalancedNetClassifier(max_epochs=15, random_state=0, **params).fit(X, y)


def test_plain_fit_has_no_shift_and_unchanged_probabilities(data):
    X, y = data
    clf = fit(X, y, class_weight=None)
    assert_allclose(clf.training_log_shift(), 0.0)
    corrected = clf.set_params(prior_correction=True).predict_proba(X)
    assert_allclose(corrected, clf.set_params(prior_correction=False).predict_proba(X))


@pytest.mark.parametrize("params", [
    {"class_weight": "balanced"},
    {"loss": "logit_adjusted"},
    {"loss": "class_balanced", "loss__beta": 0.999},
])
def test_correction_restores_the_class_frequency_and_improves_brier(data, params):
    X, y = data
    raw = fit(X, y, **params).predict_proba(X)[:, 1]
    corrected = fit(X, y, prior_correction=True, **params).predict_proba(X)[:, 1]
    frequency = y.mean()
    assert raw.mean() > frequency + 0.05  # re-weighting over-states the rare class
    assert abs(corrected.mean() - frequency) < 0.03
    assert brier_score_loss(y, corrected) < brier_score_loss(y, raw)


def test_shift_components(data):
    X, y = data
    counts = np.bincount(y)
    balanced = fit(X, y, class_weight="balanced")
    assert_allclose(balanced.training_log_shift(), np.log(balanced.class_weight_), rtol=1e-6)
    over = fit(X, y, class_weight=None, sampler="over")
    assert_allclose(over.training_log_shift(), np.log(counts.max() / counts), rtol=1e-6)
    focal = fit(X, y, class_weight=None, loss="focal", loss__alpha=0.75)
    assert_allclose(focal.training_log_shift(), np.log([0.25, 0.75]), rtol=1e-6)
    adjusted = fit(X, y, class_weight=None, loss="logit_adjusted", loss__tau=0.5)
    assert_allclose(adjusted.training_log_shift(), -0.5 * np.log(counts / counts.sum()),
                    rtol=1e-6)


def test_deferred_weights_count_only_when_in_force(data):
    X, y = data
    clf = fit(X, y, class_weight="balanced", class_weight_start=0.5)
    assert_allclose(clf.training_log_shift(), np.log(clf.class_weight_), rtol=1e-6)


def test_predict_follows_the_corrected_probabilities(data):
    X, y = data
    clf = fit(X, y, class_weight="balanced", prior_correction=True)
    proba = clf.predict_proba(X)
    assert_allclose(proba.sum(axis=1), 1.0)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])


def test_invalid_prior_correction_raises(data):
    X, y = data
    with pytest.raises(ValueError, match="prior_correction"):
        ImbalancedNetClassifier(prior_correction="yes", max_epochs=1).fit(X, y)


def test_temperature_scaling_fixes_an_overconfident_net():
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    X, y = make_classification(3000, n_classes=3, n_informative=5, weights=[0.7, 0.2, 0.1],
                               flip_y=0.15, random_state=1)
    X_train, X_test, y_train, y_test = train_test_split(X.astype(np.float32), y, stratify=y,
                                                        random_state=0)
    params = dict(module="mlp", max_epochs=60, module__dropout=0.0, class_weight=None,
                  random_state=0)
    raw = ImbalancedNetClassifier(**params).fit(X_train, y_train)
    scaled = ImbalancedNetClassifier(temperature_scaling=True, **params).fit(X_train, y_train)
    assert raw.temperature_ == 1.0
    assert scaled.temperature_ > 1.0  # memorising noisy labels makes the net overconfident
    assert log_loss(y_test, scaled.predict_proba(X_test)) < log_loss(
        y_test, raw.predict_proba(X_test))
    # the temperature rescales confidence only: decisions equal argmax of the probabilities
    assert_array_equal(scaled.predict(X_test),
                       scaled.classes_[scaled.predict_proba(X_test).argmax(axis=1)])


def test_temperature_scaling_composes_with_prior_correction(data):
    X, y = data
    clf = fit(X, y, class_weight="balanced", prior_correction=True, temperature_scaling=True)
    assert clf.temperature_ > 0
    assert abs(clf.predict_proba(X)[:, 1].mean() - y.mean()) < 0.05
