"""Cross-entropy with class weights, sample weights and label smoothing."""

from __future__ import annotations

import torch.nn.functional as F

from ._base import (
    ImbalanceLoss,
    check_number,
    check_per_class,
    check_reduction,
    compute_loss,
)


def cross_entropy_rows(logits, target, label_smoothing=0.0, scale=1.0, bias=None, margins=None):
    """Per-example label-smoothed cross-entropy of ``z = scale * logits + bias - scale *
    margins[target] * onehot(target)`` (per-class ``bias`` and ``margins`` or ``None``:
    the losses of :mod:`.long_tail` are cross-entropies of shifted logits)."""
    z = logits if scale == 1.0 else logits * scale
    if bias is not None:
        z = z + bias.to(z.dtype)
    if margins is not None:
        column = target.unsqueeze(1)
        shift = margins.to(z.dtype).index_select(0, target).unsqueeze(1) * scale
        z = z.scatter_add(1, column, -shift)
    return F.cross_entropy(z, target, reduction="none", label_smoothing=label_smoothing)


def softmax_cross_entropy(logits, target, weight, sample_weight, reduction, *,
                          label_smoothing=0.0, bias=None):
    """The reduced :func:`cross_entropy_rows` of ``logits + bias``: PyTorch's fused
    cross-entropy and at most one addition, with no compiled twin (it would cost as much)."""
    check_per_class("class_counts", bias, logits)
    return compute_loss(lambda x, t: cross_entropy_rows(x, t, label_smoothing, bias=bias),
                        logits, target, weight, sample_weight, reduction)


def cross_entropy_loss(logits, target, *, weight=None, sample_weight=None, label_smoothing=0.0,
                       reduction="mean"):
    r"""Weighted, label-smoothed softmax cross-entropy.

    With :math:`p = \mathrm{softmax}(x_i)`, :math:`C` classes and smoothing
    :math:`\varepsilon`, the loss of example :math:`i` is

    .. math::

        \ell_i = -(1 - \varepsilon) \log p_{y_i} - \frac{\varepsilon}{C} \sum_{c=1}^{C} \log p_c

    and the reduction is the weighted mean :math:`\sum_i w_i \ell_i / \sum_i w_i`
    with :math:`w_i = \mathrm{weight}_{y_i} \cdot \mathrm{sample\_weight}_i`.

    Parameters
    ----------
    logits, target : torch.Tensor
        Raw scores of shape ``(n_samples, n_classes)`` and integer class indices of
        shape ``(n_samples,)``.
    weight, sample_weight : array-like, default=None
        Per-class and per-example weights (see :mod:`sklimb.losses`).
    label_smoothing : float, default=0.0
        Smoothing :math:`\varepsilon \in [0, 1]`.
    reduction : {"mean", "sum", "none"}, default="mean"
        The loss is a scalar, or has shape ``(n_samples,)`` for ``"none"``.

    Notes
    -----
    The class weight of the *target* class multiplies the whole smoothed loss of
    the example, so a class weight means exactly "count this example :math:`w`
    times", the same as resampling. PyTorch's ``cross_entropy(weight=...,
    label_smoothing=...)`` instead weights each class's term of the smoothing sum
    by its own class weight; the two agree when the weights are uniform or
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
    return softmax_cross_entropy(logits, target, weight, sample_weight, reduction,
                                 label_smoothing=label_smoothing)


class CrossEntropyLoss(ImbalanceLoss):
    """Weighted, label-smoothed cross-entropy as an ``nn.Module``.

    See :func:`cross_entropy_loss` for the formula, the parameters and the
    weighting convention.

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
        self.label_smoothing = check_number("label_smoothing", label_smoothing, low=0.0,
                                            high=1.0, high_closed=True)

    def forward(self, logits, target, sample_weight=None):
        return softmax_cross_entropy(logits, target, self.weight, sample_weight, self.reduction,
                                     label_smoothing=self.label_smoothing)

    def extra_repr(self):
        return f"label_smoothing={self.label_smoothing}, {super().extra_repr()}"


__all__ = ["CrossEntropyLoss", "cross_entropy_loss"]
