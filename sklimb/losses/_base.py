"""Shared validation, weighting and reduction for the sklimb losses.

Every loss in :mod:`sklimb.losses` follows the same contract:

* ``logits`` is a floating tensor of shape ``(n_samples, n_classes)`` with
  ``n_classes >= 2`` (binary problems use two columns);
* ``target`` is an integer tensor of shape ``(n_samples,)`` holding class
  indices in ``[0, n_classes)``;
* the per-example loss ``l_i`` is combined with the example weight
  ``w_i = weight[target_i] * sample_weight_i`` (either factor may be absent)
  and reduced with the weighted mean ``sum(w_i * l_i) / sum(w_i)``, the rule
  PyTorch applies to weighted cross-entropy. ``reduction="sum"`` returns
  ``sum(w_i * l_i)`` and ``reduction="none"`` the vector ``w_i * l_i``.

Half-precision logits (``float16``/``bfloat16``) are promoted to ``float32``
inside the loss, as autocast does for PyTorch's own losses, so the loss and
its gradient stay finite at extreme logits.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn

from ._compiled import PerClass, available, compiled_for
from ._fused import apply_kernel, reduce_rows
from ._plan import recorded

REDUCTIONS = ("mean", "sum", "none")
_UNSET = object()


def check_reduction(reduction):
    """Return ``reduction`` if it is one of ``"mean"``, ``"sum"``, ``"none"``."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"reduction={reduction!r} is not supported; use one of {list(REDUCTIONS)}."
        )
    return reduction


def check_number(name, value, *, low=None, high=None, low_closed=True, high_closed=False):
    """Validate a real-valued hyperparameter and return it as ``float``.

    Raises ``ValueError`` naming the parameter, its value and the allowed range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number; got {name}={value!r}.")
    value = float(value)
    too_low = low is not None and (value < low if low_closed else value <= low)
    too_high = high is not None and (value > high if high_closed else value >= high)
    if not np.isfinite(value) or too_low or too_high:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        interval = f"{'[' if low_closed else '('}{lo}, {hi}{']' if high_closed else ')'}"
        raise ValueError(f"{name} must lie in {interval}; got {name}={value!r}.")
    return value


def check_int(name, value, *, low=1):
    """Validate an integer hyperparameter ``>= low`` and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {name}={value!r}.")
    return int(value)


def as_class_vector(name, values, *, allow_zero=True):
    """Convert per-class values (weights or counts) to a 1-D float32 tensor.

    ``None`` passes through. Values must be finite and non-negative (strictly
    positive when ``allow_zero`` is false).
    """
    if values is None:
        return None
    if isinstance(values, torch.Tensor):
        tensor = values.detach().to(dtype=torch.float32, device="cpu").clone()
    else:
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name} must be a 1-D sequence of numbers, one per class; got {values!r}."
            ) from exc
        tensor = torch.as_tensor(array, dtype=torch.float32)
    if tensor.ndim != 1 or tensor.numel() < 2:
        raise ValueError(
            f"{name} must be a 1-D sequence with one entry per class (at least 2 classes); "
            f"got shape {tuple(tensor.shape)}."
        )
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite; got {tensor.tolist()}.")
    if (tensor < 0).any() or (not allow_zero and (tensor == 0).any()):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"every entry of {name} must be {bound}; got {tensor.tolist()}.")
    return tensor


def check_logits_target(logits, target):
    """Validate shapes and dtypes; return float logits (half promoted) and long targets.

    Only Python-level checks run here (no tensor operation, no host
    synchronisation): whether the target values lie in ``[0, n_classes)`` is
    found by the loss's own indexing, which :func:`run_loss` turns into the
    error message of :func:`raise_for_targets`. Each attribute of a tensor is
    read once: at small batches this function is a measurable share of a loss.
    """
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError(
            "logits and target must be torch tensors; got "
            f"{type(logits).__name__} and {type(target).__name__}."
        )
    shape = logits.shape
    if len(shape) != 2:
        raise ValueError(
            "logits must have shape (n_samples, n_classes); got shape "
            f"{tuple(shape)}. For a binary problem with one output column, "
            "use two columns (one per class)."
        )
    n_samples, n_classes = shape
    if n_classes < 2:
        raise ValueError(f"logits must have at least 2 columns (classes); got {n_classes}.")
    if n_samples == 0:
        raise ValueError("logits is empty (0 samples); a loss needs at least one sample.")
    dtype = logits.dtype
    if dtype not in _FLOATING:
        raise ValueError(f"logits must be a floating tensor; got dtype {dtype}.")
    target_shape = target.shape
    if len(target_shape) != 1 or target_shape[0] != n_samples:
        raise ValueError(
            f"target must have shape ({n_samples},) to match logits {tuple(shape)}; "
            f"got shape {tuple(target_shape)}."
        )
    if target.dtype is not _LONG:
        if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
            raise ValueError(
                f"target must hold integer class indices; got dtype {target.dtype}. "
                "Encode labels as 0..n_classes-1 (e.g. sklearn.preprocessing.LabelEncoder)."
            )
        target = target.long()
    if not target.is_cpu:  # no host synchronisation on accelerators
        torch._assert_async(((target >= 0) & (target < n_classes)).all())
    if dtype in _HALF:
        logits = logits.float()
    return logits, target


_LONG = torch.long
_HALF = frozenset((torch.float16, torch.bfloat16))
#: the floating dtypes (``Tensor.is_floating_point``), for a set look-up instead of a call
_FLOATING = frozenset(dtype for dtype in vars(torch).values()
                      if isinstance(dtype, torch.dtype) and dtype.is_floating_point)


def raise_for_targets(target, n_classes):
    """Raise the ``ValueError`` for target values outside ``[0, n_classes)``, if any."""
    low, high = torch.aminmax(target)
    if low < 0 or high >= n_classes:
        raise ValueError(
            f"target values must lie in [0, {n_classes - 1}] for {n_classes} classes; "
            f"got values in [{int(low)}, {int(high)}]."
        )


def run_loss(logits, target, kernel, *args, chosen=None):
    """``kernel`` as one autograd node (see :mod:`._fused`), with a clear error for bad targets.

    Every kernel takes ``(logits, target, *params, weights, reduction)``. The
    kernel's compiled twin (:mod:`._compiled`) runs instead where it applies
    (``chosen`` is the answer of :func:`._compiled.compiled_for`, when the caller
    has it already). A twin takes per-class weights (``weights`` of
    :class:`._compiled.PerClass`) as they are, where a PyTorch kernel gets them
    expanded to the examples. The
    kernels index with the targets; an index outside ``[0, n_classes)``
    raises there, and the error is replaced by the message of
    :func:`raise_for_targets`. Example weights that require a gradient (a
    ``sample_weight`` being learnt) are applied outside the node, with
    differentiable operations, so that they receive theirs.
    """
    if chosen is None:
        chosen = compiled_for(kernel, logits, args)
    weights = args[-2]
    if (weights is not None and type(weights) is not PerClass and weights.requires_grad
            and torch.is_grad_enabled()):
        rows = run_loss(logits, target, kernel, *args[:-2], None, "none", chosen=chosen)
        return reduce_rows(rows, weights, args[-1])[0]
    try:
        if chosen is not kernel:
            return chosen.run(logits, target, args)
        *params, weights, reduction = args
        if type(weights) is PerClass:
            weights = per_example(weights.weight, target)
        return apply_kernel(logits, kernel, target, *params, weights, reduction)
    except (IndexError, RuntimeError):
        if target.is_cpu:
            raise_for_targets(target, logits.shape[1])
        raise


def check_sample_weight(sample_weight, n_samples, like):
    """Validate per-sample weights and return them as a tensor matching ``like``."""
    if sample_weight is None:
        return None
    sample_weight = torch.as_tensor(sample_weight, device=like.device)
    if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must have shape ({n_samples},); got {tuple(sample_weight.shape)}."
        )
    sample_weight = sample_weight.to(like.dtype)
    if sample_weight.device.type == "cpu" and not (
        torch.isfinite(sample_weight).all() and (sample_weight >= 0).all()
    ):
        raise ValueError("sample_weight must be finite and non-negative.")
    return sample_weight


def check_class_vector_size(name, vector, n_classes):
    """Raise if a per-class buffer does not match the number of logit columns."""
    if vector is not None and vector.shape[0] != n_classes:
        raise ValueError(
            f"{name} has {vector.shape[0]} entries but logits have {n_classes} classes; "
            "give one entry per class."
        )


def per_example(values, target):
    """``values[target]`` for per-class ``values``; a clear error for bad targets."""
    try:
        return values.index_select(0, target)
    except (IndexError, RuntimeError):
        if target.device.type == "cpu":
            raise_for_targets(target, values.shape[0])
        raise


def example_weights(target, weight, sample_weight):
    """Per-example weights ``weight[target] * sample_weight`` (``None`` if both absent)."""
    w = None if weight is None else per_example(weight, target)
    if sample_weight is not None:
        w = sample_weight if w is None else w * sample_weight
    return w


def module_example_weights(logits, target, weight, sample_weight):
    """Example weights from a module's own (already validated) class ``weight`` buffer.

    Only the size of ``weight`` and ``sample_weight``, which comes with each
    call, are checked. Class weights alone come back as :class:`PerClass`,
    for :func:`run_loss`.
    """
    if sample_weight is None:  # expanded by run_loss where needed
        if weight is None:
            return None
        check_class_vector_size("weight", weight, logits.shape[1])
        return PerClass(weight)
    check_class_vector_size("weight", weight, logits.shape[1])
    sample_weight = check_sample_weight(sample_weight, logits.shape[0], logits)
    return example_weights(target, weight, sample_weight)


def as_class_tensor(name, values, like):
    """Per-class values on the device and dtype of ``like``.

    Anything but a tensor is validated by :func:`as_class_vector` first; a
    tensor on the CPU is checked for finite, non-negative values (a few
    operations on ``n_classes`` numbers), one on an accelerator is only moved
    (a check there would synchronise with the host).
    """
    if values is None:
        return None
    if not isinstance(values, torch.Tensor):
        values = as_class_vector(name, values)
    elif values.device.type == "cpu" and values.numel() and not (
            torch.isfinite(values).all() and (values >= 0).all()):
        raise ValueError(f"{name} must be finite and non-negative; got {values.tolist()}.")
    check_class_vector_size(name, values, like.shape[1])
    return values.to(device=like.device, dtype=like.dtype)


def required_class_counts(class_counts):
    """Validated ``class_counts`` as a float64 tensor; a clear error if missing."""
    if class_counts is None:
        raise ValueError(
            "class_counts is required: the number of training samples of each class "
            "(for example numpy.bincount(y_train))."
        )
    return as_class_vector("class_counts", class_counts).double()


def example_weights_for(logits, target, weight, sample_weight):
    """Example weights for already validated ``logits`` and ``target``."""
    weight = as_class_tensor("weight", weight, logits)
    sample_weight = check_sample_weight(sample_weight, logits.shape[0], logits)
    return example_weights(target, weight, sample_weight)


def prepare(logits, target, sample_weight, weight):
    """Run the common input checks of a loss forward pass.

    Returns ``(logits, target, weight, example_weights)`` with ``weight`` on the
    device and dtype of the (possibly promoted) logits.
    """
    logits, target = check_logits_target(logits, target)
    weight = as_class_tensor("weight", weight, logits)
    sample_weight = check_sample_weight(sample_weight, logits.shape[0], logits)
    return logits, target, weight, example_weights(target, weight, sample_weight)


class ImbalanceLoss(nn.Module):
    """Base class: stores the class ``weight`` buffer and the ``reduction``.

    A subclass implements ``forward(logits, target, sample_weight=None)``. The
    losses of this package implement ``_compute`` with the same arguments instead,
    and inherit :meth:`forward`, which repeats an earlier call's compiled loop on
    new inputs where the result is the same (:mod:`._plan`).
    ``requires_class_counts`` tells :class:`~sklimb.ImbalancedNetClassifier`
    that the loss must be built with the training ``class_counts``;
    ``corrects_class_frequency`` that the loss already compensates for the
    class frequencies, so the estimator's ``class_weight="auto"`` adds no
    class weights on top.
    """

    requires_class_counts = False
    corrects_class_frequency = False
    # The forward passes read their buffers from ``self._buffers``: ``self.weight`` goes
    # through ``nn.Module.__getattr__``, which costs more than half a microsecond, a
    # measurable share of a loss at small batches (see benchmarks/bench_losses.py).

    #: the :class:`._plan.CallPlan` of an earlier call, replayed by :meth:`forward`
    _plan = None

    def __init__(self, weight=None, reduction="mean"):
        super().__init__()
        self.reduction = check_reduction(reduction)
        self.register_buffer("weight", as_class_vector("weight", weight))

    def forward(self, logits, target, sample_weight=None):
        """The loss of ``logits`` (shape ``(n_samples, n_classes)``) for the class indices
        ``target`` (shape ``(n_samples,)``), with optional per-example ``sample_weight``.

        Without ``sample_weight`` and where the compiled loops run, a call that can repeat
        an earlier one's loop with new logits and targets does so (:mod:`._plan`); the
        result is the same.
        """
        if sample_weight is None:
            plan = self._plan
            if plan is not None:
                try:
                    value = plan.replay(self._buffers, logits, target)
                except (IndexError, RuntimeError):  # raised by the loop: a target out of range
                    raise_for_targets(target, plan.n_classes)
                    raise
                if value is not None:
                    return value
            if available():
                return recorded(self, self._compute, logits, target)
        return self._compute(logits, target, sample_weight)

    def _compute(self, logits, target, sample_weight):
        raise NotImplementedError(
            f"{type(self).__name__} must implement forward(logits, target, sample_weight=None).")

    def __setattr__(self, name, value):
        # a hyperparameter set to another value (or a module moved between train() and
        # eval()) changes the loss: the prepared call no longer applies
        if self._plan is not None and self.__dict__.get(name, _UNSET) is not value:
            self.__dict__["_plan"] = None
        super().__setattr__(name, value)

    def __delattr__(self, name):
        self.__dict__.pop("_plan", None)
        super().__delattr__(name)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_plan", None)  # addresses and compiled code belong to this process
        return state

    def class_log_shift(self):
        r"""How training with this loss shifts the class distribution, in log scale.

        Weighting class :math:`c` by :math:`m_c` (or adding
        :math:`-\log m_c` to its logit during training) makes a network
        that minimises the loss estimate :math:`p(c \mid x) \, m_c` up to
        normalisation; this returns :math:`\log m_c` for the loss as it is
        now (its ``weight`` and whatever per-class terms the loss adds), or
        ``None`` when it does not shift the classes. The tensor lives on the
        device of the loss's buffers; nothing is copied to the host.

        Returns
        -------
        log_shift : torch.Tensor of shape (n_classes,) or None
        """
        return log_or_none(self.weight)

    def extra_repr(self):
        return f"reduction={self.reduction!r}"


def log_or_none(values):
    """``log(values)`` (zeros kept finite) or ``None``; runs on the device of ``values``."""
    if values is None:
        return None
    values = values.detach()
    return values.clamp_min(torch.finfo(values.dtype).tiny).log()


def add_log_shifts(*shifts):
    """The sum of per-class log shifts, ignoring ``None`` (``None`` if all are)."""
    present = [shift for shift in shifts if shift is not None]
    if not present:
        return None
    total = present[0]
    for shift in present[1:]:
        total = total + shift
    return total


def class_counts_buffer(module, class_counts):
    """Validate ``class_counts`` and register it on ``module`` as a buffer."""
    name = type(module).__name__
    if class_counts is None:
        raise ValueError(
            f"{name} needs class_counts, the number of training samples of each class "
            "(for example numpy.bincount(y_train)); ImbalancedNetClassifier supplies it "
            "at fit time."
        )
    counts = as_class_vector("class_counts", class_counts)
    if counts.sum() <= 0:
        raise ValueError(f"class_counts must contain at least one sample; got {counts.tolist()}.")
    module.register_buffer("class_counts", counts)
    return counts
