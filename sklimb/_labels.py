"""Label encoding of the estimator: any labels in, codes ``0..n_classes-1`` to torch."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelEncoder


def fit_labels(y, classes):
    """A ``LabelEncoder`` for ``y`` (or for ``classes`` if given), with checks."""
    encoder = LabelEncoder().fit(y if classes is None else np.asarray(classes))
    if classes is not None:
        missing = np.setdiff1d(np.unique(y), encoder.classes_)
        if missing.size:
            raise ValueError(f"y contains labels {missing.tolist()!r} that are not in "
                             f"classes={encoder.classes_.tolist()!r}.")
    if len(encoder.classes_) < 2:
        raise ValueError(
            f"y has only one class ({encoder.classes_.tolist()!r}); a classifier needs "
            "samples of at least two classes. Check the labels or the data split."
        )
    return encoder


def encode_labels(encoder, y):
    """``y`` as int64 codes ``0..n_classes-1``; a clear error for unknown labels."""
    try:
        return encoder.transform(y).astype(np.int64)
    except ValueError as exc:
        raise ValueError(f"y contains labels the classifier was not set up with "
                         f"(classes are {encoder.classes_.tolist()!r}): {exc}") from exc
