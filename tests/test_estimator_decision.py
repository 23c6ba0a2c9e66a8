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


# ------------------------------------------------ the closed form for balanced accuracy
@pytest.mark.parametrize("params", [{}, {"class_weight": "sqrt_balanced"},
                                    {"class_weight": "balanced"}, {"loss": "logit_adjusted"},
                                    {"class_weight": "sqrt_balanced", "prior_correction": True}])
def test_balanced_accuracy_rule_divides_by_the_prior_without_extra_fits(params, monkeypatch):
    import sklimb.estimator as estimator

    def no_tuning(*args, **kwargs):
        raise AssertionError("the closed-form rule must not cross-validate")

    monkeypatch.setattr(estimator, "tune_decision", no_tuning)
    X, y = data(3)
    clf = ImbalancedNetClassifier(decision="balanced_accuracy", **{**NET, **params}).fit(X, y)
    prior = np.bincount(y) / len(y)
    shift = np.zeros(3) if clf.prior_correction else clf.training_log_shift()
    assert_allclose(clf.class_offsets_, -(np.log(prior) + shift), rtol=1e-12)
    # the predictions are the Bayes rule for balanced accuracy on the data's own posterior
    proba = clf.predict_proba(X)
    posterior = np.log(proba) - (0.0 if clf.prior_correction else shift)
    assert_array_equal(clf.predict(X), np.argmax(posterior - np.log(prior), axis=1))


def test_balanced_accuracy_rule_in_the_binary_case_is_a_threshold():
    X, y = data(2)
    clf = ImbalancedNetClassifier(decision="balanced_accuracy", **NET).fit(X, y)
    prior = np.bincount(y) / len(y)
    assert clf.decision_threshold_ == pytest.approx(prior[1])  # unweighted training
    proba = clf.predict_proba(X)[:, 1]
    assert_array_equal(clf.predict(X), (proba >= clf.decision_threshold_).astype(int))


def test_an_int_decision_cv_tunes_balanced_accuracy_out_of_fold(monkeypatch):
    import sklimb.estimator as estimator

    calls = []
    tune = estimator.tune_decision
    monkeypatch.setattr(estimator, "tune_decision",
                        lambda *args, **kwargs: calls.append(kwargs["cv"]) or tune(*args, **kwargs))
    X, y = data(2)
    ImbalancedNetClassifier(decision="balanced_accuracy", decision_cv=3, **NET).fit(X, y)
    ImbalancedNetClassifier(decision="f1_macro", **NET).fit(X, y)  # "auto": 5 folds
    assert calls == [3, 5]


def test_balanced_offsets_formula_and_unseen_classes():
    from sklimb.decision import balanced_offsets

    rule = balanced_offsets([60, 30, 10], log_shift=[0.0, 0.5, 1.0], temperature=2.0)
    assert_allclose(rule.offsets, -(np.log([0.6, 0.3, 0.1]) + np.array([0.0, 0.5, 1.0])) / 2.0)
    assert rule.threshold is None
    unseen = balanced_offsets([60, 0, 40])
    assert unseen.offsets[1] == pytest.approx(min(unseen.offsets[0], unseen.offsets[2]))
    assert np.isfinite(unseen.offsets).all()
