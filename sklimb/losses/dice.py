"""Self-adjusting dice (DSC) loss for classification (Li et al., ACL 2020)."""

from __future__ import annotations

import torch

from ._base import (
    ImbalanceLoss,
    check_logits_target,
    check_number,
    check_reduction,
    module_example_weights,
    prepare,
    run_loss,
)
from ._compiled import DICE, register
from ._fused import reduce_rows
from ._many_classes import softmax_loss_in_loops
from ._softmax import SoftmaxStats, working_copy


def dice_kernel(logits, target, alpha, smooth, weights, reduction, *, with_grad):
    r"""Self-adjusting dice of the true class and its gradient (see :mod:`._fused`).

    With ``u = 1 - p_t`` (summed from the other probabilities),
    ``q = u**alpha * p_t`` and ``l = (1 - q) / (q + 1 + smooth)``. The loss
    depends on the logits through ``p_t`` only, so its gradient is
    ``c * (p - onehot)`` with ``c = -dl/dlog p_t = K p_t u**(alpha - 1)
    (u - alpha p_t)``, ``K = (2 + smooth) / (q + 1 + smooth)**2``. Off the
    true class ``c * p_j`` is bounded because ``p_j <= u``; ``u`` is kept
    above the smallest normal number in the power, which only matters where
    every ``p_j`` has underflowed to 0 already. The true entry is
    ``-c * u = -K p_t u**alpha (u - alpha p_t)``.
    """
    if with_grad:  # with many classes, compiled passes around PyTorch's softmax
        in_loops = softmax_loss_in_loops(logits, target, DICE, alpha, smooth, weights, reduction)
        if in_loops is not None:
            return in_loops
    z, dim = working_copy(logits, writable=False)
    stats = SoftmaxStats(z, dim, target, owned=z is not logits)
    u, p_t = stats.u, stats.log_pt.exp()
    u_alpha = u.pow(alpha) if alpha else None
    q = p_t if u_alpha is None else u_alpha * p_t
    denominator = q + (1.0 + smooth)
    value, row_scale = reduce_rows(torch.rsub(q, 1.0).div_(denominator), weights, reduction)
    if not with_grad:
        return value, None
    base = denominator.square_().reciprocal_().mul_(2.0 + smooth).mul_(p_t)
    if alpha:
        base.mul_(torch.sub(u, p_t, alpha=alpha)).mul_(row_scale)
        true_value = base * u_alpha
        coef = base.mul_(u.clamp_min(torch.finfo(u.dtype).tiny).pow_(alpha - 1.0))
    else:  # plain soft dice: c = K p_t
        coef = base.mul_(row_scale)
        true_value = coef * u
    return value, stats.gradient(coef, true_value.neg_())


register(dice_kernel, "softmax_entry",
         lambda args, dtype: (DICE, float(args[0]), float(args[1]), 1.0, 0, 1.0, 0))


def dice_loss(
    logits, target, *, alpha=0.1, smooth=1.0, weight=None, sample_weight=None, reduction="mean"
):
    r"""Self-adjusting dice loss of the true class's softmax probability.

    With :math:`p_t = \mathrm{softmax}(x_i)_{y_i}` and the self-adjusting
    factor :math:`\tilde p_t = (1 - p_t)^{\alpha} p_t`, each example gets the
    DSC of Li et al. (2020) for its true class (:math:`y = 1`),

    .. math::

        \ell_i = 1 - \frac{2 \tilde p_t + \gamma}{\tilde p_t + 1 + \gamma}
               = \frac{1 - \tilde p_t}{\tilde p_t + 1 + \gamma},

    where :math:`\gamma` is ``smooth``. ``alpha=0`` is the plain soft dice of
    the true class; :math:`\alpha > 0` stops pushing an example once
    :math:`p_t` passes :math:`1 / (1 + \alpha)`, which down-weights easy
    examples (keep :math:`\alpha < 1` so that this point stays above 1/2).
    :math:`1 - p_t` is the sum of the other probabilities (no cancellation as
    :math:`p_t \to 1`) and the backward pass is written so that every term is
    bounded, so loss and gradient stay finite and accurate at saturation.

    The paper's terms for the other classes (:math:`y = 0`,
    :math:`1 - \gamma / (\tilde p + \gamma)`) are left out: with more than two
    classes they make the loss concave in the wrong-class probabilities, and
    training collapses onto one wrong class (macro F1 0.02 on scikit-learn's
    digits with them, 0.9 without).

    Parameters
    ----------
    logits : torch.Tensor of shape (n_samples, n_classes)
        Raw, unnormalised scores.
    target : torch.Tensor of shape (n_samples,)
        Integer class indices.
    alpha : float, default=0.1
        Self-adjusting exponent :math:`\alpha \ge 0`.
    smooth : float, default=1.0
        Smoothing :math:`\gamma > 0` of numerator and denominator.
    weight : array-like of shape (n_classes,), default=None
        Per-class weights of examples.
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
    .. [1] X. Li, X. Sun, Y. Meng, J. Liang, F. Wu, J. Li, "Dice Loss for
       Data-imbalanced NLP Tasks", ACL 2020.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import dice_loss
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    >>> round(float(dice_loss(logits, torch.tensor([0, 1]), alpha=0.0)), 4)
    0.0414
    """
    reduction = check_reduction(reduction)
    alpha = check_number("alpha", alpha, low=0.0)
    smooth = check_number("smooth", smooth, low=0.0, low_closed=False)
    logits, target, _, weights = prepare(logits, target, sample_weight, weight)
    return run_loss(logits, target, dice_kernel, alpha, smooth, weights, reduction)


class DiceLoss(ImbalanceLoss):
    r"""Self-adjusting dice loss as an ``nn.Module``.

    See :func:`dice_loss` for the formula.

    Parameters
    ----------
    alpha : float, default=0.1
        Self-adjusting exponent :math:`\alpha \ge 0`; ``0`` is plain dice.
    smooth : float, default=1.0
        Smoothing :math:`\gamma > 0`.
    weight : array-like of shape (n_classes,), default=None
        Per-class weights, stored as a buffer.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction of the per-example losses.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import DiceLoss
    >>> DiceLoss(alpha=0.0)(torch.zeros(2, 2), torch.tensor([0, 1]))
    tensor(0.2000)
    """

    def __init__(self, alpha=0.1, smooth=1.0, weight=None, reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)
        self.alpha = check_number("alpha", alpha, low=0.0)
        self.smooth = check_number("smooth", smooth, low=0.0, low_closed=False)

    def _compute(self, logits, target, sample_weight):
        logits, target = check_logits_target(logits, target)
        weights = module_example_weights(logits, target, self._buffers["weight"], sample_weight)
        return run_loss(logits, target, dice_kernel, self.alpha, self.smooth, weights,
                        self.reduction)

    def extra_repr(self):
        return f"alpha={self.alpha}, smooth={self.smooth}, {super().extra_repr()}"


__all__ = ["DiceLoss", "dice_loss"]
