"""Multiclass softmax focal loss (Lin et al., 2017)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from ._base import (
    ImbalanceLoss,
    as_class_tensor,
    as_class_vector,
    check_number,
    check_reduction,
    prepare,
    reduce_loss,
)
from ._rows import add_, row_positions, take
from ._softmax import softmax_parts


class _FocalTerm(torch.autograd.Function):
    """Per-example ``-(1 - p_t)**gamma * log p_t`` with a hand-written backward.

    Writing the backward by hand keeps the cost at one softmax pass and one
    multiplication (less than cross-entropy) and makes the gradient finite where the
    autograd chain is not: for ``gamma < 1`` the derivative of
    ``(1 - p_t)**gamma`` is infinite at ``p_t = 1`` although the loss gradient
    tends to zero. With ``u = log p_t`` and ``q = 1 - p_t``,

    ``d loss / d u = q**gamma * (gamma * p_t * u / q - 1)``, where ``u / q -> -1``
    as ``q -> 0``, and ``d u / d x_j = [j = y] - p_j``.
    """

    @staticmethod
    def forward(ctx, logits, target, gamma):
        logits = logits.contiguous()  # row-wise indexing needs the standard layout
        positions = row_positions(target, logits.shape[1])
        p, x_max, log_p_max = softmax_parts(logits)
        log_pt = take(logits, positions).sub_(x_max).add_(log_p_max)
        ctx.save_for_backward(p, positions, log_pt)
        ctx.gamma = gamma
        if gamma == 0.0:
            return -log_pt
        return torch.expm1(log_pt).neg_().pow_(gamma).mul_(log_pt).neg_()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        p, positions, log_pt = ctx.saved_tensors
        gamma = ctx.gamma
        if gamma == 0.0:
            coef = -grad_loss
        else:
            q = torch.expm1(log_pt).neg_()
            ratio = torch.where(q > 0, log_pt / q, -1.0)  # log p_t / (1 - p_t)
            dloss_du = ratio.mul_(torch.exp(log_pt)).mul_(gamma).sub_(1.0).mul_(q.pow_(gamma))
            coef = dloss_du.mul_(grad_loss)
        grad = torch.mul(p, coef.neg().unsqueeze(1))
        return add_(grad, positions, coef), None, None


def _check_alpha(alpha):
    """Return alpha as a float in [0, 1] (binary form) or a validated class vector."""
    if alpha is None:
        return None
    if isinstance(alpha, numbers.Real) or (np.ndim(alpha) == 0 and not isinstance(alpha, str)):
        return check_number("alpha", float(alpha), low=0.0, high=1.0, high_closed=True)
    return as_class_vector("alpha", alpha)


def _alpha_weights(alpha, logits):
    """Per-class alpha tensor for these logits (``None`` if no alpha)."""
    if alpha is None:
        return None
    if isinstance(alpha, torch.Tensor) and alpha.ndim == 0:
        alpha = float(alpha)
    if isinstance(alpha, float):
        if logits.shape[1] != 2:
            raise ValueError(
                f"a scalar alpha={alpha} weights the positive class of a binary problem "
                f"(alpha for class 1, 1 - alpha for class 0), but logits have "
                f"{logits.shape[1]} classes; pass one alpha per class instead."
            )
        return torch.tensor([1.0 - alpha, alpha], device=logits.device, dtype=logits.dtype)
    return as_class_tensor("alpha", alpha, logits)


def focal_loss(
    logits, target, *, gamma=2.0, alpha=None, weight=None, sample_weight=None, reduction="mean"
):
    r"""Multiclass focal loss, computed in log space.

    With :math:`p = \mathrm{softmax}(x_i)` and :math:`p_t = p_{y_i}`,

    .. math::

        \ell_i = -(1 - p_t)^{\gamma} \log p_t,

    reduced with the weighted mean :math:`\sum_i w_i \ell_i / \sum_i w_i`,
    :math:`w_i = \alpha_{y_i} \cdot \mathrm{weight}_{y_i} \cdot \mathrm{sample\_weight}_i`.
    ``log p_t`` comes from ``log_softmax`` and :math:`1 - p_t` from
    ``-expm1(log p_t)``, so neither underflows; the gradient is written by hand
    and stays finite for :math:`0 < \gamma < 1` as :math:`p_t \to 1`.

    Parameters
    ----------
    logits : torch.Tensor of shape (n_samples, n_classes)
        Raw, unnormalised scores.
    target : torch.Tensor of shape (n_samples,)
        Integer class indices.
    gamma : float, default=2.0
        Focusing parameter :math:`\gamma \ge 0`; ``gamma=0`` is cross-entropy.
    alpha : float or array-like of shape (n_classes,), default=None
        Per-class weights :math:`\alpha_c`. A scalar is the RetinaNet form and
        needs a binary problem: class 1 gets ``alpha``, class 0 ``1 - alpha``.
    weight : array-like of shape (n_classes,), default=None
        Further per-class weights (the estimator's ``class_weight``),
        multiplied with ``alpha``.
    sample_weight : torch.Tensor of shape (n_samples,), default=None
        Per-example weights.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction of the per-example losses.

    Returns
    -------
    loss : torch.Tensor
        A scalar, or shape ``(n_samples,)`` for ``reduction="none"``.

    References
    ----------
    .. [1] T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollar, "Focal Loss for
       Dense Object Detection", ICCV 2017.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import focal_loss
    >>> logits = torch.tensor([[3.0, 0.0], [0.0, 0.5]])
    >>> round(float(focal_loss(logits, torch.tensor([0, 1]), gamma=2.0)), 4)
    0.0338
    """
    reduction = check_reduction(reduction)
    gamma = check_number("gamma", gamma, low=0.0)
    alpha = alpha if isinstance(alpha, torch.Tensor) else _check_alpha(alpha)
    logits, target, weight, weights = prepare(logits, target, sample_weight, weight)
    alpha = _alpha_weights(alpha, logits)
    if alpha is not None:
        alpha_t = alpha[target]
        weights = alpha_t if weights is None else weights * alpha_t
    loss = _FocalTerm.apply(logits, target, gamma)
    return reduce_loss(loss, weights, reduction)


class FocalLoss(ImbalanceLoss):
    r"""Multiclass focal loss as an ``nn.Module``.

    See :func:`focal_loss` for the formula.

    Parameters
    ----------
    gamma : float, default=2.0
        Focusing parameter :math:`\gamma \ge 0`.
    alpha : float or array-like of shape (n_classes,), default=None
        Per-class weights; a scalar needs a binary problem (see :func:`focal_loss`).
    weight : array-like of shape (n_classes,), default=None
        Per-class weights multiplied with ``alpha``, stored as a buffer.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction of the per-example losses.

    See Also
    --------
    ClassBalancedLoss : focal loss with effective-number class weights.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import FocalLoss
    >>> loss = FocalLoss(gamma=2.0, alpha=[0.25, 0.75])
    >>> round(float(loss(torch.zeros(2, 2), torch.tensor([0, 1]))), 4)
    0.1733
    """

    def __init__(self, gamma=2.0, alpha=None, weight=None, reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)
        self.gamma = check_number("gamma", gamma, low=0.0)
        alpha = _check_alpha(alpha)
        self.register_buffer(
            "alpha", None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32)
        )

    def forward(self, logits, target, sample_weight=None):
        return focal_loss(
            logits, target, gamma=self.gamma, alpha=self.alpha, weight=self.weight,
            sample_weight=sample_weight, reduction=self.reduction,
        )

    def extra_repr(self):
        return f"gamma={self.gamma}, {super().extra_repr()}"


__all__ = ["FocalLoss", "focal_loss"]
