"""Imbalanced datasets built offline from data that scikit-learn ships."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.utils import Bunch, check_random_state


def long_tailed_counts(n_max, n_classes, imbalance_ratio):
    r"""Per-class sizes of the exponential profile of Cui et al. (2019).

    .. math:: n_c = \lfloor n_{\max} \, r^{-c / (C - 1)} \rfloor, \quad c = 0, \dots, C - 1,

    so class 0 keeps ``n_max`` samples and the last class ``n_max / r``
    (at least one).

    Parameters
    ----------
    n_max : int
        Size of the largest class.
    n_classes : int
        Number of classes ``C >= 2``.
    imbalance_ratio : float
        Ratio ``r >= 1`` between the largest and the smallest class.

    Returns
    -------
    counts : ndarray of shape (n_classes,)

    Examples
    --------
    >>> from sklimb.datasets import long_tailed_counts
    >>> long_tailed_counts(100, 3, 100).tolist()
    [100, 10, 1]
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2; got {n_classes}.")
    if not n_max >= 1:
        raise ValueError(f"n_max must be >= 1; got {n_max!r}.")
    if not imbalance_ratio >= 1:
        raise ValueError(f"imbalance_ratio must be >= 1; got {imbalance_ratio!r}.")
    exponent = np.arange(n_classes) / (n_classes - 1)
    counts = np.floor(n_max * float(imbalance_ratio) ** -exponent + 1e-9).astype(int)
    return np.maximum(counts, 1)


def make_long_tailed(X, y, imbalance_ratio=10.0, random_state=None):
    """Subsample ``X, y`` so class sizes follow an exponential long tail.

    Classes are ranked by their label order (``np.unique(y)``); the first
    keeps as many samples as the smallest class has, the others follow
    :func:`long_tailed_counts`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    imbalance_ratio : float, default=10.0
        Ratio between the largest and the smallest class, ``>= 1``.
    random_state : int, RandomState instance or None, default=None
        Which samples are kept.

    Returns
    -------
    X_lt, y_lt : ndarrays
        The subsample, in the original row order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklimb.datasets import make_long_tailed
    >>> X, y = np.zeros((300, 2)), np.repeat([0, 1, 2], 100)
    >>> np.bincount(make_long_tailed(X, y, imbalance_ratio=4, random_state=0)[1]).tolist()
    [100, 50, 25]
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y have different lengths: {len(X)} and {len(y)}.")
    rng = check_random_state(random_state)
    classes, counts = np.unique(y, return_counts=True)
    targets = long_tailed_counts(counts.min(), len(classes), imbalance_ratio)
    keep = np.concatenate([
        rng.choice(np.flatnonzero(y == label), size=size, replace=False)
        for label, size in zip(classes, targets, strict=True)
    ])
    keep.sort()
    return X[keep], y[keep]


def load_long_tailed_digits(imbalance_ratio=10.0, random_state=0, return_X_y=False):
    """The 8x8 digits of scikit-learn, subsampled to a long tail.

    Digit 0 keeps 174 images (the size of the smallest digit class) and digit 9
    ``174 / imbalance_ratio`` (exponential profile of Cui et al., 2019). Pixel
    values are 0-16. With the default ratio the rarest digit keeps 17 images,
    so every fold of a 5-fold cross-validation tests at least 3 of them.

    Parameters
    ----------
    imbalance_ratio : float, default=10.0
        Ratio between the largest and the smallest class.
    random_state : int, RandomState instance or None, default=0
        Which images are kept.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch with ``data``, ``target``, ``feature_names``, ``target_names``,
        ``DESCR``, or ``(X, y)``.

    Examples
    --------
    >>> from sklimb.datasets import load_long_tailed_digits
    >>> X, y = load_long_tailed_digits(imbalance_ratio=10, return_X_y=True)
    >>> X.shape[1], len(set(y))
    (64, 10)
    """
    digits = load_digits()
    X, y = make_long_tailed(digits.data, digits.target, imbalance_ratio, random_state)
    if return_X_y:
        return X, y
    counts = np.bincount(y)
    return Bunch(
        data=X, target=y, feature_names=digits.feature_names,
        target_names=digits.target_names,
        DESCR=(f"scikit-learn's 8x8 digits subsampled to a long tail with imbalance ratio "
               f"{imbalance_ratio:g}; class sizes {counts.tolist()}."),
    )


def load_imbalanced_breast_cancer(imbalance_ratio=20.0, random_state=0, return_X_y=False):
    """scikit-learn's breast cancer data with the malignant class thinned out.

    All 357 benign samples (label ``"benign"``) are kept and
    ``357 / imbalance_ratio`` of the 212 malignant ones (label ``"malignant"``,
    the minority class), chosen at random.

    Parameters
    ----------
    imbalance_ratio : float, default=20.0
        Benign-to-malignant ratio, between ``357 / 212`` and 357.
    random_state : int, RandomState instance or None, default=0
        Which malignant samples are kept.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : Bunch with ``data``, ``target`` (string labels), ``feature_names``,
        ``target_names``, ``DESCR``, or ``(X, y)``.

    Examples
    --------
    >>> from sklimb.datasets import load_imbalanced_breast_cancer
    >>> X, y = load_imbalanced_breast_cancer(imbalance_ratio=20, return_X_y=True)
    >>> int((y == "malignant").sum()), int((y == "benign").sum())
    (17, 357)
    """
    cancer = load_breast_cancer()
    labels = cancer.target_names[cancer.target]  # 0 = malignant, 1 = benign
    n_benign = int((cancer.target == 1).sum())
    if not float(imbalance_ratio) > 0:
        raise ValueError(f"imbalance_ratio must be > 0; got {imbalance_ratio!r}.")
    n_malignant = int(n_benign / float(imbalance_ratio))
    if not 1 <= n_malignant <= int((cancer.target == 0).sum()):
        raise ValueError(f"imbalance_ratio={imbalance_ratio!r} leaves {n_malignant} malignant "
                         "samples; use a ratio between 1.7 and 357.")
    rng = check_random_state(random_state)
    malignant = rng.choice(np.flatnonzero(cancer.target == 0), n_malignant, replace=False)
    keep = np.sort(np.concatenate([np.flatnonzero(cancer.target == 1), malignant]))
    X, y = cancer.data[keep], labels[keep]
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, feature_names=cancer.feature_names,
                 target_names=cancer.target_names,
                 DESCR=(f"scikit-learn's breast cancer data, {n_benign} benign and "
                        f"{n_malignant} malignant samples (imbalance ratio "
                        f"{n_benign / n_malignant:.1f})."))


DATASETS = {
    "long_tailed_digits": load_long_tailed_digits,
    "breast_cancer": load_imbalanced_breast_cancer,
}


__all__ = ["DATASETS", "load_imbalanced_breast_cancer", "load_long_tailed_digits",
           "long_tailed_counts", "make_long_tailed"]
