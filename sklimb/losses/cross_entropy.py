"""Cross-entropy with class weights, sample weights and label smoothing."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._base import (
    ImbalanceLoss,
    check_logits_target,
    check_number,
    check_reduction,
    module_example_weights,
    per_example,
    prepare,
    raise_for_targets,
    run_loss,
)
from ._compiled import CROSS_ENTROPY, PerClass, address, compiled_for, register
from ._fused import reduce_rows
from ._many_classes import softmax_loss_in_loops
from ._softmax import TRANSPOSE_MAX_CLASSES, SoftmaxStats, row, to_logits, working_copy


def softmax_ce_kernel(logits, target, smoothing, scale, bias, bias_scale, margins, weights,
                      reduction, *, with_grad):
    """Label-smoothed CE of ``scale * logits + bias_scale * bias``, ``scale * margins[y]`` off
    the true logit.

    Returns ``(value, gradient)`` for :class:`._fused.ValueAndGrad`. With
    ``z = scale * x + bias_scale * bias - scale * margins[y] * onehot``, the
    per-example loss is ``-(1 - eps) log p_t - eps / C * sum_c log p_c`` of
    ``p = softmax(z)``, and its gradient ``scale * (p - (1 - eps) onehot - eps / C)``,
    whose true entry is written as ``-(u - eps (1 - 1/C))`` with ``u = 1 - p_t``
    summed from the other probabilities (see :mod:`._softmax`). ``bias`` and
    ``margins`` are per-class (or ``None``).
    """
    if bias is not None and bias_scale != 1.0:
        bias = bias * bias_scale
    n_classes = logits.shape[1]
    if with_grad:  # with many classes, compiled passes around PyTorch's softmax
        in_loops = softmax_loss_in_loops(logits, target, CROSS_ENTROPY, smoothing, 0.0, weights,
                                         reduction, scale=scale, bias=bias, margins=margins)
        if in_loops is not None:
            return in_loops
    margin = None if margins is None else per_example(margins, target).mul_(scale)
    z, dim = working_copy(logits, scale, bias, writable=margin is not None)
    stats = SoftmaxStats(z, dim, target, margin, with_p=with_grad, with_log_sum=bool(smoothing),
                         owned=z is not logits)
    loss = stats.log_pt.neg()
    if smoothing:
        loss = torch.add(loss.mul_(1.0 - smoothing), stats.log_p_sum,
                         alpha=-smoothing / n_classes)
    value, row_scale = reduce_rows(loss, weights, reduction)
    if not with_grad:
        return value, None
    coef = row_scale * scale
    true_value = stats.u.neg() if not smoothing else \
        stats.u.sub(smoothing * (1.0 - 1.0 / n_classes)).neg_()
    grad = stats.p.mul_(row(coef, dim))
    if smoothing:
        grad.sub_(row(coef * (smoothing / n_classes), dim))
    grad.scatter_(dim, stats.t0, (true_value * coef).unsqueeze(dim))
    return value, to_logits(grad, dim)


register(softmax_ce_kernel, "softmax_entry",
         lambda args, dtype: (CROSS_ENTROPY, float(args[0]), 0.0, float(args[1]),
                              address(args[2], dtype), float(args[3]), address(args[4], dtype)))


def softmax_cross_entropy(logits, target, weights, reduction, *, smoothing=0.0, scale=1.0,
                          bias=None, bias_scale=1.0, margins=None):
    """Reduced loss of :func:`softmax_ce_kernel` for validated inputs.

    ``bias`` and ``margins`` have shape ``(n_classes,)`` and the logits' dtype and
    ``weights`` are example weights (a tensor of shape ``(n_samples,)``, a
    :class:`._compiled.PerClass` or ``None``); all are constants (no gradient).
    The route is decided here, for every softmax cross-entropy of the package
    (plain, weighted, smoothed, class-balanced, logit-adjusted, LDAM): the compiled
    loop where it runs (at the batch sizes it covers it is cheaper than
    ``F.cross_entropy`` itself, weighted or not), else PyTorch's own cross-entropy
    where :func:`native_route` finds it the same loss and cheaper
    (:func:`shifted_cross_entropy`), else one autograd node.
    """
    chosen = compiled_for(softmax_ce_kernel, logits)
    if chosen is softmax_ce_kernel:
        if not smoothing and native_route(logits, weights, margins):
            if bias is not None and bias_scale != 1.0:
                bias = bias * bias_scale
            return _checked(logits, target, shifted_cross_entropy, logits, target,
                            None if weights is None else weights.weight, reduction,
                            scale=scale, bias=bias, margins=margins)
    else:  # the loop reads them through their addresses
        if bias is not None:
            bias = bias.contiguous()
        if margins is not None:
            margins = margins.contiguous()
    return run_loss(logits, target, softmax_ce_kernel, smoothing, scale, bias, bias_scale,
                    margins, weights, reduction, chosen=chosen)


#: at most this many logits (``n_samples * n_classes``), a shifted cross-entropy is composed
#: from PyTorch's own operations (see :func:`shifted_cross_entropy`)
NATIVE_MAX_ELEMENTS = 8192


def native_route(logits, weights, margins=None):
    """Whether :func:`shifted_cross_entropy` is cheaper than :func:`softmax_ce_kernel` (asked
    where the kernel's compiled twin, cheaper than either, does not run).

    At batch sizes of a few thousand logits a loss costs per-operation overhead; there a
    shift of the logits (one operation) followed by PyTorch's fused cross-entropy costs
    fewer operations than :func:`softmax_ce_kernel`. Above that, the kernel's transposed
    working copy is faster for a few classes; with many (no transposition) the native
    route's one extra pass over the logits (the shift) cost less than the PyTorch
    kernel's passes when this rule was measured, before the kernel's compiled passes
    (:mod:`._many_classes`), which were not compared with it. The exception is a scaled
    shift with ``margins`` (LDAM): there the kernel's working
    copy takes the scale and the margins and is then overwritten by ``log p`` and the
    gradient, one large tensor where the native route allocates five (each a few
    thousand page faults on a large batch). Sample weights (``weights`` other than
    ``None`` or per-class) keep the kernel, and so do class weights that are not all
    positive on the CPU: PyTorch's weighted mean is 0/0 when no example of a batch has
    weight, where sklimb's is 0.
    """
    if weights is not None and type(weights) is not PerClass:
        return False
    small = logits.numel() <= NATIVE_MAX_ELEMENTS
    if not small and (margins is not None or logits.shape[1] <= TRANSPOSE_MAX_CLASSES):
        return False
    return weights is None or positive_on_cpu(weights.weight)


def positive_on_cpu(weight):
    """Whether ``weight`` is on the CPU with every entry ``> 0``, so that PyTorch's weighted
    mean cannot be 0/0 (read from a list: a tensor comparison costs more for a few
    classes). Elsewhere reading the values would synchronise with the host."""
    return weight.device.type == "cpu" and min(weight.tolist()) > 0


def shifted_cross_entropy(logits, target, weight, reduction, *, scale=1.0, bias=None,
                          margins=None):
    """Cross-entropy of ``scale * logits + bias - scale * margins[y] * onehot(y)``, natively.

    The same loss as :func:`softmax_cross_entropy` with class weights ``weight``
    (``None`` or all positive) and no sample weights or smoothing, built from
    differentiable PyTorch operations: the shift is one addition, after which
    ``F.cross_entropy`` does the rest. ``bias`` and ``margins`` are per-class
    constants of shape ``(n_classes,)``.
    """
    if bias is not None:
        z = torch.add(bias, logits, alpha=scale)
    elif scale != 1.0 or margins is not None:
        z = torch.mul(logits, scale)  # a new tensor, which the margins may change
    else:
        z = logits
    if margins is not None:  # only the true logit of each row moves: n entries, not n * C
        column = target.unsqueeze(1)
        z.scatter_add_(1, column, margins.index_select(0, target).mul_(-scale).unsqueeze(1))
    if weight is not None:
        weight = weight.to(logits.dtype)
    return F.cross_entropy(z, target, weight=weight, reduction=reduction)


def _checked(logits, target, function, *args, **kwargs):
    """``function(*args, **kwargs)``, with the clear error for targets out of range."""
    try:
        return function(*args, **kwargs)
    except (IndexError, RuntimeError):
        if target.device.type == "cpu":
            raise_for_targets(target, logits.shape[1])
        raise


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
    return softmax_cross_entropy(logits, target, weights, reduction, smoothing=label_smoothing)


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

    def _compute(self, logits, target, sample_weight):
        logits, target = check_logits_target(logits, target)
        weights = module_example_weights(logits, target, self._buffers["weight"], sample_weight)
        return softmax_cross_entropy(logits, target, weights, self.reduction,
                                     smoothing=self.label_smoothing)

    def extra_repr(self):
        return f"label_smoothing={self.label_smoothing}, {super().extra_repr()}"


__all__ = ["CrossEntropyLoss", "cross_entropy_loss"]
