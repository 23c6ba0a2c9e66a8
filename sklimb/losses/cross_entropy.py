"""Cross-entropy with class weights, sample weights and label smoothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._base import ImbalanceLoss, check_number, check_reduction, prepare, reduce_loss
from ._rows import add_, put_, row_positions, take
from ._softmax import pop_, shifted_softmax_parts


class _SoftmaxCrossEntropy(torch.autograd.Function):
    """Per-example label-smoothed cross-entropy of shifted logits, fused backward.

    The logits are ``z = scale * x + bias`` with the true logit further lowered
    by ``margin`` (one value per example). Only ``p = softmax(z)`` without the
    margin is materialised. Lowering the true logit by ``m`` multiplies the
    partition function by ``D = (1 - p_t) + p_t * exp(-m)``, where ``1 - p_t``
    is the sum of the other probabilities, so nothing cancels as ``p_t -> 1``;
    the cross-entropy becomes ``log(1 + (1 - p_t) / p_t * exp(m))``. The
    shifted probabilities are ``p / D`` off the true class and
    ``p_t * exp(-m) / D`` on it, and the gradient is
    ``scale * (p' - (1 - eps) * onehot - eps / C)``: one multiplication.
    """

    @staticmethod
    def forward(ctx, logits, target, smoothing, scale, bias, margin):
        logits = logits.contiguous()  # row-wise indexing needs the standard layout
        n_classes = logits.shape[1]
        positions = row_positions(target, n_classes)
        p, z_max, log_p_max, z_sum = shifted_softmax_parts(logits, scale, bias,
                                                           with_sum=bool(smoothing))
        z_t = take(logits, positions)  # the same operations as for z, on the true logits
        if scale != 1.0:
            z_t = z_t.mul_(scale)
        if bias is not None:
            z_t = z_t.add_(bias[target])
        row_scale = p_t_minus_one = None
        if margin is None:
            loss = (z_max - z_t).sub_(log_p_max)  # -log p_t
        else:
            p_t, others = pop_(p, positions)  # p keeps a zero in the true column
            log_p_t = (z_t - z_max).add_(log_p_max)
            loss = torch.logaddexp(torch.log(others).sub_(log_p_t).add_(margin), p.new_zeros(()))
            row_scale = torch.exp(-margin).mul_(p_t).add_(others).reciprocal_()  # 1 / D
            p_t_minus_one = others.neg_().mul_(row_scale)  # p'_t - 1 = -(1 - p_t) / D
        if smoothing:  # + eps * (z'_t - mean(z')), z' with the margin
            shift = z_t - z_sum.div_(n_classes)
            if margin is not None:
                shift -= margin * (1.0 - 1.0 / n_classes)
            loss = loss.add_(shift, alpha=smoothing)
        ctx.smoothing, ctx.scale = smoothing, scale
        ctx.save_for_backward(p, positions, p_t_minus_one, row_scale)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        p, positions, p_t_minus_one, row_scale = ctx.saved_tensors
        smoothing = ctx.smoothing
        n_classes = p.shape[1]
        coef = grad_loss * ctx.scale if ctx.scale != 1.0 else grad_loss
        grad = torch.mul(p, (coef if row_scale is None else coef * row_scale).unsqueeze(1))
        if smoothing:
            grad.sub_((coef * (smoothing / n_classes)).unsqueeze(1))
        if p_t_minus_one is None:  # true column holds p_t * coef (- eps / C * coef)
            add_(grad, positions, coef * (smoothing - 1.0))
        else:  # true column holds zero: write p'_t - (1 - eps) - eps / C exactly
            true_grad = p_t_minus_one + smoothing * (1.0 - 1.0 / n_classes)
            put_(grad, positions, true_grad.mul_(coef))
        return grad, None, None, None, None, None


def softmax_cross_entropy(logits, target, *, smoothing=0.0, scale=1.0, bias=None, margin=None):
    """Per-example loss of :class:`_SoftmaxCrossEntropy` for validated inputs.

    ``bias`` has shape ``(n_classes,)`` and ``margin`` shape ``(n_samples,)``;
    both are constants (no gradient).
    """
    return _SoftmaxCrossEntropy.apply(logits, target, smoothing, scale, bias, margin)


def cross_entropy_loss(
    logits, target, *, weight=None, sample_weight=None, label_smoothing=0.0, reduction="mean"
):
    r"""Weighted, label-smoothed softmax cross-entropy.

    With :math:`p = \mathrm{softmax}(x_i)`, :math:`C` classes and smoothing
    :math:`\varepsilon`, the loss of example :math:`i` is

    .. math::

        \ell_i = -(1 - \varepsilon) \log p_{y_i} - \frac{\varepsilon}{C} \sum_{c=1}^{C} \log p_c

    and the reduction is the weighted mean
    :math:`\sum_i w_i \ell_i / \sum_i w_i` with
    :math:`w_i = \mathrm{weight}_{y_i} \cdot \mathrm{sample\_weight}_i`.

    Parameters
    ----------
    logits : torch.Tensor of shape (n_samples, n_classes)
        Raw, unnormalised scores.
    target : torch.Tensor of shape (n_samples,)
        Integer class indices in ``[0, n_classes)``.
    weight : torch.Tensor of shape (n_classes,), default=None
        Per-class weights.
    sample_weight : torch.Tensor of shape (n_samples,), default=None
        Per-example weights, multiplied with the class weight of the example.
    label_smoothing : float, default=0.0
        Smoothing :math:`\varepsilon \in [0, 1]`.
    reduction : {"mean", "sum", "none"}, default="mean"
        How per-example losses are combined (see :mod:`sklimb.losses`).

    Returns
    -------
    loss : torch.Tensor
        A scalar, or a vector of shape ``(n_samples,)`` for ``reduction="none"``.

    Notes
    -----
    **Weighting convention for the smoothed part.** The class weight of the
    *target* class multiplies the whole smoothed loss of the example, so a
    class weight means exactly "count this example :math:`w` times", the same
    as resampling. PyTorch's ``cross_entropy(weight=..., label_smoothing=...)``
    instead weights each class's term of the smoothing sum by its own class
    weight; both agree when the weights are uniform or
    ``label_smoothing=0``.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import cross_entropy_loss
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    >>> target = torch.tensor([0, 1])
    >>> round(float(cross_entropy_loss(logits, target, weight=torch.tensor([1.0, 3.0]))), 4)
    0.2667
    """
    reduction = check_reduction(reduction)
    label_smoothing = check_number("label_smoothing", label_smoothing, low=0.0, high=1.0,
                                   high_closed=True)
    logits, target, _, weights = prepare(logits, target, sample_weight, weight)
    if weights is None:
        return F.cross_entropy(logits, target, reduction=reduction,
                               label_smoothing=label_smoothing)
    # PyTorch's weighted CE follows the same reduction rule; this path makes two
    # (n_samples, n_classes) tensors instead of three and fewer passes over them
    loss = softmax_cross_entropy(logits, target, smoothing=label_smoothing)
    return reduce_loss(loss, weights, reduction)


class CrossEntropyLoss(ImbalanceLoss):
    """Weighted, label-smoothed cross-entropy as an ``nn.Module``.

    See :func:`cross_entropy_loss` for the formula and the weighting convention.

    Parameters
    ----------
    weight : array-like of shape (n_classes,), default=None
        Per-class weights, stored as a buffer.
    label_smoothing : float, default=0.0
        Smoothing :math:`\\varepsilon \\in [0, 1]`.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction of the per-example losses.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import CrossEntropyLoss
    >>> loss = CrossEntropyLoss(weight=[1.0, 3.0], label_smoothing=0.1)
    >>> loss(torch.zeros(4, 2), torch.tensor([0, 1, 1, 0])).shape
    torch.Size([])
    """

    def __init__(self, weight=None, label_smoothing=0.0, reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)
        self.label_smoothing = check_number(
            "label_smoothing", label_smoothing, low=0.0, high=1.0, high_closed=True
        )

    def forward(self, logits, target, sample_weight=None):
        return cross_entropy_loss(
            logits, target, weight=self.weight, sample_weight=sample_weight,
            label_smoothing=self.label_smoothing, reduction=self.reduction,
        )

    def extra_repr(self):
        return f"label_smoothing={self.label_smoothing}, {super().extra_repr()}"


__all__ = ["CrossEntropyLoss", "cross_entropy_loss"]
