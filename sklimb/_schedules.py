"""The optimisation of the estimator: the optimiser's arguments, the training budget, the
learning-rate schedule and the weight average.

The schedule and the average are skorch callbacks: the schedule is a skorch
``LRScheduler`` on ``torch.optim.lr_scheduler.LambdaLR``, the average an
exponential moving average in the form of ``torch.optim.swa_utils``'
``multi_avg_fn``; the estimator adds them from its ``lr_schedule`` and
``ema_decay`` parameters.
Both act after every optimiser step (skorch's ``on_batch_end``), so they work
with any optimiser, LBFGS included.
"""

from __future__ import annotations

import itertools
import math
from functools import partial

import numpy as np
import torch
from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import LambdaLR

from ._signatures import named_parameters

LR_SCHEDULES = ("constant", "cosine", "flat_cosine")
#: ``max_epochs="auto"``: ``AUTO_MAX_EPOCHS`` epochs, fewer when that would take more than
#: about ``AUTO_STEPS`` optimiser steps or ``AUTO_ROWS`` rows, but at least ``AUTO_MIN_EPOCHS``.
AUTO_STEPS = 20_000
AUTO_ROWS = 5_000_000
AUTO_MIN_EPOCHS = 10
AUTO_MAX_EPOCHS = 200
#: ``batch_size="auto"``: ``AUTO_BATCH_SIZE`` rows, more on large data so that an epoch is
#: about ``AUTO_BATCHES`` batches, up to ``AUTO_MAX_BATCH_SIZE``
AUTO_BATCH_SIZE = 200
AUTO_BATCHES = 24
AUTO_MAX_BATCH_SIZE = 2048


def optimizer_arguments(optimizer, kwargs, weight_decay, device=None):
    """The keyword arguments of ``optimizer``: ``kwargs`` (its ``optimizer__<name>``
    parameters) plus the estimator's ``weight_decay`` and, for Adam and AdamW, ``fused``.

    ``weight_decay`` is added for an optimiser that declares it, unless given.
    The fused Adam(W) kernels update all parameters in one pass instead of a
    dozen small operations per parameter tensor, which on the CPU halves the
    cost of a small network's optimiser step; an explicit ``fused`` or
    ``foreach`` is left alone, and devices without the kernels get none.
    """
    kwargs = dict(kwargs)
    if "weight_decay" not in kwargs and "weight_decay" in named_parameters(optimizer):
        kwargs["weight_decay"] = weight_decay
    kind = torch.device(device or "cpu").type
    fused_runs = kind == "cpu" or (kind == "cuda" and torch.cuda.is_available())
    if (optimizer in (torch.optim.Adam, torch.optim.AdamW) and fused_runs
            and "fused" not in kwargs and "foreach" not in kwargs):
        kwargs["fused"] = True
    return kwargs


def auto_batch_size(n_rows):
    """Rows per batch of ``batch_size="auto"``:
    ``clip(ceil(n_rows / AUTO_BATCHES), AUTO_BATCH_SIZE, AUTO_MAX_BATCH_SIZE)``.

    Small data (up to 4,800 rows) keeps batches of 200. On more rows an epoch
    of 200-row batches is hundreds of optimiser steps, each paying a fixed
    cost of a few tenths of a millisecond; larger batches keep that cost per
    epoch bounded, so that the same time buys more epochs.

    Examples
    --------
    >>> from sklimb._schedules import auto_batch_size
    >>> [auto_batch_size(n) for n in (500, 4800, 22_444, 800_000)]
    [200, 200, 936, 2048]
    """
    size = math.ceil(max(int(n_rows), 1) / AUTO_BATCHES)
    return int(np.clip(size, AUTO_BATCH_SIZE, AUTO_MAX_BATCH_SIZE))


def auto_epochs(batches_per_epoch, rows_per_epoch=0):
    """Epochs of ``max_epochs="auto"``: ``AUTO_MAX_EPOCHS``, capped by the budgets of
    ``AUTO_STEPS`` optimiser steps and ``AUTO_ROWS`` rows, and at least ``AUTO_MIN_EPOCHS``:
    ``clip(min(ceil(AUTO_STEPS / batches), ceil(AUTO_ROWS / rows)), MIN, MAX)``.

    Examples
    --------
    >>> from sklimb._schedules import auto_epochs
    >>> auto_epochs(5, 1_000), auto_epochs(400, 80_000), auto_epochs(391, 800_000)
    (200, 50, 10)
    """
    epochs = math.ceil(AUTO_STEPS / max(int(batches_per_epoch), 1))
    if rows_per_epoch:
        epochs = min(epochs, math.ceil(AUTO_ROWS / int(rows_per_epoch)))
    return int(np.clip(epochs, AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS))


def lr_factor(schedule, step, total_steps):
    """Multiplier of the base learning rate at optimiser step ``step`` of ``total_steps``.

    ``"constant"``: 1. ``"cosine"``: :math:`\\tfrac12 (1 + \\cos(\\pi t / T))`,
    from 1 down to 0 over the ``T`` steps. ``"flat_cosine"``: 1 for the first
    half, then the cosine from 1 to 0 over the second half.

    Examples
    --------
    >>> from sklimb._schedules import lr_factor
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


def steps_per_fit(net, X):
    """Optimiser steps of one ``fit``/``partial_fit`` call: epochs times batches per epoch.

    ``X`` is what skorch's ``on_train_begin`` receives (the estimator's
    prepared data, whose ``train`` is the training dataset).
    """
    return net.max_epochs_ * len(net.get_iterator(X.train, training=True))


class LRSchedule(LRScheduler):
    """``lr_schedule`` as a skorch ``LRScheduler``: a ``LambdaLR`` stepped after every batch.

    Each ``fit`` or ``partial_fit`` call runs the schedule once over its own
    optimiser steps (:func:`steps_per_fit`), from the optimiser's learning
    rates at its start; the factor is :func:`lr_factor`. At the end the
    optimiser's rates are set back to those base rates.

    Parameters
    ----------
    schedule : {"cosine", "flat_cosine", "constant"}, default="cosine"
    """

    def __init__(self, schedule="cosine"):
        super().__init__(policy=LambdaLR, event_name=None, step_every="batch")
        self.schedule = schedule

    @property
    def kwargs(self):
        return {}

    def on_train_begin(self, net, X=None, **kwargs):
        self.total_steps_ = steps_per_fit(net, X)
        for group in net.optimizer_.param_groups:  # the rate set now (``lr`` may have changed)
            group["initial_lr"] = group["lr"]
        super().on_train_begin(net, X=X, **kwargs)

    def on_train_end(self, net, **kwargs):
        """Leave the optimiser at its base rates, ready for the next ``partial_fit``."""
        for group in net.optimizer_.param_groups:
            group["lr"] = group.get("initial_lr", group["lr"])

    def _get_scheduler(self, net, policy, **scheduler_kwargs):
        return policy(net.optimizer_,
                      partial(lr_factor, self.schedule, total_steps=self.total_steps_))


def warmed_up_ema(averaged, current, n_averaged, decay):
    """An EMA whose decay warms up, as a ``torch.optim.swa_utils`` ``multi_avg_fn``.

    ``partial(warmed_up_ema, decay=d)`` can be given to ``AveragedModel``.

    The decay after ``n`` updates is ``min(decay, (1 + n) / (10 + n))``, so a
    short run is not dominated by the first weights; tensors that are not
    floating point (counters of batch normalisation) are copied.
    """
    if not averaged[0].is_floating_point():
        torch._foreach_copy_(averaged, current)
        return
    n = int(n_averaged) + 1
    torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1.0 + n) / (10.0 + n)))


class WeightAveraging(Callback):
    """Predict with an exponential moving average of the weights (``ema_decay``).

    The average covers the module's parameters and buffers: it starts as a
    copy of them, is moved by :func:`warmed_up_ema` after every optimiser
    step, and is written into the module at the end of training. Each
    ``fit`` or ``partial_fit`` call starts a new average.

    ``torch.optim.swa_utils.AveragedModel`` would keep the same average (with
    this ``multi_avg_fn``), but its ``update_parameters`` regroups the tensors
    by device and dtype on every call: 0.29 ms of a 2.2 ms step of a small
    network (300 x 8, under cProfile). The tensor lists are built once instead.

    Parameters
    ----------
    decay : float, default=0.99
        In ``(0, 1)``.
    """

    def __init__(self, decay=0.99):
        self.decay = decay

    def on_train_begin(self, net, **kwargs):
        live = [t.detach() for t in _tensors(net.module_)]
        self.live_ = {"float": [t for t in live if t.is_floating_point()],
                      "other": [t for t in live if not t.is_floating_point()]}
        self.average_ = {kind: [t.clone() for t in tensors]
                         for kind, tensors in self.live_.items()}
        self.n_updates_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.n_updates_ += 1
            for kind, tensors in self.live_.items():
                if tensors:
                    warmed_up_ema(self.average_[kind], tensors, self.n_updates_ - 1,
                                  float(self.decay))

    def on_train_end(self, net, **kwargs):
        average, self.average_, self.live_ = getattr(self, "average_", None), None, None
        if average is None or self.n_updates_ == 0:
            return
        with torch.no_grad():
            averaged = iter([*average["float"], *average["other"]])
            for target in sorted(_tensors(net.module_), key=_floating_first):
                target.copy_(next(averaged))


def _floating_first(tensor):
    return not tensor.is_floating_point()


def _tensors(module):
    return itertools.chain(module.parameters(), module.buffers())


__all__ = ["LR_SCHEDULES", "LRSchedule", "WeightAveraging", "auto_batch_size", "auto_epochs",
           "lr_factor", "warmed_up_ema"]
