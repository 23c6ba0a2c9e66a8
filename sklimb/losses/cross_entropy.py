"""Cross-entropy with class weights, sample weights and label smoothing."""

from __future__ import annotations

import torch.nn.functional as F

from ._base import ImbalanceLoss, check_number, check_reduction, prepare, reduce_loss


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
    logits, target, weight, weights = prepare(logits, target, sample_weight, weight)
    if weights is None:
        return F.cross_entropy(logits, target, reduction=reduction,
                               label_smoothing=label_smoothing)
    if sample_weight is None and label_smoothing == 0.0:
        # PyTorch's weighted CE uses the same reduction rule; one fused kernel
        return F.cross_entropy(logits, target, weight=weight, reduction=reduction)
    loss = F.cross_entropy(logits, target, reduction="none", label_smoothing=label_smoothing)
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
