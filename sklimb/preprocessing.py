"""Input transforms fitted inside :class:`~sklimb.ImbalancedNetClassifier` (``input_transform=``).

All are scikit-learn transformers, fitted on the data ``fit`` receives only,
so in cross-validation nothing is learnt from a test fold.

* :class:`StandardScaleSmoothClip` (``"standard"``): standardise, then squash
  smoothly so that heavy tails and outliers stay bounded without a hard clip.
* :class:`RobustScaleSmoothClip` (``"robust"``): the same with the median and
  the interquartile range.
* :class:`PiecewiseLinearEncoder` (``"piecewise_linear"``): the
  piecewise-linear encoding of Gorishniy et al. (2022) on quantile bins.

All give the same output for any increasing affine rescaling of a feature
(the piecewise-linear encoding for any increasing transform), so a
``StandardScaler`` in front of the network changes nothing.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

#: ``q(0.75) - q(0.25)`` of the standard normal distribution
_IQR_OF_STANDARD_NORMAL = 1.3489795003921634


class _SmoothClipScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Centre, scale, then clip smoothly; subclasses choose the centre and the scale."""

    _parameter_constraints: ClassVar[dict] = {"clip": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, clip=3.0):
        self.clip = clip

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the centre and scale of every feature of ``X``.

        ``sample_weight`` (optional, non-negative) weights the rows; a row of
        weight 0 counts as if it were absent.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=True)
        X, sample_weight = _weighted_rows(X, sample_weight)
        self.center_, scale = self._center_and_scale(X, sample_weight)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        return self

    def transform(self, X):
        """Scale and smoothly clip ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=True,
                          reset=False)
        out = np.empty_like(X)
        for rows in _row_blocks(len(X)):  # float64 temporaries of one block at a time
            # in float64, so that features near the float32 limits cannot overflow
            z = (X[rows].astype(np.float64) - self.center_) / self.scale_
            out[rows] = z / np.hypot(1.0, z / self.clip)
        return out


class StandardScaleSmoothClip(_SmoothClipScaler):
    r"""Standardisation followed by a smooth clip.

    Each feature is centred on its mean and divided by its standard
    deviation (by 1 for a constant feature), then squashed:

    .. math::

        z = \frac{x - \bar x}{s}, \qquad
        \tilde z = \frac{z}{\sqrt{1 + (z / c)^2}},

    which is close to :math:`z` for :math:`|z| \ll c` and tends to
    :math:`\pm c` for outliers, so a few extreme values cannot dominate the
    network's first layer (and values near the float32 limits stay finite).

    Parameters
    ----------
    clip : float, default=3.0
        The bound :math:`c > 0` of the smooth clip, in standard deviations.

    Attributes
    ----------
    center_ : ndarray of shape (n_features_in_,)
        Mean of each feature.
    scale_ : ndarray of shape (n_features_in_,)
        Standard deviation of each feature (1 where it is 0).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when ``X`` has string column names.

    See Also
    --------
    RobustScaleSmoothClip : the same with the median and interquartile range.

    Examples
    --------
    >>> import numpy as np
    >>> from sklimb.preprocessing import StandardScaleSmoothClip
    >>> X = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]])
    >>> StandardScaleSmoothClip().fit_transform(X).ravel().round(2)
    array([-0.5 , -0.49, -0.49, -0.49,  1.66])
    """

    @staticmethod
    def _center_and_scale(X, sample_weight):
        center = _column_average(X, sample_weight, lambda block: block)
        return center, np.sqrt(_column_average(X, sample_weight,
                                               lambda block: (block - center) ** 2))


class RobustScaleSmoothClip(_SmoothClipScaler):
    r"""Robust scaling followed by a smooth clip.

    Each feature is centred on its median :math:`m` and divided by
    :math:`s = (q_{0.75} - q_{0.25}) / 1.349`, its interquartile range
    scaled to equal the standard deviation for normally distributed data
    (by the range :math:`\max - \min` when the IQR is 0, as for a rare
    binary indicator; by 1 for a constant feature), then squashed:

    .. math::

        z = \frac{x - m}{s}, \qquad
        \tilde z = \frac{z}{\sqrt{1 + (z / c)^2}},

    which is close to :math:`z` for :math:`|z| \ll c` and tends to
    :math:`\pm c` for outliers. In the spirit of RealMLP's preprocessing
    (Holzmüller et al., 2024).

    Parameters
    ----------
    clip : float, default=3.0
        The bound :math:`c > 0` of the smooth clip.

    Attributes
    ----------
    center_ : ndarray of shape (n_features_in_,)
        Median of each feature.
    scale_ : ndarray of shape (n_features_in_,)
        Scale of each feature.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when ``X`` has string column names.

    See Also
    --------
    StandardScaleSmoothClip : the same with the mean and standard deviation.

    Examples
    --------
    >>> import numpy as np
    >>> from sklimb.preprocessing import RobustScaleSmoothClip
    >>> X = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]])
    >>> RobustScaleSmoothClip().fit_transform(X).ravel().round(2)
    array([-1.23, -0.66,  0.  ,  0.66,  3.  ])
    """

    @staticmethod
    def _center_and_scale(X, sample_weight):
        q25, median, q75 = _quantiles(X, [0.25, 0.5, 0.75], sample_weight)
        scale = (q75 - q25) / _IQR_OF_STANDARD_NORMAL
        spread = X.max(axis=0).astype(np.float64) - X.min(axis=0)
        return median, np.where(scale > 0, scale, spread)


class PiecewiseLinearEncoder(TransformerMixin, BaseEstimator):
    r"""Piecewise-linear encoding of numeric features on quantile bins.

    Feature :math:`j` gets bin edges :math:`b_0 < b_1 < \dots < b_T` at
    quantiles of the training data (at most ``n_bins`` bins; fewer when the
    feature has few distinct values: a binary feature keeps one bin). A value
    :math:`x` becomes :math:`T` numbers

    .. math::

        e_t(x) = \mathrm{clip}\Big(\frac{x - b_{t-1}}{b_t - b_{t-1}}, 0, 1\Big),
        \qquad t = 1, \dots, T,

    where the first component is not clipped below and the last not above,
    so values outside the training range extrapolate linearly. The network's
    first layer then sees a learnable piecewise-linear function of every
    feature (Gorishniy et al., 2022). A constant feature gives one column of
    zeros.

    Parameters
    ----------
    n_bins : int, default=16
        The largest number of bins per feature, ``>= 1``.

    Attributes
    ----------
    bin_edges_ : list of ndarray
        The edges of every feature.
    n_features_in_ : int
    n_features_out_ : int
        Total number of output columns.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when ``X`` has string column names.

    References
    ----------
    .. [1] Y. Gorishniy, I. Rubachev, A. Babenko, "On Embeddings for Numerical
       Features in Tabular Deep Learning", NeurIPS 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from sklimb.preprocessing import PiecewiseLinearEncoder
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    >>> PiecewiseLinearEncoder(n_bins=2).fit_transform(X)
    array([[0. , 0. ],
           [0.5, 0. ],
           [1. , 0. ],
           [1. , 0.5],
           [1. , 1. ]])
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_bins": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, n_bins=16):
        self.n_bins = n_bins

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Place the bin edges at quantiles of every feature of ``X``.

        With ``sample_weight`` the quantiles are weighted; a row of weight 0
        counts as if it were absent.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=True)
        X, sample_weight = _weighted_rows(X, sample_weight)
        levels = np.linspace(0.0, 1.0, self.n_bins + 1)
        self.bin_edges_ = [np.unique(edges) for edges in _quantiles(X, levels, sample_weight).T]
        self.n_features_out_ = int(sum(max(len(edges) - 1, 1) for edges in self.bin_edges_))
        return self

    def transform(self, X):
        """The concatenated encodings of every feature, shape ``(n_samples, n_features_out_)``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_all_finite=True,
                          reset=False)
        out = np.empty((X.shape[0], self.n_features_out_), dtype=X.dtype)
        start = 0
        for column, edges in zip(X.T, self.bin_edges_, strict=True):
            n_bins = max(len(edges) - 1, 1)
            out[:, start:start + n_bins] = _encode(column, edges.astype(X.dtype))
            start += n_bins
        return out

    def get_feature_names_out(self, input_features=None):
        """``"<feature>_bin<t>"`` for every output column."""
        check_is_fitted(self)
        if input_features is None:
            input_features = getattr(self, "feature_names_in_",
                                     [f"x{j}" for j in range(self.n_features_in_)])
        return np.asarray([f"{name}_bin{t}" for name, edges in
                           zip(input_features, self.bin_edges_, strict=True)
                           for t in range(max(len(edges) - 1, 1))], dtype=object)


#: rows per block of the float64 work of the standard and robust transforms, which would
#: otherwise hold several float64 copies of the whole input at once
_BLOCK_ROWS = 32_768


def _row_blocks(n_rows):
    """Slices of at most ``_BLOCK_ROWS`` consecutive rows covering ``range(n_rows)``."""
    return (slice(start, start + _BLOCK_ROWS) for start in range(0, n_rows, _BLOCK_ROWS))


def _column_average(X, sample_weight, term):
    """The (weighted) column mean of ``term(block)`` over float64 row blocks of ``X``."""
    total = np.zeros(X.shape[1])
    for rows in _row_blocks(len(X)):
        values = term(X[rows].astype(np.float64))
        total += values.sum(axis=0) if sample_weight is None else sample_weight[rows] @ values
    return total / (len(X) if sample_weight is None else np.sum(sample_weight, dtype=np.float64))


def _weighted_rows(X, sample_weight):
    """The rows of positive weight and their weights (``None`` when all weights are equal).

    Dropping the rows of weight 0 makes them count as absent; equal weights are
    no weights, whatever their value.
    """
    if sample_weight is None:
        return X, None
    if not np.any(np.asarray(sample_weight)):  # before scikit-learn's own, version-dependent check
        raise ValueError("sample_weight is zero for every row; at least one row needs a "
                         "positive weight.")
    sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
    keep = sample_weight > 0
    X, sample_weight = X[keep], sample_weight[keep]
    return X, (None if np.all(sample_weight == sample_weight[0]) else sample_weight)


def _quantiles(X, levels, sample_weight):
    """Column quantiles of ``X`` at ``levels``, shape ``(len(levels), n_features)``.

    Linear interpolation between order statistics (numpy's default). With
    weights, a row of integer weight ``w`` counts as ``w`` copies of it, so
    the result equals the unweighted quantile of the repeated rows; other
    weights interpolate the same way between cumulative weights.
    """
    levels = np.asarray(levels, dtype=np.float64)
    # one float64 column at a time: float32 input interpolates in float64 without a
    # float64 copy of the whole matrix
    return np.stack([np.quantile(column.astype(np.float64), levels) if sample_weight is None
                     else _weighted_quantile(column.astype(np.float64), levels, sample_weight)
                     for column in X.T], axis=1)


def _weighted_quantile(column, levels, weight):
    order = np.argsort(column, kind="stable")
    values, cumulative = column[order], np.cumsum(weight[order])
    position = np.clip(levels * (cumulative[-1] - 1.0), 0.0, None)  # in the repeated rows
    lower = np.floor(position)

    def at(index):  # the value of the repeated row number ``index``
        found = np.searchsorted(cumulative, index, side="right")
        return values[np.minimum(found, len(values) - 1)]

    return at(lower) + (position - lower) * (at(lower + 1.0) - at(lower))


def _encode(column, edges):
    """The ``T`` encoding columns of one feature (one zero column if it is constant)."""
    if len(edges) < 2:
        return np.zeros((len(column), 1), dtype=column.dtype)
    left, width = edges[:-1], np.diff(edges)
    encoded = (column[:, None] - left) / width
    if len(left) > 1:
        encoded[:, 0] = np.minimum(encoded[:, 0], 1.0)
        encoded[:, -1] = np.maximum(encoded[:, -1], 0.0)
        np.clip(encoded[:, 1:-1], 0.0, 1.0, out=encoded[:, 1:-1])
    return encoded


INPUT_TRANSFORMS = {
    "standard": StandardScaleSmoothClip,
    "robust": RobustScaleSmoothClip,
    "piecewise_linear": PiecewiseLinearEncoder,
}

__all__ = ["INPUT_TRANSFORMS", "PiecewiseLinearEncoder", "RobustScaleSmoothClip",
           "StandardScaleSmoothClip"]
