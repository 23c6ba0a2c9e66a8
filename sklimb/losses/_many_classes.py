"""Softmax losses with many classes on large batches: compiled passes around PyTorch's softmax.

Above the compiled loops' size limit (:mod:`._compiled`) the PyTorch kernels of the
softmax losses make about ten passes over a tensor of the logits' size: the working
copy, ``log_softmax``, ``exp`` for the probabilities (a second exponential per logit), a
row sum, a product, and four gathers and scatters of the true entries, each of which
misses the cache once per row on a large batch. With many classes (the ``(n, C)``
layout of :func:`._softmax.working_copy`) and numba installed, a gradient is computed
in three passes instead: :func:`._loops.shifted_rows` makes the shifted logits ``z`` and
keeps each row's true entry and sum, PyTorch's vectorised softmax turns ``z`` into ``p``
in place, and :func:`._loops.softmax_loss_rows` computes the losses and turns ``p`` into
the gradient, row by row, each row read while it is in the cache.
"""

from __future__ import annotations

import numpy as np
import torch

from ._compiled import EMPTY, loop_on, loops, reduced_in_loop
from ._softmax import TRANSPOSE_MAX_CLASSES


def softmax_loss_in_loops(logits, target, kind, a, b, weights, reduction, *, scale=1.0,
                          bias=None, margins=None):
    """``(value, gradient)`` of the softmax loss ``kind`` (see :func:`._loops.row_terms`) of
    ``z = scale * x + bias``, ``scale * margins[y]`` off the true logit, or ``None`` where the
    passes do not run (a few classes, no numba, or not on the CPU in float32/float64): the
    caller's PyTorch kernel then does the work.

    ``weights`` are example weights (or ``None``) and ``bias`` and ``margins`` per-class
    constants of the logits' dtype (or ``None``); only for a gradient (the kernels'
    ``with_grad``).
    """
    if logits.shape[1] <= TRANSPOSE_MAX_CLASSES:
        return None
    rows = loop_on("softmax_loss_rows", logits)
    if rows is None:
        return None
    dtype = logits.dtype
    x = logits.detach().contiguous()
    t = target.contiguous()
    n_samples = x.shape[0]
    empty = EMPTY[dtype]
    bias = empty if bias is None else bias.contiguous().numpy()
    margins = empty if margins is None else margins.contiguous().numpy()
    z = torch.empty_like(x)
    z_true, z_sum = np.empty(n_samples), np.empty(n_samples)
    x_array, t_array = x.numpy(), t.numpy()
    loops().shifted_rows(x_array, t_array, float(scale), bias, margins, z.numpy(), z_true, z_sum)
    p = torch.softmax(z, 1, out=z)
    value = reduced_in_loop(rows, (p.numpy(), t_array, x_array, kind, float(a), float(b),
                                   float(scale), bias, z_true, z_sum,
                                   float(torch.finfo(dtype).tiny)),
                            weights, reduction, dtype, n_samples)
    return value, p
