"""Multiclass softmax focal loss (Lin et al., 2017)."""

from __future__ import annotations

import numbers

import numpy as np
import torch

from ._base import (
    ImbalanceLoss,
    add_log_shifts,
    as_class_vector,
    check_number,
    check_reduction,
    compute_loss,
    log_or_none,
    on_device_of,
    times_weight,
    true_class_log_probs,
)


def focal_rows(logits, target, gamma=2.0):
    r"""Per-example focal loss :math:`-(1 - p_t)^\gamma \log p_t`, the power taken as
    :math:`\exp(\gamma \log(1 - p_t))`: finite with its gradient for every
    :math:`\gamma \ge 0`, also where that of :math:`u^\gamma` is not (:math:`\gamma < 1`)."""
    log_pt, log_u = true_class_log_probs(logits, target)
    if gamma == 0.0:
        return log_pt.neg()
    return torch.exp(gamma * log_u) * log_pt.neg()


def check_alpha(alpha):
    """``alpha`` as a float in [0, 1] (the binary RetinaNet form) or a class vector."""
    if alpha is None:
        return None
    if isinstance(alpha, numbers.Real) or (np.ndim(alpha) == 0 and not isinstance(alpha, str)):
        return check_number("alpha", float(alpha), low=0.0, high=1.0, high_closed=True)
    return as_class_vector("alpha", alpha)


def alpha_weights(alpha, logits):
    """Per-class alpha on the logits' device: a vector as it is, a scalar ``a`` as
    ``[1 - a, a]`` (binary problems only)."""
    if not isinstance(alpha, torch.Tensor) or alpha.ndim == 0:
        n_classes = logits.shape[-1] if isinstance(logits, torch.Tensor) else None
        if n_classes != 2:
            raise ValueError(
                f"a scalar alpha={float(alpha)} weights the positive class of a binary problem "
                f"(alpha for class 1, 1 - alpha for class 0), but logits have {n_classes} "
                "classes; pass one alpha per class instead.")
        alpha = torch.tensor([1.0 - float(alpha), float(alpha)], device=getattr(
            logits, "device", None))
    return alpha


def _focal(logits, target, gamma, alpha, weight, sample_weight, reduction):
    if alpha is not None:
        weight = times_weight(alpha_weights(alpha, logits), weight, "alpha")
    return compute_loss(lambda x, t: focal_rows(x, t, gamma), logits, target, weight,
                        sample_weight, reduction, compiled="focal_loop", params=(gamma,))


def focal_loss(logits, target, *, gamma=2.0, alpha=None, weight=None, sample_weight=None,
               reduction="mean"):
    r"""Multiclass focal loss, computed in log space.

    With :math:`p = \mathrm{softmax}(x_i)` and :math:`p_t = p_{y_i}`,

    .. math::

        \ell_i = -(1 - p_t)^{\gamma} \log p_t,

    reduced with the weighted mean :math:`\sum_i w_i \ell_i / \sum_i w_i`,
    :math:`w_i = \alpha_{y_i} \cdot \mathrm{weight}_{y_i} \cdot \mathrm{sample\_weight}_i`.
    :math:`\log p_t` and :math:`\log(1 - p_t)` are both log-sum-exp
    differences, so neither underflows nor cancels; ``gamma=0`` is cross-entropy.

    Parameters
    ----------
    logits, target : torch.Tensor
        Raw scores of shape ``(n_samples, n_classes)`` and integer class indices of
        shape ``(n_samples,)``.
    gamma : float, default=2.0
        Focusing parameter :math:`\gamma \ge 0`.
    alpha : float or array-like of shape (n_classes,), default=None
        Per-class weights :math:`\alpha_c`. A scalar is the RetinaNet form and
        needs a binary problem: class 1 gets ``alpha``, class 0 ``1 - alpha``.
    weight, sample_weight : array-like, default=None
        Per-class and per-example weights (see :mod:`sklimb.losses`), ``weight`` times ``alpha``.
    reduction : {"mean", "sum", "none"}, default="mean"
        The loss is a scalar, or has shape ``(n_samples,)`` for ``"none"``.

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
    alpha = alpha if isinstance(alpha, torch.Tensor) and alpha.ndim == 1 else check_alpha(alpha)
    if isinstance(alpha, torch.Tensor):
        alpha = on_device_of(logits, alpha)
    return _focal(logits, target, gamma, alpha, weight, sample_weight, reduction)


class FocalLoss(ImbalanceLoss):
    r"""Multiclass focal loss as an ``nn.Module``.

    See :func:`focal_loss` for the formula and the parameters; ``alpha`` and
    ``weight`` are buffers.

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
        alpha = check_alpha(alpha)
        self.register_buffer(
            "alpha", None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32))

    def class_log_shift(self):
        """``log(weight) + log(alpha)`` (see :meth:`ImbalanceLoss.class_log_shift`)."""
        alpha = self.alpha
        if alpha is not None and alpha.ndim == 0:  # binary RetinaNet form
            alpha = torch.stack([1.0 - alpha, alpha])
        return add_log_shifts(super().class_log_shift(), log_or_none(alpha))

    def forward(self, logits, target, sample_weight=None):
        return _focal(logits, target, self.gamma, self.alpha, self.weight, sample_weight,
                      self.reduction)

    def extra_repr(self):
        return f"gamma={self.gamma}, {super().extra_repr()}"


__all__ = ["FocalLoss", "focal_loss"]
