"""Gradient harmonizing mechanism for classification, GHM-C (Li et al., AAAI 2019)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ._base import ImbalanceLoss, check_int, check_number, check_reduction, prepare, reduce_loss
from ._rows import put_, row_blocks, row_positions, take


def _index_dtype(bins, device):
    """Integer type of the bin indices ``0..bins``; 8 or 16 bits make ``bincount`` faster."""
    if device.type == "cpu":
        if bins < torch.iinfo(torch.int8).max:
            return torch.int8
        if bins < torch.iinfo(torch.int16).max:
            return torch.int16
    return torch.int32


def _gradient_density(idx, bins, running_density, momentum, update, dtype):
    """Histogram density of the bin indices and the number of non-empty bins.

    Returns ``(density, n_nonempty)``; ``density`` is the exponential moving
    average when ``running_density`` is given (updated in place if ``update``).
    """
    flat = idx.view(-1)
    if flat.device.type == "cpu":
        counts = torch.bincount(flat, minlength=bins + 1)
    else:  # index_add_ does not synchronise with the host, bincount does
        ones = torch.ones((), dtype=dtype, device=flat.device).expand(flat.numel())
        counts = torch.zeros(bins + 1, dtype=dtype, device=flat.device).index_add_(0, flat, ones)
    counts = counts.to(dtype)
    counts[bins - 1] += counts[bins]  # g == 1 belongs to the last bin
    counts = counts[:bins]
    density = counts / flat.numel()
    n_nonempty = (counts > 0).sum()
    if running_density is not None and momentum > 0.0:
        fresh = running_density.sum() <= 0  # an all-zero state has never been updated
        ema = torch.where(fresh, density,
                          momentum * running_density.to(density) + (1.0 - momentum) * density)
        if update:
            running_density.copy_(ema)
        density = ema
    return density, n_nonempty


def _signed_norms_and_bins(logits, bins, blocks, local, g, x_t):
    """Fill ``g`` with the gradient norms and return their bins, block by block.

    ``g = sigmoid(a)`` is computed on the logits with the true column
    recomputed from ``-x_t``; once a block's bins ``floor(g * bins)`` are taken
    (``g == 1`` lands in bin ``bins``, folded into the last bin by
    :func:`_gradient_density`), its true entries are negated: ``d a / d x = -1``
    there, so ``g`` becomes ``d BCE / d x``. The true logits are read into
    ``x_t`` while their block is in cache.
    """
    idx = torch.empty(g.shape, dtype=_index_dtype(bins, g.device), device=g.device)
    scratch = g.new_empty(blocks[0][1], g.shape[1])
    for (start, stop), positions in zip(blocks, local, strict=True):
        g_block = torch.sigmoid(logits[start:stop], out=g[start:stop])
        x_t_block = take(logits[start:stop], positions)
        x_t[start:stop] = x_t_block
        g_t = torch.sigmoid(x_t_block.neg_())
        put_(g_block, positions, g_t)
        idx[start:stop].copy_(torch.mul(g_block, bins, out=scratch[:stop - start]))
        put_(g_block, positions, g_t.neg_())
    return idx


def _weighted_bce(logits, x_t, idx, bin_weight, blocks, local, g):
    """Per-example mean of ``w * BCE``; multiplies ``g`` by ``w`` in place, block by block."""
    n_classes = logits.shape[1]
    bce_t = F.softplus(-x_t)
    loss = logits.new_empty(logits.shape[0])
    weights = logits.new_empty(blocks[0][1], n_classes)
    bce_buffer = torch.empty_like(weights)
    indices = idx if idx.dtype == torch.int32 else \
        torch.empty(weights.shape, dtype=torch.int32, device=idx.device)
    for (start, stop), positions in zip(blocks, local, strict=True):
        rows = stop - start
        # index_select takes int32 or int64 indices
        block_idx = idx[start:stop] if indices is idx else indices[:rows].copy_(idx[start:stop])
        w = torch.index_select(bin_weight, 0, block_idx.view(-1),
                               out=weights[:rows].view(-1)).view(rows, n_classes)
        bce = F.softplus(logits[start:stop], out=bce_buffer[:rows])  # the ATen op, takes out=
        put_(bce, positions, bce_t[start:stop])
        torch.mean(bce.mul_(w), dim=1, out=loss[start:stop])
        g[start:stop].mul_(w)
    return loss


class _GHMTerm(torch.autograd.Function):
    """Per-example mean over classes of GHM-weighted BCE, with a fused backward.

    The BCE of a logit is ``softplus(a)`` (see :mod:`._one_vs_rest`), its
    gradient norm ``g = sigmoid(a)`` and ``d softplus(a) / da = g``. Both are
    computed on the logits themselves, with only the true column recomputed
    from ``-x_t``, so no flipped copy of the logits is made. The harmonizing
    weights are constants of the backward pass, as in the paper; the forward
    saves ``w * dBCE/dx``, the whole gradient up to the per-example factor.
    Besides that tensor and the small-integer bin indices, the forward needs
    only block-sized buffers (see :func:`._rows.row_blocks`).
    """

    @staticmethod
    def forward(ctx, logits, target, bins, running_density, momentum, update):
        logits = logits.contiguous()  # row-wise indexing needs the standard layout
        n_rows, n_classes = logits.shape
        blocks = row_blocks(n_rows, n_classes, logits.device)
        positions = row_positions(target, n_classes)
        local = [positions[start:stop] - start * n_classes for start, stop in blocks]
        g, x_t = torch.empty_like(logits), logits.new_empty(n_rows)
        idx = _signed_norms_and_bins(logits, bins, blocks, local, g, x_t)
        density, n_nonempty = _gradient_density(idx, bins, running_density, momentum, update,
                                                g.dtype)
        bin_weight = (density * n_nonempty).reciprocal_()
        bin_weight = torch.cat([bin_weight, bin_weight[-1:]])  # the extra bin of g == 1
        loss = _weighted_bce(logits, x_t, idx, bin_weight, blocks, local, g)
        ctx.save_for_backward(g)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        (gw,) = ctx.saved_tensors
        grad = gw * (grad_loss / gw.shape[1]).unsqueeze(1)
        return grad, None, None, None, None, None


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

    so that the plain mean over examples is the paper's
    :math:`\frac{1}{M}\sum \beta \, \mathrm{BCE}`. Class and sample weights then
    enter through the weighted mean. With ``momentum`` :math:`\mu > 0`, the bin
    density :math:`R / M` is replaced by its exponential moving average
    :math:`\rho \leftarrow \mu \rho + (1 - \mu) R / M` across batches (the
    paper's EMA, kept as a density so a small last batch does not change the
    scale of the weights). Weights are constants for the gradient.

    Parameters
    ----------
    logits : torch.Tensor of shape (n_samples, n_classes)
        Raw, unnormalised scores.
    target : torch.Tensor of shape (n_samples,)
        Integer class indices.
    bins : int, default=10
        Number of histogram bins, ``>= 1``; ``bins=1`` is plain per-class BCE.
    momentum : float, default=0.0
        EMA momentum in ``[0, 1)``; used only with ``running_density``.
    running_density : torch.Tensor of shape (bins,), default=None
        EMA state; all zeros means "not yet initialised".
    update : bool, default=True
        Whether to update ``running_density`` in place.
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
    logits, target, _, weights = prepare(logits, target, sample_weight, weight)
    loss = _GHMTerm.apply(logits, target, bins, running_density, momentum, update)
    return reduce_loss(loss, weights, reduction)


class GHMCLoss(ImbalanceLoss):
    r"""GHM-C loss as an ``nn.Module``, with the EMA state in a buffer.

    See :func:`ghm_c_loss`. In training mode each forward pass updates the
    ``running_density`` buffer (when ``momentum > 0``); in evaluation mode the
    weights are computed the same way but the buffer is left unchanged.

    Parameters
    ----------
    bins : int, default=10
        Number of gradient-norm bins.
    momentum : float, default=0.75
        EMA momentum of the bin densities, in ``[0, 1)``; ``0`` uses each
        batch's own histogram.
    weight : array-like of shape (n_classes,), default=None
        Per-class weights, stored as a buffer.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction of the per-example losses.

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
        return ghm_c_loss(
            logits, target, bins=self.bins, momentum=self.momentum,
            running_density=self.running_density, update=self.training,
            weight=self.weight, sample_weight=sample_weight, reduction=self.reduction,
        )

    def extra_repr(self):
        return f"bins={self.bins}, momentum={self.momentum}, {super().extra_repr()}"


__all__ = ["GHMCLoss", "ghm_c_loss"]
