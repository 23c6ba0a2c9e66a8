"""ImbalancedNetClassifier(decision=...): out-of-fold offsets, in pipelines and grid search."""

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict

from sklimb import ImbalancedNetClassifier
from sklimb.decision import apply_offsets, choose_offsets

NET = dict(module="mlp", module__hidden_layer_sizes=(16,), max_epochs=15, lr=0.01,
           class_weight=None, random_state=0)


def data(n_classes=2, seed=0):
    weights = [0.85] if n_classes == 2 else [0.7, 0.2, 0.1]
    X, y = make_classification(400, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=n_classes, weights=weights, class_sep=0.8,
                               flip_y=0.05, random_state=seed)
    return X.astype(np.float32), y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_decision_changes_predict_but_not_predict_proba(n_classes):
    X, y = data(n_classes)
    plain = ImbalancedNetClassifier(**NET).fit(X, y)
    tuned = ImbalancedNetClassifier(decision="balanced_accuracy", **NET).fit(X, y)
    assert plain.class_offsets_ is None
    assert_allclose(tuned.predict_proba(X), plain.predict_proba(X))
    assert not np.array_equal(tuned.predict(X), plain.predict(X))
    assert_array_equal(tuned.predict(X),
                       apply_offsets(tuned.predict_proba(X), tuned.class_offsets_, tuned.classes_))
    assert balanced_accuracy_score(y, tuned.predict(X)) > balanced_accuracy_score(
        y, plain.predict(X))
    assert (tuned.decision_threshold_ is None) == (n_classes > 2)


def test_offsets_are_chosen_on_out_of_fold_probabilities():
    X, y = data(2)
    tuned = ImbalancedNetClassifier(decision="f1_macro", decision_cv=3, **NET).fit(X, y)
    folds = StratifiedKFold(3, shuffle=True, random_state=tuned._seed())
    proba = cross_val_predict(ImbalancedNetClassifier(classes=[0, 1], **NET), X, y, cv=folds,
                              method="predict_proba")
    rule = choose_offsets(proba, y, np.array([0, 1]), "f1_macro")
    assert_allclose(tuned.class_offsets_, rule.offsets)
    assert tuned.decision_threshold_ == pytest.approx(rule.threshold)


def test_decision_in_grid_search_and_a_resampling_pipeline():
    X, y = data(3)
    pipe = make_imb_pipeline(RandomOverSampler(random_state=0),
                             ImbalancedNetClassifier(decision_cv=2, **NET))
    grid = GridSearchCV(pipe, {"imbalancednetclassifier__decision": [None, "balanced_accuracy"]},
                        scoring="balanced_accuracy", cv=2).fit(X, y)
    assert grid.best_params_["imbalancednetclassifier__decision"] in (None, "balanced_accuracy")
    assert set(grid.predict(X)) <= {0, 1, 2}
    assert clone(grid.best_estimator_).get_params()["imbalancednetclassifier__decision"] == \
        grid.best_params_["imbalancednetclassifier__decision"]


def test_partial_fit_keeps_plain_argmax_and_string_labels_work():
    X, y = data(2)
    labels = np.array(["no", "yes"])[y]
    clf = ImbalancedNetClassifier(decision="balanced_accuracy", decision_cv=2, **NET)
    assert set(clf.fit(X, labels).predict(X)) <= {"no", "yes"}
    fresh = ImbalancedNetClassifier(decision="balanced_accuracy", **NET).partial_fit(X, y)
    assert fresh.class_offsets_ is None


@pytest.mark.parametrize("params, match", [
    ({"decision": "accuracyy"}, "'decision' parameter of ImbalancedNetClassifier"),
    ({"decision": "balanced_accuracy", "decision_cv": 1}, "'decision_cv' parameter"),
])
def test_bad_decision_settings_raise(params, match):
    X, y = data(2)
    with pytest.raises(ValueError, match=match):
        ImbalancedNetClassifier(**{**NET, **params}).fit(X, y)
