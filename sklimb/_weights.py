"""Class weights of the estimator, computed from the labels ``fit`` receives."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from .losses import effective_number_weights

EFFECTIVE_NUMBER_BETA = 0.999


def class_weights(class_weight, classes, class_counts):
    """Per-class weights (float64, in the order of ``classes``) or ``None``.

    Parameters
    ----------
    class_weight : None, "balanced", "sqrt_balanced", "effective_number" or dict
        ``"balanced"`` is scikit-learn's ``n_samples / (n_classes * n_c)``;
        ``"sqrt_balanced"`` its square root, half-way (in log scale) between
        no weights and balanced ones;
        ``"effective_number"`` is Cui et al.'s ``(1 - beta) / (1 - beta**n_c)``
        with ``beta=0.999``, normalised to sum to the number of classes; a
        dict maps original labels to weights (missing labels weigh 1).
    classes : ndarray of shape (n_classes,)
        The original labels, sorted.
    class_counts : ndarray of shape (n_classes,)
        Training samples per class.
    """
    if class_weight is None:
        return None
    if isinstance(class_weight, str):
        if class_weight in ("balanced", "sqrt_balanced"):
            y = np.repeat(np.arange(len(classes)), class_counts)
            present = np.unique(y)
            weights = np.ones(len(classes))
            weights[present] = compute_class_weight("balanced", classes=present, y=y)
            return weights if class_weight == "balanced" else np.sqrt(weights)
        if class_weight == "effective_number":
            return effective_number_weights(class_counts, beta=EFFECTIVE_NUMBER_BETA)
    elif isinstance(class_weight, dict):
        return _weights_from_dict(class_weight, classes)
    raise ValueError(
        f"class_weight={class_weight!r} is not supported; use None, 'balanced', "
        "'sqrt_balanced', 'effective_number' or a dict mapping class labels to weights."
    )


def _weights_from_dict(class_weight, classes):
    known = {label.item() if hasattr(label, "item") else label for label in classes}
    unknown = [label for label in class_weight if label not in known]
    if unknown:
        raise ValueError(
            f"class_weight has labels {unknown!r} that are not classes of y; "
            f"the classes are {sorted(known, key=str)!r}."
        )
    weights = np.ones(len(classes))
    for index, label in enumerate(classes):
        key = label.item() if hasattr(label, "item") else label
        if key in class_weight:
            value = class_weight[key]
            if (isinstance(value, bool) or not isinstance(value, numbers.Real)
                    or not np.isfinite(value) or value < 0):
                raise ValueError(
                    f"class_weight[{key!r}]={value!r} must be a finite number >= 0."
                )
            weights[index] = float(value)
    if not weights.any():
        raise ValueError("class_weight gives every class weight 0; at least one must be > 0.")
    return weights
