"""Self-adjusting dice (DSC) loss for classification (Li et al., ACL 2020)."""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ._base import ImbalanceLoss, check_number, check_reduction, prepare, reduce_loss


class _DiceTerm(torch.autograd.Function):
    """Per-example self-adjusting DSC averaged over classes, with a fused backward.

    Forward, with ``q = (1 - p)**alpha * p`` and ``r = 1 / (q + smooth)``: the
    negative terms sum to ``C - smooth * sum(r)``; the true class's negative
    term ``q_t / (q_t + smooth)`` is swapped for ``(1 - q_t) / (q_t + 1 + smooth)``.
    Backward: ``dl/dq`` is ``smooth * r**2`` for the other classes and
    ``-(2 + smooth) / (q_t + 1 + smooth)**2`` for the true one;
    ``dq/dp = (1 - p)**(alpha - 1) * (1 - p - alpha * p)``; and through the
    softmax ``dl/dx_j = p_j * (G_j - sum_c p_c G_c)`` with ``G = dl/dq * dq/dp``.
    For ``0 < alpha < 1``, ``1 - p`` comes from ``-expm1(log p)`` and is kept
    above the smallest normal number, so ``G`` stays finite as ``p -> 1``.
    """

    @staticmethod
    def forward(ctx, logits, target, alpha, smooth):
        log_p = torch.log_softmax(logits, dim=1)
        p = torch.exp(log_p)
        if alpha == 0.0:
            one_minus_p, q = None, p
        else:
            if alpha < 1.0:
                one_minus_p = torch.expm1(log_p).neg_().clamp_min_(torch.finfo(p.dtype).tiny)
            else:
                one_minus_p = torch.sub(1.0, p)
            q = one_minus_p * p if alpha == 1.0 else one_minus_p.pow(alpha).mul_(p)
        r = q.add(smooth).reciprocal_()
        index = target.unsqueeze(1)
        q_t = q.gather(1, index).squeeze(1)
        n_classes = logits.shape[1]
        positive = (1.0 - q_t) / (q_t + (1.0 + smooth))
        negative_t = q_t / (q_t + smooth)
        loss = (n_classes - smooth * r.sum(dim=1) - negative_t + positive) / n_classes
        ctx.alpha, ctx.smooth = alpha, smooth
        ctx.save_for_backward(p, one_minus_p, r, target, q_t)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        p, one_minus_p, r, target, q_t = ctx.saved_tensors
        alpha, smooth = ctx.alpha, ctx.smooth
        index = target.unsqueeze(1)
        dl_dq = r.square().mul_(smooth)  # saved tensors stay untouched: backward may rerun
        dl_dq.scatter_(1, index, (-(2.0 + smooth) / (q_t + (1.0 + smooth)).square()).unsqueeze(1))
        if alpha == 0.0:
            grad = dl_dq
        elif alpha == 1.0:
            grad = dl_dq.mul_(one_minus_p - p)
        else:
            dq_dp = one_minus_p.pow(alpha - 1.0).mul_(one_minus_p - alpha * p)
            grad = dl_dq.mul_(dq_dp)
        # grad holds G; softmax Jacobian: p * (G - sum(p * G))
        pg = grad.mul_(p)
        total = pg.sum(dim=1, keepdim=True)
        pg.sub_(p * total)
        return pg.mul_((grad_loss / p.shape[1]).unsqueeze(1)), None, None, None


def dice_loss(
    logits, target, *, alpha=1.0, smooth=1.0, weight=None, sample_weight=None, reduction="mean"
):
    r"""Self-adjusting dice loss over softmax probabilities.

    With :math:`p_{ic} = \mathrm{softmax}(x_i)_c`, one-hot labels
    :math:`y_{ic}` and the self-adjusting factor
    :math:`\tilde p_{ic} = (1 - p_{ic})^{\alpha} p_{ic}`, each example and class
    has the DSC term of the paper,

    .. math::

        \mathrm{DSC}_{ic} = 1 - \frac{2 \tilde p_{ic} y_{ic} + \gamma}
                                     {\tilde p_{ic} + y_{ic} + \gamma},

    and the loss of an example is the mean over classes,
    :math:`\ell_i = \frac{1}{C}\sum_c \mathrm{DSC}_{ic}`, so the true class is
    pulled up and the other classes pushed down. :math:`\gamma` is ``smooth``.
    Probabilities are handled in log space (:math:`1 - p` as
    ``-expm1(log p)``), so the loss and its gradient stay finite as
    :math:`p \to 1`. With ``alpha=0`` this is the plain (soft) dice loss;
    :math:`\alpha > 0` down-weights easy examples.

    Parameters
    ----------
    logits : torch.Tensor of shape (n_samples, n_classes)
        Raw, unnormalised scores.
    target : torch.Tensor of shape (n_samples,)
        Integer class indices.
    alpha : float, default=1.0
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
    0.0739
    """
    reduction = check_reduction(reduction)
    alpha = check_number("alpha", alpha, low=0.0)
    smooth = check_number("smooth", smooth, low=0.0, low_closed=False)
    logits, target, _, weights = prepare(logits, target, sample_weight, weight)
    loss = _DiceTerm.apply(logits, target, alpha, smooth)
    return reduce_loss(loss, weights, reduction)


class DiceLoss(ImbalanceLoss):
    r"""Self-adjusting dice loss as an ``nn.Module``.

    See :func:`dice_loss` for the formula.

    Parameters
    ----------
    alpha : float, default=1.0
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
    tensor(0.2667)
    """

    def __init__(self, alpha=1.0, smooth=1.0, weight=None, reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)
        self.alpha = check_number("alpha", alpha, low=0.0)
        self.smooth = check_number("smooth", smooth, low=0.0, low_closed=False)

    def forward(self, logits, target, sample_weight=None):
        return dice_loss(logits, target, alpha=self.alpha, smooth=self.smooth, weight=self.weight,
                         sample_weight=sample_weight, reduction=self.reduction)

    def extra_repr(self):
        return f"alpha={self.alpha}, smooth={self.smooth}, {super().extra_repr()}"


__all__ = ["DiceLoss", "dice_loss"]
