"""Gradient harmonizing mechanism for classification, GHM-C (Li et al., AAAI 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._base import (
    ImbalanceLoss,
    check_int,
    check_number,
    check_reduction,
    compute_loss,
    one_vs_rest_margins,
)


def harmonizing_weights(g, bins, running_density=None, momentum=0.0, update=False):
    """The harmonizing weight of every gradient norm in ``g``: ``1 / (rho * n)`` for a norm
    in a bin of density ``rho`` (of ``bins`` equal-width bins; 1 falls in the last, NaN in
    the first) with ``n`` non-empty bins. With ``running_density`` and ``momentum > 0``,
    ``rho`` is its moving average (an all-zero state takes the batch's density), written
    back when ``update``."""
    if running_density is not None and running_density.device != g.device:
        raise ValueError(f"running_density is on {running_density.device} but logits are on "
                         f"{g.device}; move the loss to the logits' device.")
    index = (g * bins).long().clamp_(0, bins - 1)
    counts = torch.bincount(index.view(-1), minlength=bins).to(g.dtype)
    density = counts / index.numel()
    n_nonempty = (counts > 0).sum()
    if running_density is not None and momentum > 0.0:
        state = running_density.to(density)
        density = torch.where(state.sum() > 0, momentum * state + (1.0 - momentum) * density,
                              density)
        if update:
            with torch.no_grad():
                running_density.copy_(density)
    return (density * n_nonempty).reciprocal()[index]


def ghm_rows(logits, target, bins=10, running_density=None, momentum=0.0, update=False):
    """Per-example mean over the classes of the GHM-weighted one-vs-rest BCE ``softplus(a)``
    (``a``: the logits, true entries negated), whose gradient norm is ``sigmoid(a)``; the
    weights are constants of the gradient, as in the paper."""
    a = one_vs_rest_margins(logits, target)
    with torch.no_grad():
        beta = harmonizing_weights(torch.sigmoid(a), bins, running_density, momentum, update)
    return (F.softplus(a) * beta).sum(1) / logits.shape[1]


def _ghm(logits, target, bins, running_density, momentum, update, weight, sample_weight,
         reduction):
    state = running_density if momentum > 0.0 else None

    def rows(x, t, state=None):
        return ghm_rows(x, t, bins, state, momentum, update)

    return compute_loss(rows, logits, target, weight, sample_weight, reduction,
                        compiled="ghm_loop", params=(bins, momentum, update), state=state)


def ghm_c_loss(
    logits, target, *, bins=10, momentum=0.0, running_density=None, update=True,
    weight=None, sample_weight=None, reduction="mean",
):
    r"""GHM-C loss: binary cross-entropy per logit, re-weighted by gradient density.

    Each logit :math:`x_{ic}` with one-hot label :math:`y_{ic}` has gradient
    norm :math:`g_{ic} = |\sigma(x_{ic}) - y_{ic}|`. The :math:`M = NC` norms
    of the batch are counted in ``bins`` equal-width bins of ``[0, 1]``; a logit
    in a bin holding :math:`R` of them, with :math:`n` non-empty bins, gets the
    harmonizing weight :math:`\beta_{ic} = M / (R \, n)`, and

    .. math::

        \ell_i = \frac{1}{C} \sum_{c} \beta_{ic}\, \mathrm{BCE}(x_{ic}, y_{ic}),

    whose plain mean is the paper's :math:`\frac{1}{M}\sum \beta \, \mathrm{BCE}`; the
    weights are constants for the gradient. With ``momentum`` :math:`\mu > 0` the bin
    density :math:`R / M` is its moving average :math:`\rho \leftarrow \mu \rho +
    (1 - \mu) R / M` (kept as a density, so a small last batch keeps the scale).

    Parameters
    ----------
    logits, target : torch.Tensor
        Raw scores of shape ``(n_samples, n_classes)`` and integer class indices of
        shape ``(n_samples,)``.
    bins : int, default=10
        Number of histogram bins, ``>= 1``; ``bins=1`` is plain per-class BCE.
    momentum : float, default=0.0
        EMA momentum in ``[0, 1)``; used only with ``running_density``.
    running_density : torch.Tensor of shape (bins,), default=None
        EMA state (all zeros: not yet initialised), updated in place if ``update``.
    update : bool, default=True
    weight, sample_weight : array-like, default=None
        Per-class and per-example weights (see :mod:`sklimb.losses`).
    reduction : {"mean", "sum", "none"}, default="mean"
        The loss is a scalar, or has shape ``(n_samples,)`` for ``"none"``.

    References
    ----------
    .. [1] B. Li, Y. Liu, X. Wang, "Gradient Harmonized Single-stage Detector",
       AAAI 2019.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import ghm_c_loss
    >>> logits = torch.tensor([[4.0, -4.0], [0.0, 0.0], [3.0, -3.0]])
    >>> round(float(ghm_c_loss(logits, torch.tensor([0, 1, 0]), bins=10)), 4)
    0.3633
    """
    reduction = check_reduction(reduction)
    bins = check_int("bins", bins)
    momentum = check_number("momentum", momentum, low=0.0, high=1.0)
    if running_density is not None and running_density.shape != (bins,):
        raise ValueError(f"running_density must have shape ({bins},) for bins={bins}; "
                         f"got {tuple(running_density.shape)}.")
    return _ghm(logits, target, bins, running_density, momentum, update, weight, sample_weight,
                reduction)


class GHMCLoss(ImbalanceLoss):
    r"""GHM-C loss as an ``nn.Module``, with the EMA state in a buffer.

    See :func:`ghm_c_loss`. In training mode each forward pass updates the
    ``running_density`` buffer (when ``momentum > 0``); in evaluation mode the
    weights are computed the same way but the buffer is left unchanged.

    Parameters
    ----------
    bins : int, default=10
    momentum : float, default=0.75
        EMA momentum of the bin densities; ``0`` uses each batch's own histogram.
    weight : array-like of shape (n_classes,), default=None
    reduction : {"mean", "sum", "none"}, default="mean"

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import GHMCLoss
    >>> loss = GHMCLoss(bins=10, momentum=0.75)
    >>> _ = loss(torch.randn(8, 3), torch.tensor([0, 1, 2, 0, 0, 0, 1, 0]))
    >>> bool(loss.running_density.sum() > 0)
    True
    """

    def __init__(self, bins=10, momentum=0.75, weight=None, reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)
        self.bins = check_int("bins", bins)
        self.momentum = check_number("momentum", momentum, low=0.0, high=1.0)
        self.register_buffer("running_density", torch.zeros(self.bins))

    def forward(self, logits, target, sample_weight=None):
        state = self.running_density
        if state.shape != (self.bins,):
            raise ValueError(
                f"running_density has shape {tuple(state.shape)} but bins={self.bins}; after "
                "changing bins, reset the state: loss.running_density = torch.zeros(loss.bins)")
        return _ghm(logits, target, self.bins, state, self.momentum, self.training, self.weight,
                    sample_weight, self.reduction)

    def extra_repr(self):
        return f"bins={self.bins}, momentum={self.momentum}, {super().extra_repr()}"


__all__ = ["GHMCLoss", "ghm_c_loss"]
