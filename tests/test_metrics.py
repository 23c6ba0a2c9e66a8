"""Threshold and ranking metrics, metric validation and per-fold scoring."""

import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from sklimb.metrics import (
    BUILTIN_METRICS,
    DEFAULT_METRICS,
    RANKING,
    THRESHOLD,
    check_metrics,
    metric_kind,
    score_fold,
)


# ------------------------------------------------------------------ kinds
@pytest.mark.parametrize("name, kind", [
    ("balanced_accuracy", THRESHOLD),
    ("f1_macro", THRESHOLD),
    ("geometric_mean", THRESHOLD),
    ("minority_recall", THRESHOLD),
    ("average_precision", RANKING),
    ("roc_auc", RANKING),
    ("roc_auc_ovr", RANKING),
    ("roc_auc_ovo_weighted", RANKING),
    ("neg_log_loss", RANKING),
    ("neg_brier_score", RANKING),
    ("top_k_accuracy", RANKING),
    ("d2_log_loss_score", RANKING),     # scores probabilities, like neg_log_loss
    ("d2_brier_score", RANKING),        # scores probabilities, like neg_brier_score
    ("f1_weighted", THRESHOLD),
    ("accuracy", THRESHOLD),
    ("precision_macro", THRESHOLD),
    ("recall_weighted", THRESHOLD),
    ("matthews_corrcoef", THRESHOLD),
])
def test_metric_kind(name, kind):
    assert metric_kind(name) == kind


def test_builtin_kinds_and_defaults():
    assert set(DEFAULT_METRICS) == set(BUILTIN_METRICS)
    assert {m for m in DEFAULT_METRICS if metric_kind(m) == RANKING} == {
        "average_precision", "roc_auc"}


# ------------------------------------------------------------------ check_metrics
def test_check_metrics_defaults_and_order():
    assert check_metrics(None) == DEFAULT_METRICS
    assert check_metrics(["roc_auc", "f1_weighted", "balanced_accuracy"]) == (
        "roc_auc", "f1_weighted", "balanced_accuracy")
    assert isinstance(check_metrics(["f1_macro"]), tuple)


def test_check_metrics_unknown_name_is_explained():
    with pytest.raises(ValueError, match="unknown metric") as info:
        check_metrics(["f1_macro", "balanced_acc", "gmean"])
    message = str(info.value)
    assert "balanced_acc" in message and "gmean" in message
    assert "'f1_macro'" not in message.split("use")[0]        # only the unknown ones
    for name in BUILTIN_METRICS:
        assert name in message
    assert "get_scorer_names" in message


@pytest.mark.parametrize("empty", [[], ()])
def test_check_metrics_empty(empty):
    with pytest.raises(ValueError, match="empty"):
        check_metrics(empty)


# ------------------------------------------------------------------ score_fold
def _fitted(n_classes, minority_first=False, seed=0):
    weights = [0.7, 0.3] if n_classes == 2 else [0.55, 0.3, 0.15]
    if minority_first:
        weights = weights[::-1]
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=n_classes, weights=weights, class_sep=0.6,
                               flip_y=0.05, random_state=seed)
    model = LogisticRegression(max_iter=500).fit(X[:200], y[:200])
    return model, X[200:], y[200:]


def _minority(y):
    classes, counts = np.unique(y, return_counts=True)
    return classes, classes[np.argmin(counts)]


@pytest.mark.parametrize("minority_first", [False, True])
def test_score_fold_binary_equals_sklearn(minority_first):
    model, X_test, y_test = _fitted(2, minority_first=minority_first)
    classes, minority = np.array([0, 1]), 0 if minority_first else 1
    scores, y_pred, _ = score_fold(model, X_test, y_test, DEFAULT_METRICS, classes, minority)
    assert list(scores) == list(DEFAULT_METRICS)
    np.testing.assert_array_equal(y_pred, model.predict(X_test))
    assert 0 < (y_pred == minority).sum() < len(y_pred)   # a non-trivial fold
    minority_proba = model.predict_proba(X_test)[:, minority]
    expected = {
        "balanced_accuracy": balanced_accuracy_score(y_test, y_pred),
        "f1_macro": f1_score(y_test, y_pred, average="macro"),
        "geometric_mean": geometric_mean_score(y_test, y_pred),
        "minority_recall": recall_score(y_test, y_pred, pos_label=minority),
        "average_precision": average_precision_score(y_test == minority, minority_proba),
        "roc_auc": roc_auc_score(y_test == minority, minority_proba),
    }
    assert scores == pytest.approx(expected, rel=1e-12)
    assert all(type(v) is float for v in scores.values())


def test_score_fold_multiclass_equals_sklearn():
    model, X_test, y_test = _fitted(3)
    classes, minority = _minority(np.r_[y_test, model.classes_])
    assert minority == 2
    scores, y_pred, _ = score_fold(model, X_test, y_test, DEFAULT_METRICS, classes, minority)
    proba = model.predict_proba(X_test)
    recalls = recall_score(y_test, y_pred, average=None)
    expected = {
        "balanced_accuracy": balanced_accuracy_score(y_test, y_pred),
        "f1_macro": f1_score(y_test, y_pred, average="macro"),
        "geometric_mean": float(np.prod(recalls) ** (1 / 3)),
        "minority_recall": recalls[2],
        "average_precision": np.mean([average_precision_score(y_test == c, proba[:, c])
                                      for c in range(3)]),
        "roc_auc": roc_auc_score(y_test, proba, multi_class="ovr", average="macro"),
    }
    assert scores == pytest.approx(expected, rel=1e-9)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true:UserWarning")
def test_score_fold_fold_without_the_minority_class():
    model, X_test, y_test = _fitted(3)
    keep = y_test != 2
    X_fold, y_fold = X_test[keep], y_test[keep]
    classes = np.array([0, 1, 2])
    scores, y_pred, _ = score_fold(model, X_fold, y_fold, DEFAULT_METRICS, classes, minority=2)
    assert np.isnan(scores["minority_recall"])
    # the geometric mean runs over the classes present (0 and 1) ...
    present = recall_score(y_fold, y_pred, labels=[0, 1], average=None)
    assert scores["geometric_mean"] == pytest.approx(np.sqrt(present[0] * present[1]))
    # ... and so does macro one-vs-rest average precision
    proba = model.predict_proba(X_fold)
    assert scores["average_precision"] == pytest.approx(np.mean(
        [average_precision_score(y_fold == c, proba[:, c]) for c in (0, 1)]))
    assert scores["roc_auc"] == pytest.approx(np.mean(
        [roc_auc_score(y_fold == c, proba[:, c]) for c in (0, 1)]))
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y_fold, y_pred))
    assert all(np.isfinite(v) for k, v in scores.items() if k != "minority_recall")


def test_score_fold_string_labels():
    _, X_test, y_test = _fitted(2)
    names = np.array(["common", "rare"])
    labelled = LogisticRegression(max_iter=500).fit(X_test, names[y_test])
    scores, y_pred, _ = score_fold(labelled, X_test, names[y_test], DEFAULT_METRICS, names, "rare")
    assert set(y_pred) <= {"common", "rare"}
    assert scores["minority_recall"] == pytest.approx(
        recall_score(names[y_test], y_pred, pos_label="rare"))
    proba = labelled.predict_proba(X_test)[:, 1]
    assert scores["average_precision"] == pytest.approx(
        average_precision_score(y_test == 1, proba))


def test_score_fold_aligns_probabilities_of_a_model_missing_a_class():
    _, X_test, y_test = _fitted(3)
    seen = y_test != 1
    partial = LogisticRegression(max_iter=500).fit(X_test[seen], y_test[seen])  # classes 0, 2
    classes = np.array([0, 1, 2])
    scores, *_ = score_fold(partial, X_test, y_test, ["roc_auc", "average_precision"],
                           classes, minority=2)
    proba = np.zeros((len(X_test), 3))
    proba[:, [0, 2]] = partial.predict_proba(X_test)
    assert scores["roc_auc"] == pytest.approx(
        roc_auc_score(y_test, proba, multi_class="ovr", average="macro"))
    assert scores["average_precision"] == pytest.approx(np.mean(
        [average_precision_score(y_test == c, proba[:, c]) for c in range(3)]))


@pytest.mark.parametrize("name, func", [
    ("precision_macro", lambda y, p: precision_score(y, p, average="macro")),
    ("f1_weighted", lambda y, p: f1_score(y, p, average="weighted")),
    ("recall_macro", lambda y, p: recall_score(y, p, average="macro")),
])
def test_score_fold_any_sklearn_scorer(name, func):
    model, X_test, y_test = _fitted(3)
    scores, y_pred, _ = score_fold(model, X_test, y_test, [name, "f1_macro"], np.array([0, 1, 2]),
                                minority=2)
    assert list(scores) == [name, "f1_macro"]
    assert scores[name] == pytest.approx(func(y_test, y_pred))


def test_score_fold_sklearn_probability_scorer():
    model, X_test, y_test = _fitted(3)
    scores, *_ = score_fold(model, X_test, y_test, ["roc_auc_ovr", "neg_log_loss"],
                           np.array([0, 1, 2]), minority=2)
    proba = model.predict_proba(X_test)
    assert scores["roc_auc_ovr"] == pytest.approx(roc_auc_score(y_test, proba, multi_class="ovr"))
    expected_log_loss = -np.mean(np.log(proba[np.arange(len(y_test)), y_test]))
    assert scores["neg_log_loss"] == pytest.approx(-expected_log_loss)
