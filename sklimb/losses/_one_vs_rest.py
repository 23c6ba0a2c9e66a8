"""Helpers for losses that put one sigmoid on every logit (one-vs-rest BCE).

With one-hot labels, the binary cross-entropy of logit ``x_ic`` is
``softplus(a_ic)`` where ``a_ic = -x_ic`` for the true class and ``x_ic``
otherwise; its sigmoid ``sigmoid(a_ic) = |sigmoid(x_ic) - y_ic|`` is both the
probability of the wrong answer and the gradient norm used by GHM.
"""

from __future__ import annotations


def flip_true_class(logits, target):
    """Return ``a`` with ``a_ic = -x_ic`` where ``c = y_i`` and ``x_ic`` elsewhere."""
    index = target.unsqueeze(1)
    a = logits.clone()
    return a.scatter_(1, index, logits.gather(1, index).neg_())


def negate_true_class_(grad, target):
    """In place: turn a gradient with respect to ``a`` into one with respect to ``x``."""
    index = target.unsqueeze(1)
    return grad.scatter_(1, index, grad.gather(1, index).neg_())
