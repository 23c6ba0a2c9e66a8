"""Which differences are real: the corrected resampled t-test, the top group, merged rows."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.datasets import make_classification
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from sklimb.compare import compare, prediction_hash
from sklimb.results import ComparisonResult
from sklimb.significance import corrected_ttest, top_group


# --------------------------------------------------------------- the test itself
def test_corrected_ttest_matches_the_formula_in_float64():
    rng = np.random.default_rng(0)
    d = rng.normal(0.02, 0.03, size=10)  # 2 repeats x 5 folds
    ratio = 1 / 4
    t = d.mean() / np.sqrt((1 / 10 + ratio) * np.var(d, ddof=1))
    assert corrected_ttest(d, ratio) == pytest.approx(2 * stats.t.sf(abs(t), df=9), rel=1e-12)
    # the correction only widens: the uncorrected paired t-test is the ratio-0 case
    plain = stats.ttest_1samp(d, 0.0).pvalue
    assert corrected_ttest(d, 0.0) == pytest.approx(plain, rel=1e-10)
    assert corrected_ttest(d, ratio) > plain


def test_corrected_ttest_edge_cases():
    assert corrected_ttest([0.0, 0.0, 0.0], 0.25) == 1.0        # identical scores
    assert corrected_ttest([0.1, 0.1, 0.1], 0.25) == 0.0        # the same gain on every fold
    assert np.isnan(corrected_ttest([0.1], 0.25))               # one fold: no test
    assert np.isnan(corrected_ttest([0.1, np.nan], 0.25))       # NaN folds are left out
    # the sign does not matter (two-sided)
    d = [0.03, 0.01, 0.05, 0.02, 0.04]
    assert corrected_ttest(d, 0.25) == pytest.approx(corrected_ttest(np.negative(d), 0.25))


def test_top_group_on_a_constructed_case_with_a_known_answer():
    base = np.random.default_rng(1).normal(0.80, 0.05, size=10)  # fold difficulty, shared
    swing = np.tile([1.0, -1.0], 5)
    scores = pd.DataFrame({
        "best": base + 0.10,
        "close": base + 0.095 + 0.02 * swing,  # 0.005 below on average, +-0.02 per fold
        "worse": base + 0.005 * swing,         # 0.10 below on every fold, +-0.005
    })
    assert scores.mean().idxmax() == "best"
    table = top_group(scores, 1 / 4)
    assert table.loc["best", "top"] and np.isnan(table.loc["best", "p"])
    assert table.loc["close", "top"] and table.loc["close", "p"] > 0.05
    assert not table.loc["worse", "top"] and table.loc["worse", "p"] < 0.001
    # at a level the close one also fails, it leaves the group; the best never does
    strict = top_group(scores, 1 / 4, alpha=0.999)
    assert strict["top"].tolist() == [True, False, False]


def test_top_group_of_a_metric_no_strategy_has():
    table = top_group(pd.DataFrame({"a": [np.nan] * 3, "b": [np.nan] * 3}), 0.25)
    assert not table["top"].any() and table["p"].isna().all()


# ----------------------------------------------------------- the result tables
def constructed_result(values, hashes=None, cv=5):
    """A ComparisonResult from ``{strategy: per-fold balanced accuracies}``."""
    rows = []
    for name, folds in values.items():
        for fold, value in enumerate(folds):
            rows.append({
                "strategy": name, "repeat": 0, "fold": fold,
                "scores": {"balanced_accuracy": value, "f1_macro": value},
                "per_class": [{"class": 0, "precision": 1.0, "recall": value, "f1": value,
                               "support": 3}],
                "fit_time": 1.0, "predict_time": 0.1,
                "prediction_hash": None if hashes is None else hashes[name][fold]})
    setup = {"cv": cv, "n_repeats": 1, "random_state": 0, "n_samples": 30, "n_features": 2,
             "scale": True, "net_params": {}}
    return ComparisonResult.from_rows(
        rows, {"balanced_accuracy": "threshold", "f1_macro": "threshold"}, list(values),
        [0, 1], [20, 10], setup)


def test_summary_marks_the_top_group_and_says_why_in_words():
    result = constructed_result({"good": [0.90, 0.85, 0.92, 0.88, 0.91],
                                 "tied": [0.91, 0.83, 0.90, 0.89, 0.92],
                                 "bad": [0.70, 0.66, 0.73, 0.69, 0.71]})
    summary = result.summary()
    assert summary[("balanced_accuracy", "top")].to_dict() == {
        "good": True, "tied": True, "bad": False}
    assert summary.loc["bad", ("balanced_accuracy", "p")] < 0.05
    table = result.summary_table()
    assert table.loc["good", "balanced_accuracy"].endswith(" *")
    assert not table.loc["bad", "balanced_accuracy"].endswith("*")
    text = " ".join(result.significance_text())
    assert "balanced_accuracy: good is best; 1 other(s) cannot be told from it; below it: bad" \
        in text
    assert "corrected resampled t-test" in result.to_markdown()


def test_no_significant_difference_is_said_in_words():
    result = constructed_result({"a": [0.90, 0.70, 0.92, 0.75, 0.91],
                                 "b": [0.80, 0.85, 0.82, 0.86, 0.78]})
    assert result.summary()[("balanced_accuracy", "top")].all()
    assert any("no difference is significant" in line for line in result.significance_text())


def test_strategies_with_the_same_predictions_are_one_row():
    same = [f"h{fold}" for fold in range(5)]
    result = constructed_result(
        {"ce": [0.8, 0.7, 0.9, 0.8, 0.7], "alias": [0.8, 0.7, 0.9, 0.8, 0.7],
         "other": [0.8, 0.7, 0.9, 0.8, 0.7], "third": [0.6] * 5},
        hashes={"ce": same, "alias": same, "other": [*same[:4], "different"],
                "third": [f"t{fold}" for fold in range(5)]})
    assert result.same_predictions() == [["ce", "alias"], ["other"], ["third"]]
    assert list(result.summary().index) == ["ce = alias", "other", "third"]
    assert list(result.per_class_recall().index) == ["ce = alias", "other", "third"]
    assert "same predictions on every fold are one row: ce = alias" in result.to_markdown()
    # the raw tables keep every strategy, and so does the summary on request
    assert set(result.scores["strategy"]) == {"ce", "alias", "other", "third"}
    assert list(result.summary(merge=False).index) == ["ce", "alias", "other", "third"]


def test_results_without_digests_merge_nothing():
    result = constructed_result({"a": [0.8] * 5, "b": [0.8] * 5})
    assert result.same_predictions() == [["a"], ["b"]]


def test_prediction_hash_separates_labels_and_probabilities():
    labels, proba = np.array(["a", "b"]), np.array([[0.9, 0.1], [0.2, 0.8]])
    assert prediction_hash(labels, proba) == prediction_hash(labels.copy(), proba + 1e-9)
    assert prediction_hash(labels, proba) != prediction_hash(labels[::-1], proba)
    assert prediction_hash(labels, proba) != prediction_hash(labels, proba[:, ::-1])
    assert prediction_hash(labels) != prediction_hash(labels, proba)


def test_compare_merges_two_names_of_one_model_and_finds_a_real_difference():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4,
                               weights=[0.85, 0.15], random_state=0)
    result = compare(X, y, {"balanced": LogisticRegression(class_weight="balanced"),
                            "also balanced": LogisticRegression(class_weight="balanced"),
                            "majority": DummyClassifier(strategy="most_frequent")},
                     metrics=["balanced_accuracy"], cv=5, progress=False)
    summary = result.summary()
    assert list(summary.index) == ["balanced = also balanced", "majority"]
    assert summary[("balanced_accuracy", "top")].tolist() == [True, False]
    assert "below it: majority" in " ".join(result.significance_text())
