"""What every sklimb loss shares: input checks, the weighted reduction and the base module.

Every loss takes ``logits`` of shape ``(n_samples, n_classes)`` (``n_classes >= 2``;
half precision is computed in float32, as autocast does) and integer ``target``
of shape ``(n_samples,)``, combines its per-example losses ``l_i`` with the
example weights ``w_i = weight[target_i] * sample_weight_i`` and reduces them by
:func:`weighted_reduce`. A loss is defined by its *composition*, differentiable
PyTorch operations that run on every device and under autograd, ``torch.compile``
and ``torch.func``; :func:`compute_loss` checks the inputs, then evaluates the
composition or, on CPU batches where the optional numba backend applies
(:mod:`._compiled`), the loss's compiled twin, which gives the same values.
"""

from __future__ import annotations

import importlib
import math
import numbers
from functools import partial

import numpy as np
import torch
from torch import nn

REDUCTIONS = ("mean", "sum", "none")
_HALF = (torch.float16, torch.bfloat16)


def check_reduction(reduction):
    """Return ``reduction`` if it is one of ``"mean"``, ``"sum"``, ``"none"``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction={reduction!r} is not supported; use one of {list(REDUCTIONS)}.")
    return reduction


def check_number(name, value, *, low=None, high=None, low_closed=True, high_closed=False):
    """The real hyperparameter ``value`` as a float, or an error naming the interval."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number; got {name}={value!r}.")
    value = float(value)
    too_low = low is not None and (value < low if low_closed else value <= low)
    too_high = high is not None and (value > high if high_closed else value >= high)
    if not np.isfinite(value) or too_low or too_high:
        interval = (f"{'[' if low_closed else '('}{'-inf' if low is None else low}, "
                    f"{'inf' if high is None else high}{']' if high_closed else ')'}")
        raise ValueError(f"{name} must lie in {interval}; got {name}={value!r}.")
    return value


def check_int(name, value, *, low=1):
    """Return the integer hyperparameter ``value >= low`` as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {name}={value!r}.")
    return int(value)


def as_class_vector(name, values):
    """Per-class values (weights or counts) as a 1-D float32 CPU tensor, for a buffer:
    finite, ``>= 0``, one per class, at least two (``None`` passes through)."""
    if values is None:
        return None
    if isinstance(values, torch.Tensor):
        tensor = values.detach().to(device="cpu", dtype=torch.float32).clone()
    else:
        try:
            tensor = torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name} must be a 1-D sequence of numbers, one per class; got {values!r}."
            ) from exc
    if tensor.ndim != 1 or tensor.numel() < 2:
        raise ValueError(f"{name} must be a 1-D sequence with one entry per class (at least "
                         f"2 classes); got shape {tuple(tensor.shape)}.")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite; got {tensor.tolist()}.")
    if (tensor < 0).any():
        raise ValueError(f"every entry of {name} must be >= 0; got {tensor.tolist()}.")
    return tensor


def class_counts_vector(class_counts, owner="this loss"):
    """Validated ``class_counts`` (float32, at least one sample); a clear error if missing."""
    if class_counts is None:
        raise ValueError(
            f"{owner} needs class_counts, the number of training samples of each class (for "
            "example numpy.bincount(y_train)); ImbalancedNetClassifier supplies it at fit time.")
    counts = as_class_vector("class_counts", class_counts)
    if counts.sum() <= 0:
        raise ValueError(f"class_counts must contain at least one sample; got {counts.tolist()}.")
    return counts


def _check_tensor(name, tensor, shape, logits):
    """A per-class or per-example tensor of ``shape`` on the logits' device, or ``None``."""
    if tensor is None:
        return None
    if not isinstance(tensor, torch.Tensor):
        try:
            tensor = torch.as_tensor(np.asarray(tensor, dtype=np.float64), device=logits.device)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be a sequence of numbers; got {tensor!r}.") from exc
    if tuple(tensor.shape) != shape:
        what = "one entry per class" if shape[0] == logits.shape[1] else "one per example"
        raise ValueError(f"{name} must have shape {shape} ({what}) for logits of shape "
                         f"{tuple(logits.shape)}; got shape {tuple(tensor.shape)}.")
    if tensor.device != logits.device:
        raise ValueError(f"{name} is on {tensor.device} but logits are on {logits.device}; "
                         f"move them to the same device (loss.to(logits.device)).")
    if not tensor.is_floating_point():
        tensor = tensor.to(logits.dtype)
    if tensor.device.type == "cpu" and not tensor.requires_grad:
        low, high = (value.item() for value in torch.aminmax(tensor))
        if not (low >= 0.0 and math.isfinite(high)):  # NaN fails the first test
            raise ValueError(f"{name} must be finite and non-negative; got values in "
                             f"[{low}, {high}].")
    return tensor


def on_device_of(logits, vector):
    """A per-class constant the loss built itself (from lists or counts, on the CPU) moved to
    the logits' device; as it is when ``logits`` is not a tensor, which the checks report."""
    return vector.to(logits.device) if isinstance(logits, torch.Tensor) else vector


def check_per_class(name, vector, logits):
    """Raise if the per-class ``vector`` (derived from ``name``) does not match the logits."""
    valid = isinstance(logits, torch.Tensor) and logits.ndim == 2 and logits.shape[1] >= 2
    if vector is not None and valid and vector.shape != logits.shape[1:]:
        raise ValueError(f"{name} has {vector.shape[0]} entries but logits have "
                         f"{logits.shape[1]} classes; give one entry per class.")


def check_inputs(logits, target, weight=None, sample_weight=None):
    """Validate a loss call; return ``(logits, target, weight, sample_weight)`` with half
    precision as float32 and int64 targets, whose values are checked on the CPU and by an
    asynchronous assertion (no wait) on an accelerator."""
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError("logits and target must be torch tensors; got "
                         f"{type(logits).__name__} and {type(target).__name__}.")
    if logits.ndim != 2:
        raise ValueError(
            f"logits must have shape (n_samples, n_classes); got shape {tuple(logits.shape)}. "
            "For a binary problem with one output column, use two columns (one per class).")
    n_samples, n_classes = logits.shape
    if n_classes < 2:
        raise ValueError(f"logits must have at least 2 columns (classes); got {n_classes}.")
    if n_samples == 0:
        raise ValueError("logits is empty (0 samples); a loss needs at least one sample.")
    if not logits.is_floating_point():
        raise ValueError(f"logits must be a floating tensor; got dtype {logits.dtype}.")
    if target.shape != (n_samples,):
        raise ValueError(f"target must have shape ({n_samples},) to match logits "
                         f"{tuple(logits.shape)}; got shape {tuple(target.shape)}.")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(
            f"target must hold integer class indices; got dtype {target.dtype}. Encode labels "
            "as 0..n_classes-1 (e.g. sklearn.preprocessing.LabelEncoder).")
    if target.device != logits.device:
        raise ValueError(f"target is on {target.device} but logits are on {logits.device}; "
                         "move them to the same device.")
    target = target.long()
    if torch._C._are_functorch_transforms_active():
        pass  # a value check would be data-dependent control flow; indexing still checks
    elif target.device.type == "cpu":
        low, high = (value.item() for value in torch.aminmax(target))
        if low < 0 or high >= n_classes:
            raise ValueError(f"target values must lie in [0, {n_classes - 1}] for {n_classes} "
                             f"classes; got values in [{low}, {high}].")
    elif target.device.type != "meta":
        torch._assert_async(((target >= 0) & (target < n_classes)).all())
    if logits.dtype in _HALF:
        logits = logits.float()
    weight = _check_tensor("weight", weight, (n_classes,), logits)
    sample_weight = _check_tensor("sample_weight", sample_weight, (n_samples,), logits)
    return logits, target, weight, sample_weight


def example_weights(target, weight, sample_weight):
    """``weight[target] * sample_weight`` (either factor optional; ``None`` without both)."""
    w = None if weight is None else weight.index_select(0, target)
    if sample_weight is not None:
        w = sample_weight if w is None else w * sample_weight
    return w


def weighted_reduce(losses, target, weight=None, sample_weight=None, reduction="mean"):
    """Reduce per-example ``losses`` with the example weights (the rule of this module).

    ``"mean"`` is ``sum(w_i l_i) / sum(w_i)``, and 0 rather than 0/0 when every
    weight is 0; ``"sum"`` is ``sum(w_i l_i)``; ``"none"`` the vector ``w_i l_i``.
    Without weights these are the plain mean, sum and ``losses``.
    """
    w = example_weights(target, weight, sample_weight)
    if w is None:
        return losses if reduction == "none" else losses.sum() if reduction == "sum" \
            else losses.mean()
    w = w.to(losses.dtype)
    if reduction == "none":
        return losses * w
    total = torch.dot(losses, w)
    if reduction == "sum":
        return total
    return total / w.sum().clamp_min(torch.finfo(losses.dtype).tiny)


def compiled_backend():
    """:mod:`._compiled`, imported on first use (``import sklimb`` skips numba's import)."""
    global _backend
    _backend = _backend or importlib.import_module(f"{__package__}._compiled")
    return _backend


_backend = None


def compute_loss(rows, logits, target, weight, sample_weight, reduction, *, compiled=None,
                 params=(), data=None, state=None):
    """The reduced loss whose per-example values are ``rows(logits, target)``, the loss's
    composition; where :func:`._compiled.runs_on` allows, its compiled twin ``compiled``
    with the hyperparameters ``params`` and the tensor ``data``. A loss whose call updates
    a ``state`` (GHM-C) has ``rows(logits, target, state)``; its twin gets the state as
    data, and the composition a copy of it as it was, for a backward pass that
    differentiates the composition again."""
    logits, target, weight, sample_weight = check_inputs(logits, target, weight, sample_weight)

    def reference(x, state=state):
        losses = rows(x, target) if state is None else rows(x, target, state)
        return weighted_reduce(losses, target, weight, sample_weight, reduction)

    if compiled is not None and logits.device.type == "cpu":
        backend = compiled_backend()
        if backend.runs_on(logits, target, weight, sample_weight, data, state):
            again = reference if state is None else partial(reference, state=state.clone())
            return backend.run(compiled, logits, target, params, weight, sample_weight,
                               reduction, again, data=state if data is None else data,
                               update=state is not None)
    return reference(logits)


def warm_up():
    """Compile the compiled backend's loops now (or load them from numba's cache), so that a
    timed fit is not charged for it (:func:`sklimb.compare`); nothing without numba."""
    compiled_backend().warm_up()


def true_class_log_probs(z, target):
    r"""``(log p_t, log(1 - p_t))`` of ``p = softmax(z)`` for each row: ``log(1 - p_t)`` is
    the log-sum-exp of the other logits minus that of all, without the cancellation of
    ``1 - p_t`` as :math:`p_t \to 1`. Both are finite for finite logits."""
    lse = torch.logsumexp(z, 1)
    column = target.unsqueeze(1)
    log_pt = z.gather(1, column).squeeze(1) - lse
    others = z.scatter(1, column, float("-inf"))
    return log_pt, torch.logsumexp(others, 1) - lse


def one_vs_rest_margins(x, target):
    """``a = x`` with each row's true entry negated: ``softplus(a)`` is the binary
    cross-entropy of every logit against the one-hot labels and ``sigmoid(a)`` the
    probability each logit gives the wrong answer."""
    column = target.unsqueeze(1)
    return x.scatter(1, column, x.gather(1, column).neg())


class ImbalanceLoss(nn.Module):
    """Base class of the sklimb losses: the class ``weight`` buffer and the ``reduction``.

    A subclass implements ``forward(logits, target, sample_weight=None)``.
    ``requires_class_counts`` tells :class:`~sklimb.ImbalancedNetClassifier` to build
    the loss with the training ``class_counts``; ``corrects_class_frequency`` that the
    loss compensates for class frequencies itself (``class_weight="auto"`` adds none).
    """

    requires_class_counts = False
    corrects_class_frequency = False

    def __init__(self, weight=None, reduction="mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.register_buffer("weight", as_class_vector("weight", weight))

    def class_log_shift(self):
        r"""How training with this loss shifts the classes, in log scale: weighting class
        :math:`c` by :math:`m_c` makes a network estimate :math:`p(c \mid x) \, m_c` up to
        normalisation; this returns :math:`\log m_c` (shape ``(n_classes,)``, on the
        buffers' device), or ``None`` when the loss does not shift the classes."""
        return log_or_none(self.weight)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def log_or_none(values):
    """``log(values)`` (zeros kept finite) or ``None``."""
    return None if values is None else values.detach().clamp_min(
        torch.finfo(values.dtype).tiny).log()


def add_log_shifts(*shifts):
    """The sum of per-class log shifts, ignoring ``None`` (``None`` if all are)."""
    present = [shift for shift in shifts if shift is not None]
    return sum(present[1:], present[0]) if present else None


def times_weight(factor, weight, name):
    """``factor * weight``: a per-class ``factor`` the loss applies itself (``alpha``, the
    class-balanced weights) times the optional class ``weight``, which must match it."""
    if weight is None:
        return factor
    weight = torch.as_tensor(weight, dtype=factor.dtype)
    if weight.device != factor.device:
        raise ValueError(f"weight is on {weight.device} but {name} is on {factor.device}; "
                         "move them to the logits' device.")
    if weight.shape != factor.shape:
        raise ValueError(f"weight has shape {tuple(weight.shape)} but {name} has shape "
                         f"{tuple(factor.shape)}; give both one entry per class.")
    return factor * weight
