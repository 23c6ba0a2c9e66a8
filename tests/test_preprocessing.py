"""Input transforms: formulas, invariances, scikit-learn conventions, and no leakage."""

import numpy as np
import pytest
from _checks import check_cases
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklimb import ImbalancedNetClassifier
from sklimb.preprocessing import (
    PiecewiseLinearEncoder,
    RobustScaleSmoothClip,
    StandardScaleSmoothClip,
)


def heavy_tailed(n=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.standard_cauchy(n), rng.normal(size=n),
                            (rng.random(n) < 0.05).astype(float), np.full(n, 3.0)])


@pytest.mark.parametrize("estimator, check", check_cases({
    "standard": (StandardScaleSmoothClip(), {}), "robust": (RobustScaleSmoothClip(), {}),
    "piecewise-linear": (PiecewiseLinearEncoder(n_bins=4), {})}))
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_robust_scaling_matches_its_formula():
    X = heavy_tailed()
    Z = RobustScaleSmoothClip(clip=3.0).fit_transform(X)
    q25, q50, q75 = np.percentile(X[:, 1], [25, 50, 75])
    z = (X[:, 1] - q50) / ((q75 - q25) / 1.3489795003921634)
    assert_allclose(Z[:, 1], z / np.sqrt(1 + (z / 3.0) ** 2))
    # a rare binary indicator has IQR 0: it is divided by its range and stays 0/1
    assert_array_equal(np.unique(Z[:, 2]).round(6), np.round([0.0, 1 / np.sqrt(1 + 1 / 9)], 6))
    assert_array_equal(Z[:, 3], 0.0)  # a constant feature


def test_standard_scaling_matches_its_formula():
    X = heavy_tailed()
    Z = StandardScaleSmoothClip(clip=2.0).fit_transform(X)
    z = (X[:, 1] - X[:, 1].mean()) / X[:, 1].std()
    assert_allclose(Z[:, 1], z / np.sqrt(1 + (z / 2.0) ** 2))
    assert_array_equal(Z[:, 3], 0.0)  # a constant feature


@pytest.mark.parametrize("transform", [StandardScaleSmoothClip, RobustScaleSmoothClip])
def test_output_is_bounded_and_finite_at_the_float32_limits(transform):
    X = heavy_tailed().astype(np.float32)
    X[0, 0], X[1, 0] = 3e38, -3e38
    Z = transform(clip=2.5).fit(heavy_tailed()).transform(X)
    assert Z.dtype == np.float32
    assert np.isfinite(Z).all() and np.abs(Z).max() <= 2.5


@pytest.mark.parametrize("transform", [StandardScaleSmoothClip(), RobustScaleSmoothClip(),
                                       PiecewiseLinearEncoder(8)])
def test_increasing_affine_rescaling_changes_nothing(transform):
    X = heavy_tailed()
    scaled = X * np.array([10.0, 0.5, 3.0, 2.0]) + np.array([-4.0, 100.0, 1.0, 7.0])
    assert_allclose(clone(transform).fit_transform(X), clone(transform).fit_transform(scaled),
                    atol=1e-9)


def test_piecewise_linear_encoding_matches_its_formula():
    X = np.linspace(0.0, 10.0, 11)[:, None]
    encoder = PiecewiseLinearEncoder(n_bins=2).fit(X)
    assert_allclose(encoder.bin_edges_[0], [0.0, 5.0, 10.0])
    out = encoder.transform(np.array([[-5.0], [2.5], [5.0], [7.5], [20.0]]))
    # the first bin extrapolates below, the last above; inner values are clipped to [0, 1]
    assert_allclose(out, [[-1.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [1.0, 3.0]])


def test_piecewise_linear_widths_follow_the_distinct_values():
    X = heavy_tailed()
    encoder = PiecewiseLinearEncoder(n_bins=16).fit(X)
    widths = [max(len(edges) - 1, 1) for edges in encoder.bin_edges_]
    assert widths == [16, 16, 1, 1]  # a binary feature keeps one column, a constant one too
    assert encoder.transform(X).shape == (len(X), 34) and encoder.n_features_out_ == 34
    assert len(encoder.get_feature_names_out()) == 34
    assert_array_equal(encoder.transform(X)[:, 33], 0.0)


@pytest.mark.parametrize("input_transform", ["standard", "robust", "piecewise_linear"])
def test_estimator_fits_the_transform_on_the_training_rows_only(input_transform):
    X, y = make_classification(120, n_features=4, weights=[0.8], random_state=0)
    X = X.astype(np.float32)  # as the estimator validates it
    X_test = X[:10] * 1000.0  # a test fold far outside the training range
    clf = ImbalancedNetClassifier(input_transform=input_transform, max_epochs=2,
                                  random_state=0).fit(X, y)
    reference = clone(clf.input_transform_).fit(X)
    assert_allclose(clf.input_transform_.transform(X_test), reference.transform(X_test))
    assert clf.n_module_features_ == reference.transform(X[:1]).shape[1]
    clf.predict_proba(X_test)  # and predicting on it leaves the fitted transform alone
    assert_allclose(clf.input_transform_.transform(X), reference.transform(X))


def test_input_transform_survives_clone_and_grid_search_style_use():
    X, y = make_classification(150, n_features=4, weights=[0.8], random_state=1)
    transform = RobustScaleSmoothClip(clip=2.0)
    clf = ImbalancedNetClassifier(input_transform=transform, max_epochs=2, random_state=0)
    copy = clone(clf)
    assert copy.get_params()["input_transform"] is not transform
    assert copy.get_params()["input_transform"].clip == 2.0
    clf.fit(X, y)
    assert not hasattr(transform, "center_")  # the user's object is never fitted
    assert cross_val_score(copy, X, y, cv=2).shape == (2,)


def test_a_scaler_in_front_of_the_default_transform_changes_nothing():
    X, y = make_classification(150, n_features=4, weights=[0.8], random_state=2)
    X = X * np.array([1e3, 1e-2, 5.0, 1.0])
    plain = ImbalancedNetClassifier(max_epochs=3, random_state=0).fit(X, y)
    scaled = make_pipeline(StandardScaler(), ImbalancedNetClassifier(max_epochs=3,
                                                                     random_state=0)).fit(X, y)
    assert_allclose(plain.predict_proba(X), scaled.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("transform", [StandardScaleSmoothClip, RobustScaleSmoothClip,
                                       PiecewiseLinearEncoder])
def test_all_zero_sample_weights_are_rejected(transform):
    with pytest.raises(ValueError, match="sample_weight is zero for every row; at least one row "
                                         "needs a positive weight"):
        transform().fit(np.ones((4, 2)), sample_weight=np.zeros(4))


@pytest.mark.parametrize("transform", [StandardScaleSmoothClip, RobustScaleSmoothClip,
                                       PiecewiseLinearEncoder])
def test_zero_weights_are_absent_rows_and_equal_weights_no_weights(transform):
    X = np.random.default_rng(0).normal(size=(50, 3)) ** 3
    weights = np.where(np.arange(50) % 3 == 0, 0.0, 2.5)
    expected = transform().fit(X[weights > 0]).transform(X)
    np.testing.assert_allclose(transform().fit(X, sample_weight=weights).transform(X), expected)


@pytest.mark.parametrize("transform", [StandardScaleSmoothClip, RobustScaleSmoothClip])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_blocks_give_the_whole_array_result(transform, dtype, monkeypatch):
    # the float64 work runs over blocks of rows to bound memory on large inputs; blocks of
    # 7 rows (none of them full at the end) must give what one block gives
    import sklimb.preprocessing as preprocessing

    X = heavy_tailed(n=61).astype(dtype)
    weight = np.random.default_rng(1).uniform(0.5, 2.0, size=len(X))
    whole = transform().fit(X, sample_weight=weight)
    expected = whole.transform(X)
    monkeypatch.setattr(preprocessing, "_BLOCK_ROWS", 7)
    blocked = transform().fit(X, sample_weight=weight)
    assert_allclose(blocked.center_, whole.center_, rtol=1e-12)
    assert_allclose(blocked.scale_, whole.scale_, rtol=1e-12)
    out = blocked.transform(X)
    assert out.dtype == dtype
    assert_allclose(out, expected, rtol=1e-6 if dtype == np.float32 else 1e-12)
    # and the standard transform's moments are the weighted mean and standard deviation
    if transform is StandardScaleSmoothClip:
        mean = np.average(X.astype(np.float64), axis=0, weights=weight)
        std = np.sqrt(np.average((X - mean) ** 2, axis=0, weights=weight))
        assert_allclose(blocked.center_, mean, rtol=1e-10)
        assert_allclose(blocked.scale_, np.where(std > 0, std, 1.0), rtol=1e-10)
