"""Built-in imbalanced datasets and the long-tail subsampler."""

import math

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_breast_cancer
from sklearn.utils import Bunch

from sklimb.datasets import (
    DATASETS,
    load_imbalanced_breast_cancer,
    load_long_tailed_digits,
    long_tailed_counts,
    make_long_tailed,
)


# ------------------------------------------------------------------ long_tailed_counts
@pytest.mark.parametrize("n_max, n_classes, ratio, expected", [
    (100, 3, 100, [100, 10, 1]),
    (100, 3, 4, [100, 50, 25]),
    (800, 4, 8, [800, 400, 200, 100]),
    (10, 2, 1, [10, 10]),
    (10, 2, 50, [10, 1]),          # floor(0.2) = 0, but every class keeps one sample
    (7, 5, 1, [7, 7, 7, 7, 7]),
])
def test_long_tailed_counts_exact_values(n_max, n_classes, ratio, expected):
    counts = long_tailed_counts(n_max, n_classes, ratio)
    assert counts.tolist() == expected
    assert np.issubdtype(counts.dtype, np.integer)


@pytest.mark.parametrize("n_max, n_classes, ratio", [
    (178, 10, 50), (500, 7, 13.3), (1000, 2, 3.5), (60, 6, 2.5), (31, 3, 7),
])
def test_long_tailed_counts_follow_the_formula(n_max, n_classes, ratio):
    counts = long_tailed_counts(n_max, n_classes, ratio)
    expected = [max(1, math.floor(n_max * ratio ** (-c / (n_classes - 1)) + 1e-9))
                for c in range(n_classes)]
    assert counts.tolist() == expected
    assert counts[0] == n_max                                  # head: n_max
    assert counts[-1] == max(1, math.floor(n_max / ratio + 1e-9))  # tail: n_max / r
    assert np.all(np.diff(counts) <= 0)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_max": 100, "n_classes": 1, "imbalance_ratio": 10}, "n_classes"),
    ({"n_max": 100, "n_classes": 0, "imbalance_ratio": 10}, "n_classes"),
    ({"n_max": 100, "n_classes": 3, "imbalance_ratio": 0.5}, "imbalance_ratio"),
    ({"n_max": 100, "n_classes": 3, "imbalance_ratio": -2}, "imbalance_ratio"),
    ({"n_max": 100, "n_classes": 3, "imbalance_ratio": float("nan")}, "imbalance_ratio"),
])
def test_long_tailed_counts_rejects_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        long_tailed_counts(**kwargs)


@pytest.mark.parametrize("n_max", [0, -5])
def test_long_tailed_counts_rejects_an_empty_head_class(n_max):
    # "class 0 keeps n_max samples": a head class of 0 (or fewer) samples is not a profile.
    with pytest.raises(ValueError, match="n_max"):
        long_tailed_counts(n_max, 3, 10)


# ------------------------------------------------------------------ make_long_tailed
def _indexed_data(counts_per_class, labels=None, seed=0):
    """Shuffled rows whose first feature is the row index."""
    labels = np.arange(len(counts_per_class)) if labels is None else np.asarray(labels)
    y = np.repeat(labels, counts_per_class)
    y = np.random.default_rng(seed).permutation(y)
    X = np.column_stack([np.arange(len(y)), np.random.default_rng(seed).normal(size=len(y))])
    return X, y


def test_make_long_tailed_class_counts():
    X, y = _indexed_data([50, 100, 80])
    _, y_lt = make_long_tailed(X, y, imbalance_ratio=5, random_state=0)
    # classes in label order; the head keeps the size of the smallest class (50)
    assert np.bincount(y_lt).tolist() == long_tailed_counts(50, 3, 5).tolist() == [50, 22, 10]


def test_make_long_tailed_string_labels_ranked_by_label_order():
    X, y = _indexed_data([40, 40, 40], labels=["b", "a", "c"])
    _, y_lt = make_long_tailed(X, y, imbalance_ratio=4, random_state=0)
    labels, counts = np.unique(y_lt, return_counts=True)
    assert dict(zip(labels.tolist(), counts.tolist(), strict=True)) == {"a": 40, "b": 20, "c": 10}


def test_make_long_tailed_keeps_row_order_and_pairs():
    X, y = _indexed_data([60, 60, 60, 60])
    X_lt, y_lt = make_long_tailed(X, y, imbalance_ratio=6, random_state=3)
    rows = X_lt[:, 0].astype(int)
    assert np.all(np.diff(rows) > 0)                 # original order, no duplicates
    assert_array_equal(y_lt, y[rows])                 # X and y rows stay paired
    assert_array_equal(X_lt, X[rows])


def test_make_long_tailed_is_reproducible():
    X, y = _indexed_data([60, 60, 60])
    first = make_long_tailed(X, y, imbalance_ratio=5, random_state=42)
    second = make_long_tailed(X, y, imbalance_ratio=5, random_state=42)
    assert_array_equal(first[0], second[0])
    assert_array_equal(first[1], second[1])
    other = make_long_tailed(X, y, imbalance_ratio=5, random_state=43)
    assert not np.array_equal(first[0], other[0])
    rng = np.random.RandomState(7)
    assert_array_equal(make_long_tailed(X, y, 5, random_state=rng)[0],
                       make_long_tailed(X, y, 5, random_state=np.random.RandomState(7))[0])


def test_make_long_tailed_length_mismatch():
    with pytest.raises(ValueError, match="different lengths"):
        make_long_tailed(np.zeros((10, 2)), np.zeros(9), imbalance_ratio=2)


def test_make_long_tailed_invalid_ratio():
    X, y = _indexed_data([10, 10])
    with pytest.raises(ValueError, match="imbalance_ratio"):
        make_long_tailed(X, y, imbalance_ratio=0.5)


# ------------------------------------------------------------------ long-tailed digits
def test_load_long_tailed_digits_bunch():
    data = load_long_tailed_digits(imbalance_ratio=10)
    assert isinstance(data, Bunch)
    for key in ("data", "target", "feature_names", "target_names", "DESCR"):
        assert key in data
    assert data.data.shape == (len(data.target), 64)
    assert len(data.feature_names) == 64
    assert sorted(np.unique(data.target).tolist()) == list(range(10))
    assert data.data.min() >= 0 and data.data.max() <= 16
    assert "10" in data.DESCR


def test_load_long_tailed_digits_return_X_y_matches_bunch():
    X, y = load_long_tailed_digits(imbalance_ratio=10, return_X_y=True)
    data = load_long_tailed_digits(imbalance_ratio=10)
    assert_array_equal(X, data.data)
    assert_array_equal(y, data.target)


@pytest.mark.parametrize("ratio", [5, 10, 50])
def test_load_long_tailed_digits_respects_the_ratio(ratio):
    _, y = load_long_tailed_digits(imbalance_ratio=ratio, return_X_y=True)
    counts = np.bincount(y)
    assert counts.argmax() == 0 and counts.argmin() == 9
    assert np.all(np.diff(counts) <= 0)
    # the tail is floor(head / ratio), so the observed ratio is ratio up to that rounding
    assert counts[-1] == math.floor(counts[0] / ratio)
    assert counts[0] / (counts[-1] + 1) < ratio <= counts[0] / counts[-1]
    assert counts[0] / counts[-1] == pytest.approx(ratio, rel=0.2)


def test_load_long_tailed_digits_random_state():
    X0, _ = load_long_tailed_digits(imbalance_ratio=10, random_state=0, return_X_y=True)
    X0b, _ = load_long_tailed_digits(imbalance_ratio=10, random_state=0, return_X_y=True)
    X1, _ = load_long_tailed_digits(imbalance_ratio=10, random_state=1, return_X_y=True)
    assert_array_equal(X0, X0b)
    assert not np.array_equal(X0, X1)


# ------------------------------------------------------------------ breast cancer
@pytest.mark.parametrize("ratio", [2, 10, 20, 33.3, 357])
def test_load_imbalanced_breast_cancer_counts(ratio):
    X, y = load_imbalanced_breast_cancer(imbalance_ratio=ratio, return_X_y=True)
    assert int((y == "benign").sum()) == 357
    assert int((y == "malignant").sum()) == int(357 / ratio)
    assert set(np.unique(y).tolist()) == {"benign", "malignant"}
    assert X.shape == (len(y), 30)


def test_load_imbalanced_breast_cancer_bunch_and_rows():
    data = load_imbalanced_breast_cancer()
    assert isinstance(data, Bunch)
    assert data.target.dtype.kind in "UO"           # string labels
    assert int((data.target == "malignant").sum()) == int(357 / 20)
    assert len(data.feature_names) == 30
    assert set(data.target_names.tolist()) == {"benign", "malignant"}
    # every kept row is a row of the original data with its own label, in order
    cancer = load_breast_cancer()
    rows = [int(np.flatnonzero((cancer.data == row).all(axis=1))[0]) for row in data.data]
    assert np.all(np.diff(rows) > 0)
    assert_array_equal(cancer.target_names[cancer.target[rows]], data.target)


def test_load_imbalanced_breast_cancer_random_state():
    X0, _ = load_imbalanced_breast_cancer(random_state=0, return_X_y=True)
    X0b, _ = load_imbalanced_breast_cancer(random_state=0, return_X_y=True)
    X1, _ = load_imbalanced_breast_cancer(random_state=1, return_X_y=True)
    assert_array_equal(X0, X0b)
    assert not np.array_equal(X0, X1)


@pytest.mark.parametrize("ratio", [1, 1.5, 500, -3, 0])
def test_load_imbalanced_breast_cancer_invalid_ratio(ratio):
    with pytest.raises(ValueError, match="imbalance_ratio"):
        load_imbalanced_breast_cancer(imbalance_ratio=ratio)


def test_datasets_registry():
    assert DATASETS == {"long_tailed_digits": load_long_tailed_digits,
                        "breast_cancer": load_imbalanced_breast_cancer}
    for loader in DATASETS.values():
        X, y = loader(return_X_y=True)
        assert len(X) == len(y) and len(np.unique(y)) >= 2
