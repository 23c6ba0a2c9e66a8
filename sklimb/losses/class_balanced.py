"""Class-balanced loss with effective-number weights (Cui et al., CVPR 2019)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._base import (
    ImbalanceLoss,
    as_class_tensor,
    check_class_vector_size,
    check_number,
    check_reduction,
    class_counts_buffer,
    prepare,
    reduce_loss,
    required_class_counts,
)
from ._one_vs_rest import flip_true_class, negate_true_class_
from ._rows import put_, row_blocks, row_positions, take
from .cross_entropy import cross_entropy_loss
from .focal import focal_loss

BASES = ("softmax", "sigmoid", "focal", "sigmoid_focal")


def effective_number_weights(class_counts, beta=0.999):
    r"""Class weights from the effective number of samples.

    The effective number of a class with :math:`n_c` samples is
    :math:`E_{n_c} = (1 - \beta^{n_c}) / (1 - \beta)`; its weight is
    :math:`1 / E_{n_c}`, normalised so that the weights sum to the number of
    classes :math:`C`:

    .. math::

        w_c = C \, \frac{(1 - \beta) / (1 - \beta^{n_c})}
                       {\sum_k (1 - \beta) / (1 - \beta^{n_k})}.

    ``beta=0`` gives uniform weights and :math:`\beta \to 1` approaches
    inverse class frequency. A class with no samples is given the weight of a
    class with one sample rather than an infinite weight.

    Parameters
    ----------
    class_counts : array-like of shape (n_classes,)
        Number of training samples of each class.
    beta : float, default=0.999
        Hyperparameter :math:`\beta \in [0, 1)`.

    Returns
    -------
    weights : numpy.ndarray of shape (n_classes,)
        Float64 weights summing to ``n_classes``.

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
    counts = np.maximum(required_class_counts(class_counts).numpy(), 1.0)
    inverse_effective = 1.0 / effective_numbers(counts, beta)
    return inverse_effective * (counts.size / inverse_effective.sum())


def effective_numbers(class_counts, beta=0.999):
    r"""Effective number of samples :math:`E_n = (1 - \beta^n) / (1 - \beta)` per class.

    ``1 - beta**n`` is computed as ``-expm1(n log beta)``, without cancellation
    for :math:`\beta` near 1; ``beta=0`` gives 1 for every non-empty class.

    Parameters
    ----------
    class_counts : array-like of shape (n_classes,)
        Samples per class.
    beta : float, default=0.999
        Hyperparameter :math:`\beta \in [0, 1)`.

    Returns
    -------
    effective : numpy.ndarray of shape (n_classes,)

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


class _SigmoidBCETerm(torch.autograd.Function):
    """Per-example sum over classes of one-vs-rest BCE, ``softplus(a)``, fused backward.

    ``softplus`` runs on the logits themselves, one block of rows at a time
    (:func:`._rows.row_blocks`), and only the true column is replaced by
    ``softplus(-x_t)``, so the forward makes no flipped copy of the logits and
    no full-size temporary. The backward is one sigmoid pass over the same
    blocks, ``sigmoid(x) - onehot``, whose true column is written as
    ``-sigmoid(-x_t)`` (no cancellation as ``x_t`` grows).
    """

    @staticmethod
    def forward(ctx, logits, target):
        logits = logits.contiguous()  # row-wise indexing needs the standard layout
        n_rows, n_classes = logits.shape
        positions = row_positions(target, n_classes)
        x_t = take(logits, positions)
        bce_t = F.softplus(-x_t)
        blocks = row_blocks(n_rows, n_classes, logits.device)
        buffer = logits.new_empty(blocks[0][1], n_classes)
        loss = logits.new_empty(n_rows)
        for start, stop in blocks:
            # F.softplus is the ATen op itself and takes out=
            bce = F.softplus(logits[start:stop], out=buffer[:stop - start])
            put_(bce, positions[start:stop] - start * n_classes, bce_t[start:stop])
            torch.sum(bce, dim=1, out=loss[start:stop])
        ctx.save_for_backward(logits, positions, x_t)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        logits, positions, x_t = ctx.saved_tensors
        grad = torch.empty_like(logits)
        coef = grad_loss.unsqueeze(1)
        for start, stop in row_blocks(*logits.shape, logits.device):
            torch.sigmoid(logits[start:stop], out=grad[start:stop]).mul_(coef[start:stop])
        return put_(grad, positions, torch.sigmoid(-x_t).mul_(grad_loss).neg_()), None


class _SigmoidFocalTerm(torch.autograd.Function):
    """Per-example sum over classes of ``sigmoid(a)**gamma * softplus(a)``, ``gamma > 0``.

    ``sigmoid(a) = 1 - p_t`` of each one-vs-rest logit (see
    :mod:`._one_vs_rest`). The fused backward uses
    ``d/da = g**gamma * (gamma * (1 - g) * softplus(a) + g)`` with ``g = sigmoid(a)``.
    """

    @staticmethod
    def forward(ctx, logits, target, gamma):
        a = flip_true_class(logits, target)
        bce = F.softplus(a)
        g = torch.sigmoid(a)
        ctx.gamma = gamma
        factor = g.pow(gamma)
        ctx.save_for_backward(g, target, bce, factor)
        return (factor * bce).sum(dim=1)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        g, target, bce, factor = ctx.saved_tensors
        grad = (1.0 - g).mul_(bce).mul_(ctx.gamma).add_(g).mul_(factor)
        grad.mul_(grad_loss.unsqueeze(1))
        return negate_true_class_(grad, target), None, None


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
    logits : torch.Tensor of shape (n_samples, n_classes)
        Raw, unnormalised scores.
    target : torch.Tensor of shape (n_samples,)
        Integer class indices.
    class_counts : array-like of shape (n_classes,)
        Training samples per class (counts of the whole training set, not of
        one batch).
    beta : float, default=0.999
        Effective-number hyperparameter in ``[0, 1)``; ``0`` gives the base loss.
    base : {"softmax", "sigmoid", "focal", "sigmoid_focal"}, default="softmax"
        The base loss.
    gamma : float, default=2.0
        Focusing parameter of the focal bases (ignored otherwise).
    weight : array-like of shape (n_classes,), default=None
        Further per-class weights, multiplied with the class-balanced ones.
    sample_weight : torch.Tensor of shape (n_samples,), default=None
        Per-example weights.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction of the per-example losses.

    Returns
    -------
    loss : torch.Tensor
        A scalar, or shape ``(n_samples,)`` for ``reduction="none"``.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import class_balanced_loss
    >>> logits, target = torch.zeros(3, 2), torch.tensor([0, 0, 1])
    >>> round(float(class_balanced_loss(logits, target, class_counts=[90, 10])), 4)
    0.6931
    """
    reduction = check_reduction(reduction)
    weights = torch.as_tensor(effective_number_weights(class_counts, beta), dtype=torch.float32)
    return _class_balanced(logits, target, weights, _check_base(base),
                           check_number("gamma", gamma, low=0.0), weight, sample_weight,
                           reduction)


def _check_base(base):
    if base not in BASES:
        raise ValueError(f"base={base!r} is not supported; use one of {list(BASES)}.")
    return base


def _class_balanced(logits, target, cb_weight, base, gamma, weight, sample_weight, reduction):
    if isinstance(logits, torch.Tensor) and logits.ndim == 2:
        check_class_vector_size("class_counts", cb_weight, logits.shape[1])
    if weight is not None:
        cb_weight = cb_weight * as_class_tensor("weight", weight, cb_weight[None])
    if base == "softmax":
        return cross_entropy_loss(logits, target, weight=cb_weight, sample_weight=sample_weight,
                                  reduction=reduction)
    if base == "focal":
        return focal_loss(logits, target, gamma=gamma, weight=cb_weight,
                          sample_weight=sample_weight, reduction=reduction)
    logits, target, _, weights = prepare(logits, target, sample_weight, cb_weight)
    if base == "sigmoid_focal" and gamma > 0.0:
        loss = _SigmoidFocalTerm.apply(logits, target, gamma)
    else:
        loss = _SigmoidBCETerm.apply(logits, target)
    return reduce_loss(loss, weights, reduction)


class ClassBalancedLoss(ImbalanceLoss):
    r"""Class-balanced loss (Cui et al., 2019) as an ``nn.Module``.

    See :func:`class_balanced_loss`. The class-balanced weights are computed
    once from ``class_counts`` and kept in the ``class_weight`` buffer.

    Parameters
    ----------
    class_counts : array-like of shape (n_classes,)
        Training samples per class; :class:`~sklimb.ImbalancedNetClassifier`
        passes the counts of the ``y`` it is fitted on.
    beta : float, default=0.999
        Effective-number hyperparameter in ``[0, 1)``.
    base : {"softmax", "sigmoid", "focal", "sigmoid_focal"}, default="softmax"
        The base loss.
    gamma : float, default=2.0
        Focusing parameter of the focal bases.
    weight : array-like of shape (n_classes,), default=None
        Further per-class weights.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction of the per-example losses.

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
        counts = class_counts_buffer(self, class_counts)
        self.beta = check_number("beta", beta, low=0.0, high=1.0)
        self.base = _check_base(base)
        self.gamma = check_number("gamma", gamma, low=0.0)
        cb = torch.as_tensor(effective_number_weights(counts, self.beta), dtype=torch.float32)
        self.register_buffer("class_weight", cb)

    def forward(self, logits, target, sample_weight=None):
        return _class_balanced(logits, target, self.class_weight, self.base, self.gamma,
                               self.weight, sample_weight, self.reduction)

    def extra_repr(self):
        return (f"beta={self.beta}, base={self.base!r}, gamma={self.gamma}, "
                f"{super().extra_repr()}")


__all__ = [
    "ClassBalancedLoss",
    "class_balanced_loss",
    "effective_number_weights",
    "effective_numbers",
]
