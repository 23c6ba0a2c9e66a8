"""Class-balanced loss with effective-number weights (Cui et al., CVPR 2019)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._base import (
    ImbalanceLoss,
    add_log_shifts,
    check_number,
    check_per_class,
    check_reduction,
    class_counts_vector,
    compute_loss,
    log_or_none,
    on_device_of,
    one_vs_rest_margins,
    times_weight,
)
from .cross_entropy import softmax_cross_entropy
from .focal import focal_rows

BASES = ("softmax", "sigmoid", "focal", "sigmoid_focal")


def effective_number_weights(class_counts, beta=0.999):
    r"""Class weights :math:`w_c \propto 1 / E_{n_c}` from the effective numbers of samples.

    The weights are normalised to sum to the number of classes :math:`C`:
    :math:`w_c = C \, E_{n_c}^{-1} / \sum_k E_{n_k}^{-1}` with
    :math:`E_n = (1 - \beta^n) / (1 - \beta)` (:func:`effective_numbers`).
    ``beta=0`` gives uniform weights and :math:`\beta \to 1` approaches inverse
    class frequency; a class with no samples weighs like a class with one. Returns
    a float64 NumPy array of shape ``(n_classes,)``.

    References
    ----------
    .. [1] Y. Cui, M. Jia, T.-Y. Lin, Y. Song, S. Belongie, "Class-Balanced Loss
       Based on Effective Number of Samples", CVPR 2019.

    Examples
    --------
    >>> from sklimb.losses import effective_number_weights
    >>> effective_number_weights([100, 10], beta=0.9).round(4)
    array([0.7889, 1.2111])
    """
    counts = class_counts_vector(class_counts, "effective_number_weights").double().numpy()
    counts = np.maximum(counts, 1.0)
    inverse_effective = 1.0 / effective_numbers(counts, beta)
    return inverse_effective * (counts.size / inverse_effective.sum())


def effective_numbers(class_counts, beta=0.999):
    r"""Effective number of samples :math:`E_n = (1 - \beta^n) / (1 - \beta)` per class,
    with ``1 - beta**n`` computed as ``-expm1(n log beta)`` (no cancellation as
    :math:`\beta \to 1`); ``beta=0`` gives 1 for every non-empty class.

    Examples
    --------
    >>> from sklimb.losses import effective_numbers
    >>> effective_numbers([100, 10], beta=0.9).round(3)
    array([10.   ,  6.513])
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("class_counts must be a 1-D sequence of finite counts >= 0; got "
                         f"{class_counts!r}.")
    beta = check_number("beta", beta, low=0.0, high=1.0)
    if beta == 0.0:
        return (counts > 0).astype(np.float64)
    return -np.expm1(counts * np.log(beta)) / -np.expm1(np.log(beta))


def sigmoid_rows(logits, target, gamma=0.0):
    r"""Per-example one-vs-rest BCE ``softplus(a_c)`` summed over the classes (``a``: the
    logits, true entries negated); with :math:`\gamma > 0` each term is weighted by
    :math:`(1 - p^t_c)^\gamma = \exp(\gamma \, \mathrm{logsigmoid}(a_c))`."""
    a = one_vs_rest_margins(logits, target)
    bce = F.softplus(a)
    if gamma:
        bce = torch.exp(gamma * F.logsigmoid(a)) * bce
    return bce.sum(1)


def class_balanced_loss(
    logits, target, *, class_counts, beta=0.999, base="softmax", gamma=2.0,
    weight=None, sample_weight=None, reduction="mean",
):
    r"""Class-balanced loss: a base loss weighted by effective-number class weights.

    Example :math:`i` is weighted by :math:`w_{y_i}` from
    :func:`effective_number_weights` (times ``weight`` and ``sample_weight``)
    and the weighted mean is taken. The base loss is one of

    * ``"softmax"``: softmax cross-entropy;
    * ``"focal"``: the softmax focal loss of :func:`focal_loss` with ``gamma``;
    * ``"sigmoid"``: :math:`\sum_c \mathrm{BCE}(x_{ic}, [c = y_i])`, one
      sigmoid per class, as in the paper;
    * ``"sigmoid_focal"``: the paper's sigmoid focal form,
      :math:`\sum_c (1 - p^t_{ic})^{\gamma} \, \mathrm{BCE}(x_{ic}, [c = y_i])`.

    Parameters
    ----------
    logits, target : torch.Tensor
        Raw scores of shape ``(n_samples, n_classes)`` and integer class indices of
        shape ``(n_samples,)``.
    class_counts : array-like of shape (n_classes,)
        Training samples per class (counts of the whole training set, not of
        one batch).
    beta : float, default=0.999
        Effective-number hyperparameter in ``[0, 1)``; ``0`` gives the base loss.
    base : {"softmax", "sigmoid", "focal", "sigmoid_focal"}, default="softmax"
        The base loss.
    gamma : float, default=2.0
        Focusing parameter of the focal bases (ignored otherwise).
    weight, sample_weight : array-like, default=None
        Per-class and per-example weights (see :mod:`sklimb.losses`); ``weight``
        multiplies the class-balanced weights.
    reduction : {"mean", "sum", "none"}, default="mean"
        The loss is a scalar, or has shape ``(n_samples,)`` for ``"none"``.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import class_balanced_loss
    >>> logits, target = torch.zeros(3, 2), torch.tensor([0, 0, 1])
    >>> round(float(class_balanced_loss(logits, target, class_counts=[90, 10])), 4)
    0.6931
    """
    reduction = check_reduction(reduction)
    class_weight = on_device_of(logits, torch.as_tensor(effective_number_weights(class_counts,
                                                                                 beta)))
    return _class_balanced(logits, target, times_weight(class_weight, weight, "class_counts"),
                           _check_base(base), check_number("gamma", gamma, low=0.0),
                           sample_weight, reduction)


def _check_base(base):
    if base not in BASES:
        raise ValueError(f"base={base!r} is not supported; use one of {list(BASES)}.")
    return base


def _class_balanced(logits, target, weight, base, gamma, sample_weight, reduction):
    """The base loss of ``logits``, with the (already combined) class ``weight``."""
    check_per_class("class_counts", weight, logits)
    if base == "softmax":
        return softmax_cross_entropy(logits, target, weight, sample_weight, reduction)
    if base == "focal":
        rows, compiled = (lambda x, t: focal_rows(x, t, gamma)), "focal_loop"
    else:
        gamma = gamma if base == "sigmoid_focal" else 0.0
        rows, compiled = (lambda x, t: sigmoid_rows(x, t, gamma)), "sigmoid_loop"
    return compute_loss(rows, logits, target, weight, sample_weight, reduction,
                        compiled=compiled, params=(gamma,))


class ClassBalancedLoss(ImbalanceLoss):
    r"""Class-balanced loss (Cui et al., 2019) as an ``nn.Module``.

    See :func:`class_balanced_loss` for the formula and the parameters;
    :class:`~sklimb.ImbalancedNetClassifier` passes the ``class_counts`` of the
    ``y`` it is fitted on. The weights are kept in the ``class_weight`` buffer.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import ClassBalancedLoss
    >>> loss = ClassBalancedLoss(class_counts=[900, 100], beta=0.99, base="focal")
    >>> loss.class_weight
    tensor([0.7760, 1.2240])
    """

    requires_class_counts = True
    corrects_class_frequency = True

    def __init__(self, class_counts=None, beta=0.999, base="softmax", gamma=2.0,
                 weight=None, reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)
        counts = class_counts_vector(class_counts, type(self).__name__)
        self.register_buffer("class_counts", counts)
        self.beta = check_number("beta", beta, low=0.0, high=1.0)
        self.base = _check_base(base)
        self.gamma = check_number("gamma", gamma, low=0.0)
        cb = torch.as_tensor(effective_number_weights(counts, self.beta), dtype=torch.float32)
        self.register_buffer("class_weight", cb)

    def class_log_shift(self):
        """``log(weight)`` plus the log class-balanced weights."""
        return add_log_shifts(super().class_log_shift(), log_or_none(self.class_weight))

    def forward(self, logits, target, sample_weight=None):
        weight = times_weight(self.class_weight, self.weight, "class_counts")
        return _class_balanced(logits, target, weight, self.base, self.gamma, sample_weight,
                               self.reduction)

    def extra_repr(self):
        return (f"beta={self.beta}, base={self.base!r}, gamma={self.gamma}, "
                f"{super().extra_repr()}")


__all__ = [
    "ClassBalancedLoss",
    "class_balanced_loss",
    "effective_number_weights",
    "effective_numbers",
]
