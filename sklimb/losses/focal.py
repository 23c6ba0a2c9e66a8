"""Multiclass softmax focal loss (Lin et al., 2017)."""

from __future__ import annotations

import numbers

import numpy as np
import torch

from ._base import (
    ImbalanceLoss,
    add_log_shifts,
    as_class_tensor,
    as_class_vector,
    check_class_vector_size,
    check_logits_target,
    check_number,
    check_reduction,
    log_or_none,
    module_example_weights,
    per_example,
    prepare,
    run_loss,
)
from ._compiled import FOCAL, register
from ._fused import reduce_rows
from ._many_classes import softmax_loss_in_loops
from ._softmax import SoftmaxStats, as_row, working_copy


def focal_kernel(logits, target, gamma, weights, reduction, *, with_grad):
    """Focal loss ``-(1 - p_t)**gamma * log p_t`` and its gradient (see :mod:`._fused`).

    With ``u = 1 - p_t`` (summed from the other probabilities), the loss
    depends on the logits through ``log p_t`` only, so its gradient is
    ``c * (p - onehot)`` with ``c = -dl/dlog p_t = u**gamma * (1 - gamma *
    p_t * log p_t / u)``. Written this way it is finite for every
    ``gamma >= 0``, also where the derivative of ``u**gamma`` alone is
    infinite (``gamma < 1`` at ``p_t = 1``); ``log p_t / u -> -1`` as
    ``u -> 0`` is evaluated by its series there.
    """
    if with_grad:  # with many classes, compiled passes around PyTorch's softmax
        in_loops = softmax_loss_in_loops(logits, target, FOCAL, gamma, 0.0, weights, reduction)
        if in_loops is not None:
            return in_loops
    z, dim = working_copy(logits, writable=False)
    stats = SoftmaxStats(z, dim, target, owned=z is not logits)
    u, log_pt = stats.u, stats.log_pt
    u_gamma = u * u if gamma == 2.0 else u.pow(gamma)
    value, row_scale = reduce_rows(torch.mul(u_gamma, log_pt).neg_(), weights, reduction)
    if not with_grad:
        return value, None
    if gamma == 0.0:
        coef = as_row(row_scale, u)
    else:
        ratio = torch.where(u > SERIES_BELOW, log_pt / u.clamp_min(_TINY), -1.0 - 0.5 * u)
        coef = torch.addcmul(torch.ones_like(u), log_pt.exp(), ratio, value=-gamma)
        coef = coef.mul_(u_gamma).mul_(row_scale)
    return value, stats.gradient(coef, coef * u.neg())


register(focal_kernel, "softmax_entry",
         lambda args, dtype: (FOCAL, float(args[0]), 0.0, 1.0, 0, 1.0, 0))

#: below this ``u = 1 - p_t``, ``log(1 - u) / u`` is taken from its series ``-1 - u / 2``
SERIES_BELOW = 1e-4
_TINY = torch.finfo(torch.float32).tiny


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
        alpha_t = per_example(alpha, target)
        weights = alpha_t if weights is None else weights * alpha_t
    return run_loss(logits, target, focal_kernel, gamma, weights, reduction)


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

    def class_log_shift(self):
        """``log(weight) + log(alpha)`` (see :meth:`ImbalanceLoss.class_log_shift`)."""
        alpha = self.alpha
        if alpha is not None and alpha.ndim == 0:  # binary RetinaNet form
            alpha = torch.stack([1.0 - alpha, alpha])
        return add_log_shifts(super().class_log_shift(), log_or_none(alpha))

    def _compute(self, logits, target, sample_weight):
        logits, target = check_logits_target(logits, target)
        buffers = self._buffers  # a dict look-up; ``self.weight`` costs a module __getattr__
        weight = buffers["weight"]
        alpha = buffers["alpha"]
        if alpha is not None:
            if alpha.ndim == 0:  # the binary RetinaNet form
                alpha = _alpha_weights(alpha, logits)
            # both sizes checked before the product, which would fail with a broadcasting error
            check_class_vector_size("weight", weight, logits.shape[1])
            check_class_vector_size("alpha", alpha, logits.shape[1])
            weight = alpha if weight is None else weight * alpha
        weights = module_example_weights(logits, target, weight, sample_weight)
        return run_loss(logits, target, focal_kernel, self.gamma, weights, self.reduction)

    def extra_repr(self):
        return f"gamma={self.gamma}, {super().extra_repr()}"


__all__ = ["FocalLoss", "focal_loss"]
