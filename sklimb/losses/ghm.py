"""Gradient harmonizing mechanism for classification, GHM-C (Li et al., AAAI 2019)."""

from __future__ import annotations

import torch

from ._base import (
    ImbalanceLoss,
    check_int,
    check_logits_target,
    check_number,
    check_reduction,
    module_example_weights,
    prepare,
    run_loss,
)
from ._compiled import EMPTY, loop_on, reduced_in_loop, register
from ._fused import reduce_rows
from ._softmax import TRANSPOSE_MAX_CLASSES, one_vs_rest, one_vs_rest_in_rows, row, to_logits


def _harmonizing_weights(g, bins, running_density, momentum, update):
    """The harmonizing weight of every gradient norm in ``g``, a tensor shaped like ``g``.

    ``g`` is binned into ``bins`` equal-width bins (``g == 1`` belongs to the
    last); a norm in a bin of density ``rho`` with ``n`` non-empty bins gets
    ``1 / (rho * n)``. ``rho`` is the exponential moving average when
    ``running_density`` is given and ``momentum > 0`` (updated in place if
    ``update``; an all-zero state has never been updated and takes the
    batch's density).
    """
    # int32 indices: half the memory of int64, and on the CPU a large batch's index tensor
    # then stays below the size glibc hands back to the kernel after every call. A norm of
    # exactly 1 gets index ``bins``: rather than a pass over the indices to clamp it, the
    # counts and the weights get one more entry, merged into and copied from the last bin
    scaled = torch.mul(g, bins)
    idx = scaled.to(torch.int32).view(-1)
    if idx.device.type == "cpu":
        counts = torch.bincount(idx, minlength=bins + 1)
    else:  # index_add_ does not synchronise with the host, bincount does
        ones = torch.ones((), dtype=g.dtype, device=g.device).expand(idx.numel())
        counts = torch.zeros(bins + 1, dtype=g.dtype, device=g.device).index_add_(0, idx, ones)
    counts = counts.to(g.dtype)
    counts = torch.cat((counts[:bins - 1], counts[bins - 1:].sum(0, keepdim=True)))
    density = counts / idx.numel()
    n_nonempty = (counts > 0).sum()
    if running_density is not None and momentum > 0.0:
        fresh = running_density.sum() <= 0
        ema = torch.where(fresh, density,
                          momentum * running_density.to(density) + (1.0 - momentum) * density)
        if update:
            running_density.copy_(ema)
        density = ema
    bin_weight = (density * n_nonempty).reciprocal_()
    bin_weight = torch.cat((bin_weight, bin_weight[bins - 1:]))
    # written over ``scaled``, which is no longer needed: on large batches every fresh
    # tensor of g's size costs page faults
    return torch.index_select(bin_weight, 0, idx, out=scaled.view(-1)).view_as(g)


def ghm_kernel(logits, target, bins, running_density, momentum, update, weights, reduction, *,
               with_grad):
    """Per-example mean over classes of GHM-weighted BCE, and its gradient (see :mod:`._fused`).

    With the true entries of the logits negated (``a``, as in
    :func:`.class_balanced.sigmoid_kernel`), the BCE of a logit is
    ``softplus(a)``, its gradient norm ``g = sigmoid(a) = |sigmoid(x) - y|``
    and ``d softplus(a) / d a = g``. The
    harmonizing weights are constants of the gradient, as in the paper.

    Where the compiled loops can run (numba, CPU, float32/float64, and an EMA state they
    can update in place), PyTorch computes ``softplus`` and ``sigmoid`` and
    :func:`._loops.ghm_weigh` does the binning and weighting, the work of about ten
    operations below, in two passes; with many classes it computes the true entries too
    (from the gathered true logits), where :func:`._softmax.one_vs_rest` would scatter
    them. This kernel itself runs where the loop's compiled twin does not: batches above
    its size limit, or no numba.
    """
    weigh = loop_on("ghm_weigh", logits) if _loop_can_update(running_density) else None
    if weigh is not None:  # the binning and weighting passes in a compiled loop
        if logits.shape[1] > TRANSPOSE_MAX_CLASSES:  # the loop computes the true entries too
            bce, g, x_true = one_vs_rest_in_rows(logits, target)
            dim = 1
        else:
            bce, g, _, dim = one_vs_rest(logits, target)
            x_true = None
        state = (EMPTY[torch.float64] if running_density is None or momentum <= 0.0
                 else running_density.numpy())
        dtype = g.dtype
        value = reduced_in_loop(
            weigh, (bce.numpy(), g.numpy(), EMPTY[dtype] if x_true is None else x_true.numpy(),
                    target.contiguous().numpy(), dim, int(bins), state, float(momentum),
                    bool(update), bool(with_grad)),
            weights, reduction, dtype, target.shape[0])
        return value, to_logits(g, dim) if with_grad else None
    bce, g, t0, dim = one_vs_rest(logits, target)
    beta = _harmonizing_weights(g, bins, running_density, momentum, update)
    n_classes = logits.shape[1]
    # the product written over ``bce``: a fresh tensor of this size costs page faults
    loss = bce.mul_(beta).sum(dim).div_(n_classes)
    value, row_scale = reduce_rows(loss, weights, reduction)
    if not with_grad:
        return value, None
    if isinstance(row_scale, float):  # one pass for the product and the scale
        grad = torch.addcmul(g.new_zeros(()), g, beta, value=row_scale / n_classes, out=g)
    else:
        grad = g.mul_(beta).mul_(row(row_scale.div(n_classes), dim))
    grad.scatter_(dim, t0, grad.gather(dim, t0).neg_())
    return value, to_logits(grad, dim)


def _ghm_loop_params(args, dtype):
    # the EMA state is updated in place, through its address; the loop reads its dtype
    # from the bit count (its arguments have the same types for every state)
    state = args[1]
    if state is None:
        return int(args[0]), 0, 0, float(args[2]), bool(args[3])
    return (int(args[0]), state.data_ptr(), _STATE_BITS[state.dtype], float(args[2]),
            bool(args[3]))


def _loop_can_update(state):
    """Whether a loop can update this EMA state in place (a contiguous float32/float64 CPU
    tensor, or ``None``); a half-precision or accelerator state goes to the PyTorch kernel."""
    return state is None or (state.dtype in _STATE_BITS and state.is_cpu
                             and state.is_contiguous())


_STATE_BITS = {torch.float32: 32, torch.float64: 64}


register(ghm_kernel, "ghm_entry", _ghm_loop_params, share=1 / 4,
         accepts=lambda args: _loop_can_update(args[1]))


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
    return run_loss(logits, target, ghm_kernel, bins, running_density, momentum, update,
                    weights, reduction)


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

    def _compute(self, logits, target, sample_weight):
        logits, target = check_logits_target(logits, target)
        buffers = self._buffers
        state = buffers["running_density"]
        if state.shape != (self.bins,):
            raise ValueError(
                f"running_density has shape {tuple(state.shape)} but bins={self.bins}; after "
                "changing bins, reset the state: loss.running_density = torch.zeros(loss.bins)")
        weights = module_example_weights(logits, target, buffers["weight"], sample_weight)
        return run_loss(logits, target, ghm_kernel, self.bins, state,
                        self.momentum, self.training, weights, self.reduction)

    def extra_repr(self):
        return f"bins={self.bins}, momentum={self.momentum}, {super().extra_repr()}"


__all__ = ["GHMCLoss", "ghm_c_loss"]
