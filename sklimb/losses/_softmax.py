"""Softmax statistics of the true class, on transposed logits (see :mod:`._fused`).

The logits ``x`` of shape ``(n, C)`` are copied once into ``z`` of shape
``(C, n)`` (with a scale, a per-class bias and a per-example margin on the
true class applied in place), so that the softmax runs along a contiguous
dimension. From ``log p = log_softmax(z)`` come ``log p_t`` (exact, as in
PyTorch's cross-entropy) and the probabilities ``p``; the true class's entry
of ``p`` is then set to zero and the column sums give ``u = 1 - p_t`` as the
sum of the *other* probabilities, without the cancellation of ``1 - p_t`` as
``p_t -> 1``. Gradients of the form ``c * (p - onehot)`` are then ``c * p``
with the true entry written as ``-c * u``.
"""

from __future__ import annotations

import torch


def transposed(logits, scale=1.0, bias=None):
    """``(scale * logits + bias).T`` as a new contiguous ``(C, n)`` tensor."""
    z = logits.t().clone(memory_format=torch.contiguous_format)
    if scale != 1.0:
        z.mul_(scale)
    if bias is not None:
        z.add_(bias.unsqueeze(1))
    return z


class SoftmaxStats:
    """``log p_t``, ``u = 1 - p_t`` and ``p`` (true entries zeroed) of transposed logits ``z``.

    Attributes
    ----------
    t0 : torch.Tensor of shape (1, n)
        The targets as a row, for indexing ``(C, n)`` tensors.
    log_pt : torch.Tensor of shape (n,)
    log_p_sum : torch.Tensor of shape (n,) or None
        ``sum_c log p_c`` (with ``with_log_sum=True``).
    p : torch.Tensor of shape (C, n) or None
        The probabilities with the true class's entry set to 0 (with
        ``with_p=True``).
    u : torch.Tensor of shape (n,) or None
        ``1 - p_t``, summed from the other probabilities (with ``with_p=True``).
    """

    __slots__ = ("log_p_sum", "log_pt", "p", "t0", "u")

    def __init__(self, z, target, margin=None, with_p=True, with_log_sum=False):
        self.t0 = t0 = target.unsqueeze(0)
        if margin is not None:
            z.scatter_add_(0, t0, margin.neg().unsqueeze(0))
        log_p = torch.log_softmax(z, 0)
        self.log_pt = log_p.gather(0, t0).view(-1)
        self.log_p_sum = log_p.sum(0) if with_log_sum else None
        self.p = self.u = None
        if with_p:
            self.p = p = log_p.exp_()
            p.scatter_(0, t0, 0.0)
            self.u = p.sum(0)

    def gradient(self, coef, true_value):
        """The gradient ``coef * p``, ``true_value`` on the true class, as an ``(n, C)`` view.

        ``coef`` has shape ``(n,)`` (or is a number); ``true_value`` shape ``(n,)``.
        """
        grad = self.p.mul_(coef)
        grad.scatter_(0, self.t0, true_value.unsqueeze(0))
        return grad.t()


def as_row(value, like):
    """A number or an ``(n,)`` tensor as an ``(n,)`` tensor like ``like``."""
    if isinstance(value, torch.Tensor):
        return value
    return torch.full_like(like, value)
