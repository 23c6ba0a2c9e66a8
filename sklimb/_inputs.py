"""Checks of user data (``X``, ``sample_weight``, DataFrame columns) for the estimator,
:func:`sklimb.compare` and the ``sklimb`` command, and the estimator's input transform."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
from scipy import sparse
from sklearn.base import clone
from sklearn.utils.validation import _check_sample_weight, has_fit_parameter, validate_data

from .preprocessing import INPUT_TRANSFORMS


def validate_X(estimator, X, y=None, reset=False):
    """``validate_data`` of ``X`` (and ``y``) as float32, with messages that say the fix."""
    if isinstance(X, Mapping) and not sparse.issparse(X):  # old scipy's DOK is a dict
        raise TypeError(
            f"X is a {type(X).__name__} (such as skorch's SliceDict) of "
            f"{sorted(map(str, X))}; {type(estimator).__name__} takes one numeric feature "
            "matrix, because its input transform and class counting work on one. Join the "
            "inputs into one array or DataFrame (for example with numpy.hstack or a "
            "ColumnTransformer), or use skorch's NeuralNetClassifier for a module with "
            "several inputs."
        )
    kwargs = dict(reset=reset, dtype=np.float32, ensure_all_finite=True)
    try:
        if y is None:
            return validate_data(estimator, X, **kwargs)
        return validate_data(estimator, X, y, ensure_min_samples=2, **kwargs)
    except ValueError as exc:
        if "Found array with dim" in str(exc):
            shape = np.asarray(X).shape
            raise ValueError(f"X must be 2-D (n_samples, n_features); got an array with "
                             f"{len(shape)} dimensions and shape {shape}.") from exc
        if "could not convert" in str(exc):
            raise ValueError(
                f"X must contain only numbers; {exc}. Encode categorical or text columns "
                "first, for example with sklearn.preprocessing.OneHotEncoder inside a "
                "ColumnTransformer."
            ) from exc
        raise


def check_sample_weight(sample_weight, X):
    """Non-negative float32 weights of the rows of ``X``, not all zero (or ``None``)."""
    if sample_weight is None:
        return None
    if not np.any(np.asarray(sample_weight)):  # before scikit-learn's own, version-dependent check
        raise ValueError("sample_weight is zero for every sample; at least one sample needs "
                         "a positive weight.")
    return _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)


def fit_input_transform(input_transform, X, sample_weight=None):
    """The fitted ``input_transform`` (a name, a transformer to clone, or ``None``) on the
    validated array ``X``.

    The sample weights reach the transform: a transformer whose ``fit`` takes
    ``sample_weight`` gets them (the built-in ones do); any other is fitted
    on the rows of positive weight only, with a warning if the positive
    weights differ (it cannot weight them).
    """
    if input_transform is None:
        return None
    if isinstance(input_transform, str):
        transform = INPUT_TRANSFORMS[input_transform]()
    else:
        transform = clone(input_transform)
    if sample_weight is None:
        return transform.fit(X)
    if has_fit_parameter(transform, "sample_weight"):
        return transform.fit(X, sample_weight=sample_weight)
    keep = sample_weight > 0
    if np.ptp(sample_weight[keep]) > 0:
        warnings.warn(
            f"input_transform={type(transform).__name__}() takes no sample_weight; it is "
            "fitted on the rows of positive weight, each counted once. Use a transform "
            "whose fit accepts sample_weight (the built-in ones do) to weight it too.",
            UserWarning, stacklevel=3)
    return transform.fit(X[keep])


def apply_input_transform(transform, X):
    """``transform.transform(X)`` as float32 (``X`` itself when there is no transform)."""
    if transform is None:
        return X
    return np.asarray(transform.transform(X), dtype=np.float32)


def check_numeric_columns(X, source=None):
    """Raise a ``ValueError`` naming the non-numeric columns of a DataFrame ``X``.

    Anything without ``dtypes`` (arrays, lists) passes; scikit-learn's own
    validation reports its problems.
    """
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return
    non_numeric = [str(column) for column, dtype in dtypes.items()
                   if getattr(dtype, "kind", "O") not in "biuf"]
    if non_numeric:
        where = f" of {source}" if source else ""
        raise ValueError(f"feature columns {non_numeric}{where} are not numeric; encode them "
                         "(for example one-hot) or drop them first.")
