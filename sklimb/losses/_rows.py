"""Row-wise access to one entry per row (the true class) of ``(n, C)`` tensors.

Reading or writing one scattered entry per row of a large tensor is bound by
memory latency; going through the flattened tensor with precomputed positions
(``index_select``/``index_copy_``) is about twice as fast as
``gather``/``scatter_`` along ``dim=1`` on CPU.
"""

from __future__ import annotations

import torch

# Passes that chain several element-wise operations run over blocks of rows of
# about this many elements on CPU (2 MB of float32): the block temporaries are
# reused instead of allocated at full size, and stay in the last-level cache
# between operations. Smaller blocks cost more Python overhead per call.
BLOCK_ELEMENTS = 1 << 19


def row_positions(index, n_classes):
    """Positions ``i * n_classes + index[i]`` in the flattened ``(n, n_classes)`` tensor."""
    n = index.shape[0]
    return torch.arange(0, n * n_classes, n_classes, device=index.device).add_(index)


def take(x, positions):
    """``x[i, index[i]]`` for every row, as a vector (``x`` may be non-contiguous)."""
    return x.reshape(-1).index_select(0, positions)


def put_(x, positions, values):
    """In place: ``x[i, index[i]] = values[i]``; ``x`` must be contiguous."""
    x.view(-1).index_copy_(0, positions, values)
    return x


def add_(x, positions, values):
    """In place: ``x[i, index[i]] += values[i]``; ``x`` must be contiguous."""
    x.view(-1).index_add_(0, positions, values)
    return x


def row_blocks(n_rows, n_classes, device):
    """``(start, stop)`` row ranges splitting a batch into cache-sized blocks.

    One block on accelerators, where a loop of small kernels would only add
    launch overhead.
    """
    if device.type != "cpu":
        return [(0, n_rows)]
    step = max(1, BLOCK_ELEMENTS // n_classes)
    return [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]
