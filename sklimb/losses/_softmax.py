"""Softmax statistics of the true class, on a working copy of the logits (see :mod:`._fused`).

The logits ``x`` of shape ``(n, C)`` are copied once into ``z`` (with a
scale, a per-class bias and a per-example margin on the true class applied in
place), on which every kernel then works in place. The copy's layout depends
on the number of classes: with a few classes it is transposed, ``(C, n)``, so
that the softmax and the sums over classes run along the long contiguous
dimension (PyTorch's CPU kernels along a short last dimension are several
times slower); with many classes it keeps the logits' own ``(n, C)`` layout,
where the transposition would cost strided copies of a large tensor in and
out. ``dim`` names the class dimension of the copy, and ``row`` and
``to_logits`` hide the difference from the kernels.

From ``log p = log_softmax(z)`` come ``log p_t`` (exact, as in PyTorch's
cross-entropy) and the probabilities ``p``; the true class's entry of ``p``
is then set to zero and the sums over classes give ``u = 1 - p_t`` as the sum
of the *other* probabilities, without the cancellation of ``1 - p_t`` as
``p_t -> 1``. Gradients of the form ``c * (p - onehot)`` are then ``c * p``
with the true entry written as ``-c * u``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: up to this many classes the working copy is transposed to ``(C, n)``; above, ``(n, C)``
TRANSPOSE_MAX_CLASSES = 16


def working_copy(logits, scale=1.0, bias=None, writable=True):
    """``scale * logits + bias`` as a new contiguous tensor, and its class dimension.

    Returns ``(z, dim)``: ``z`` of shape ``(C, n)`` with ``dim=0`` for at most
    :data:`TRANSPOSE_MAX_CLASSES` classes, else of shape ``(n, C)`` with
    ``dim=1``. With ``writable=False`` the caller promises not to modify ``z``,
    which may then be ``logits`` itself (untransposed, unscaled, no bias),
    saving a copy of a large tensor.
    """
    if logits.shape[1] <= TRANSPOSE_MAX_CLASSES:
        z = logits.t().clone(memory_format=torch.contiguous_format)
        if scale != 1.0:
            z.mul_(scale)
        if bias is not None:
            z.add_(bias.unsqueeze(1))
        return z, 0
    # untransposed: one pass makes the copy and applies the scale and the bias
    if bias is not None:
        return torch.add(bias.to(logits.dtype), logits, alpha=scale), 1
    if scale != 1.0:
        return torch.mul(logits, scale), 1
    if not writable:
        return logits, 1
    return logits.clone(memory_format=torch.contiguous_format), 1


def one_vs_rest(logits, target, with_sigmoid=True):
    """``softplus(a)`` and ``sigmoid(a)`` (or ``None``) for ``a = x`` with the true entries
    negated, in the layout of :func:`working_copy`; returns ``(softplus, sigmoid, t0, dim)``
    with ``t0`` the targets shaped to index the class ``dim``.

    Each function runs on the logits as they are (no negated copy: with many classes that
    is one pass over a large tensor saved) and the ``n`` true entries are then replaced by
    the function of the negated true logits, exactly.
    """
    x, dim = working_copy(logits, writable=False)
    t0 = target.unsqueeze(dim)
    negated = x.gather(dim, t0).neg_()
    softplus = F.softplus(x).scatter_(dim, t0, F.softplus(negated))
    if not with_sigmoid:
        return softplus, None, t0, dim
    return softplus, torch.sigmoid(x).scatter_(dim, t0, torch.sigmoid(negated)), t0, dim


def one_vs_rest_in_rows(logits, target, with_sigmoid=True):
    """For a compiled loop that fixes the true entries row by row (many classes, the
    ``(n, C)`` layout): ``softplus(x)`` and ``sigmoid(x)`` (or ``None``) of the logits as
    they are, with the ``(n,)`` true logits; returns ``(softplus, sigmoid, x_true)``.

    The true logits are gathered here rather than read by the loop, where one cache miss
    per row would stall the pass; :func:`one_vs_rest` instead scatters the true entries,
    two more misses per row.
    """
    x = logits.detach().contiguous()
    x_true = x.gather(1, target.unsqueeze(1)).view(-1)
    return F.softplus(x), torch.sigmoid(x) if with_sigmoid else None, x_true


def row(value, dim):
    """A per-example ``(n,)`` tensor shaped to broadcast against a copy with class ``dim``.

    Numbers pass through unchanged.
    """
    return value.unsqueeze(dim) if isinstance(value, torch.Tensor) else value


def to_logits(tensor, dim):
    """A tensor of the working copy's layout as an ``(n, C)`` tensor (a view when transposed)."""
    return tensor.t() if dim == 0 else tensor


class SoftmaxStats:
    """``log p_t``, ``u = 1 - p_t`` and ``p`` (true entries zeroed) of a working copy ``z``.

    ``z`` and ``dim`` come from :func:`working_copy`. A ``z`` that is not the
    caller's logits (``owned``) is overwritten by ``log p``: on a large batch a
    fresh tensor of its size costs thousands of page faults. Otherwise ``z`` is
    modified only when a ``margin`` is given.

    Attributes
    ----------
    dim : int
        The class dimension of ``z`` and ``p``.
    t0 : torch.Tensor of shape (1, n) or (n, 1)
        The targets, for indexing ``z``-shaped tensors along ``dim``.
    log_pt : torch.Tensor of shape (n,)
    log_p_sum : torch.Tensor of shape (n,) or None
        ``sum_c log p_c`` (with ``with_log_sum=True``).
    p : torch.Tensor shaped like ``z``, or None
        The probabilities with the true class's entry set to 0 (with
        ``with_p=True``).
    u : torch.Tensor of shape (n,) or None
        ``1 - p_t``, summed from the other probabilities (with ``with_p=True``).
    """

    __slots__ = ("dim", "log_p_sum", "log_pt", "p", "t0", "u")

    def __init__(self, z, dim, target, margin=None, with_p=True, with_log_sum=False,
                 owned=False):
        self.dim = dim
        self.t0 = t0 = target.unsqueeze(dim)
        if margin is not None:
            z.scatter_add_(dim, t0, margin.neg().unsqueeze(dim))
        # in place, row by row, as PyTorch computes it (a test checks that both agree
        # exactly); functorch's vmap has no batching rule for ``out=``
        if owned and not torch._C._are_functorch_transforms_active():
            log_p = torch.log_softmax(z, dim, out=z)
        else:
            log_p = torch.log_softmax(z, dim)
        self.log_pt = log_p.gather(dim, t0).view(-1)
        self.log_p_sum = log_p.sum(dim) if with_log_sum else None
        self.p = self.u = None
        if with_p:
            self.p = p = log_p.exp_()
            p.scatter_(dim, t0, 0.0)
            self.u = p.sum(dim)

    def gradient(self, coef, true_value):
        """The gradient ``coef * p``, ``true_value`` on the true class, as an ``(n, C)`` tensor.

        ``coef`` has shape ``(n,)`` (or is a number); ``true_value`` shape ``(n,)``.
        """
        grad = self.p.mul_(row(coef, self.dim))
        grad.scatter_(self.dim, self.t0, true_value.unsqueeze(self.dim))
        return to_logits(grad, self.dim)


def as_row(value, like):
    """A number or an ``(n,)`` tensor as an ``(n,)`` tensor like ``like``."""
    if isinstance(value, torch.Tensor):
        return value
    return torch.full_like(like, value)
