"""Learning-rate schedules and weight averaging of the estimator's training loop.

Both act once per optimiser step and cost a few element-wise operations
(one fused ``_foreach`` call for the average), so they add nothing
measurable to a step.
"""

from __future__ import annotations

import math

import torch

LR_SCHEDULES = ("constant", "cosine", "flat_cosine")


def lr_factor(schedule, step, total_steps):
    """Multiplier of the base learning rate at optimiser step ``step`` of ``total_steps``.

    ``"constant"``: 1. ``"cosine"``: :math:`\\tfrac12 (1 + \\cos(\\pi t / T))`,
    from 1 down to 0 over the ``T`` steps. ``"flat_cosine"``: 1 for the first
    half, then the cosine from 1 to 0 over the second half.

    Examples
    --------
    >>> from sklimb._optim import lr_factor
    >>> [round(lr_factor("flat_cosine", t, 8), 3) for t in (0, 4, 6, 8)]
    [1.0, 1.0, 0.5, 0.0]
    """
    if schedule == "constant" or total_steps <= 0:
        return 1.0
    progress = min(max(step / total_steps, 0.0), 1.0)
    if schedule == "flat_cosine":
        if progress <= 0.5:
            return 1.0
        progress = 2.0 * progress - 1.0
    return 0.5 * (1.0 + math.cos(math.pi * progress))


class WeightAverage:
    """Exponential moving average of a module's floating-point parameters and buffers.

    ``update()`` after every optimiser step moves the average towards the
    current weights by ``1 - decay`` (one fused ``torch._foreach_lerp_``);
    the effective decay is ``min(decay, (1 + n) / (10 + n))`` after ``n``
    updates, so short runs are not dominated by the initial weights.
    ``copy_to(module)`` writes the average into the module.

    Parameters
    ----------
    module : torch.nn.Module
        The module whose weights are averaged (copied at construction).
    decay : float
        Decay in ``(0, 1)``.
    """

    def __init__(self, module, decay):
        self.decay = float(decay)
        self.n_updates = 0
        self._live = [t for t in _floating_tensors(module)]
        self._average = [t.detach().clone() for t in self._live]

    @torch.no_grad()
    def update(self):
        self.n_updates += 1
        decay = min(self.decay, (1.0 + self.n_updates) / (10.0 + self.n_updates))
        torch._foreach_lerp_(self._average, [t.detach() for t in self._live], 1.0 - decay)

    @torch.no_grad()
    def copy_to(self, module):
        for target, average in zip(_floating_tensors(module), self._average, strict=True):
            target.copy_(average)


def _floating_tensors(module):
    tensors = [*module.parameters(), *module.buffers()]
    return [t for t in tensors if t.is_floating_point()]


__all__ = ["LR_SCHEDULES", "WeightAverage", "lr_factor"]
