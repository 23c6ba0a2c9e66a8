"""``sklimb.describe(y)``: how imbalanced the labels are, and what that rules out."""

from __future__ import annotations

from numbers import Integral

import numpy as np
import pandas as pd
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d

from .losses import effective_number_weights, effective_numbers
from .resampling import SMOTE_K_NEIGHBORS

DEFAULT_BETAS = (0.9, 0.99, 0.999, 0.9999)


class Description:
    """The class distribution of ``y`` and the risks it brings.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per class (largest first): ``count``, ``fraction``, the
        effective number of samples ``(1 - beta**n) / (1 - beta)`` and the
        class-balanced weight for each beta, and ``risks``.
    imbalance_ratio : float
        Largest class count over smallest.
    risks : list of str
        One sentence per problem found (empty if none).
    n_samples, n_classes, cv, smote_k : int
        The data size and the settings the risks were checked against.
    """

    def __init__(self, table, imbalance_ratio, risks, n_samples, cv, smote_k):
        self.table = table
        self.imbalance_ratio = imbalance_ratio
        self.risks = risks
        self.n_samples = n_samples
        self.n_classes = len(table)
        self.cv = cv
        self.smote_k = smote_k

    def to_markdown(self, full=False):
        """The table and the risks as Markdown.

        ``full=False`` keeps the effective numbers and weights of the middle
        beta only, which fits a terminal; ``full=True`` shows every beta.
        """
        table = self.table
        if not full:
            keep = [c for c in table.columns if not c.startswith(("effective_n", "cb_weight"))]
            betas = [c for c in table.columns if c.startswith("effective_n")]
            if betas:
                middle = betas[len(betas) // 2].split("(", 1)[1]
                keep[2:2] = [c for c in table.columns if c.endswith("(" + middle)]
            table = table[keep]
        lines = [f"{self.n_samples} samples, {self.n_classes} classes, imbalance ratio "
                 f"{self.imbalance_ratio:.1f} (largest / smallest class).", "",
                 table.to_markdown(floatfmt=".3g"), ""]
        if self.risks:
            lines += [f"Risks (checked for {self.cv}-fold CV and SMOTE with "
                      f"k_neighbors={self.smote_k}):", ""]
            lines += [f"- {risk}" for risk in self.risks]
        else:
            lines.append(f"No class is too small for {self.cv}-fold CV or SMOTE with "
                         f"k_neighbors={self.smote_k}.")
        return "\n".join(lines)

    def __str__(self):
        return self.to_markdown()

    def __repr__(self):
        return (f"Description(n_samples={self.n_samples}, n_classes={self.n_classes}, "
                f"imbalance_ratio={self.imbalance_ratio:.3g}, risks={len(self.risks)})")


@validate_params(
    {"y": ["array-like"],
     "cv": [Interval(Integral, 1, None, closed="left")],
     "smote_k": [Interval(Integral, 1, None, closed="left")],
     "betas": ["array-like"]},
    prefer_skip_nested_validation=True,
)
def describe(y, *, cv=5, smote_k=SMOTE_K_NEIGHBORS, betas=DEFAULT_BETAS):
    r"""Describe the class distribution of ``y`` for imbalanced learning.

    Reports the count and share of every class, the imbalance ratio, the
    effective number of samples :math:`E_n = (1 - \beta^n) / (1 - \beta)` and
    the resulting class-balanced weights (Cui et al., 2019) for a few
    :math:`\beta`, and flags the classes that are too small:

    * fewer samples than ``cv`` folds: stratified cross-validation leaves the
      class out of some test folds;
    * a training fold (about ``n * (cv - 1) / cv`` samples of the class) with
      ``smote_k`` samples or fewer: SMOTE cannot find ``smote_k`` neighbours
      (SMOTE then shrinks ``k`` to the class's rows minus one, and copies
      a class of a single row; see :mod:`sklimb.resampling`);
    * a single sample: it cannot be in both a training and a test fold.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    cv : int, default=5
        Number of cross-validation folds to check against.
    smote_k : int, default=5
        SMOTE's ``k_neighbors`` to check against.
    betas : sequence of float, default=(0.9, 0.99, 0.999, 0.9999)
        Values of :math:`\beta` for the effective numbers.

    Returns
    -------
    description : Description

    Examples
    --------
    >>> from sklimb import describe
    >>> d = describe(["a"] * 90 + ["b"] * 9 + ["c"] * 3, cv=5)
    >>> d.imbalance_ratio
    30.0
    >>> d.table["count"].tolist()
    [90, 9, 3]
    >>> len(d.risks), d.risks[0][:36]
    (1, "class 'c': 3 samples < 5 folds: some")
    """
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) == 0:
        raise ValueError("y is empty; describe needs at least one label.")
    check_classification_targets(y)
    classes, counts = np.unique(y, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    classes, counts = classes[order], counts[order]
    table = pd.DataFrame({"count": counts, "fraction": counts / counts.sum()},
                         index=pd.Index(classes, name="class"))
    for beta in betas:
        table[f"effective_n(beta={beta:g})"] = effective_numbers(counts, beta)
    if len(classes) >= 2:
        for beta in betas:
            table[f"cb_weight(beta={beta:g})"] = effective_number_weights(counts, beta)
    risks, notes = [], []
    for label, n in zip(classes.tolist(), counts.tolist(), strict=True):
        in_training = n * (cv - 1) // cv
        problems = []
        if n == 1:
            problems.append("a single sample: it cannot be both trained on and tested")
        elif n < cv:
            problems.append(f"{n} samples < {cv} folds: some test folds will miss it")
        if n > 1 and in_training <= smote_k:
            problems.append(f"about {in_training} per training fold <= SMOTE k_neighbors="
                            f"{smote_k}")
        notes.append("; ".join(problems))
        if problems:
            risks.append(f"class {label!r}: " + "; ".join(problems) + ".")
    if len(classes) < 2:
        risks.insert(0, f"only one class ({classes[0]!r}): a classifier cannot be trained.")
    table["risks"] = notes
    ratio = float(counts.max() / counts.min())
    return Description(table, ratio, risks, len(y), int(cv), int(smote_k))


__all__ = ["Description", "describe"]
