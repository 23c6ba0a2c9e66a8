"""Softmax helpers shared by the softmax losses (cross-entropy, focal, dice, LDAM).

The losses keep the softmax probabilities ``p`` for their hand-written
backward passes, which then cost one multiplication instead of an
exponential. The log-partition comes from the same softmax pass: at the
largest logit ``m`` of a row, ``p = 1 / sum(exp(z - m))``, so
``logsumexp(z) = m - log(max(p))`` (``max(p) >= 1 / n_classes`` never
underflows). The two parts are kept apart, and
``log p_c = (z_c - m) + log(max(p))`` is then as accurate as ``log_softmax``
(adding ``m`` back first would round away small losses).
"""

from __future__ import annotations

import torch

from ._rows import put_, row_blocks, take


def softmax_parts(z):
    """Return ``p = softmax(z, dim=1)``, the row maxima of ``z`` and ``log(max(p))``."""
    p = torch.softmax(z, dim=1)
    return p, z.amax(dim=1), p.amax(dim=1).log_()


def shifted_softmax_parts(logits, scale=1.0, bias=None, with_sum=False):
    """:func:`softmax_parts` of ``z = scale * logits + bias`` (``bias`` per class).

    ``z`` is formed one block of rows at a time (see :func:`._rows.row_blocks`)
    instead of as a full-size temporary. With ``with_sum=True`` the row sums
    of ``z`` are returned as a fourth value (else ``None``).
    """
    if scale == 1.0 and bias is None:
        return (*softmax_parts(logits), logits.sum(dim=1) if with_sum else None)
    n_rows, n_classes = logits.shape
    blocks = row_blocks(n_rows, n_classes, logits.device)
    p = torch.empty_like(logits)
    z_max = logits.new_empty(n_rows)
    z_sum = logits.new_empty(n_rows) if with_sum else None
    buffer = logits.new_empty(blocks[0][1], n_classes)
    for start, stop in blocks:
        z = buffer[:stop - start]
        if scale != 1.0:
            torch.mul(logits[start:stop], scale, out=z)
            if bias is not None:
                z.add_(bias)
        else:
            torch.add(logits[start:stop], bias, out=z)
        torch.amax(z, dim=1, out=z_max[start:stop])
        if with_sum:
            torch.sum(z, dim=1, out=z_sum[start:stop])
        torch.softmax(z, dim=1, out=p[start:stop])
    return p, z_max, p.amax(dim=1).log_(), z_sum


def pop_(p, positions):
    """Zero one entry per row of ``p`` (see :mod:`._rows`); return it and the rest's sum.

    The sum of the other probabilities is ``1 - p[i, c_i]`` without the
    cancellation of that subtraction as ``p[i, c_i] -> 1``.
    """
    popped = take(p, positions)
    put_(p, positions, torch.zeros_like(popped))
    return popped, p.sum(dim=1)
