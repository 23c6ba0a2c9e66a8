"""A loss module's compiled call, prepared once and replayed on the next batches.

At the batch sizes tabular networks train with, the Python between a loss
module's ``forward`` and its compiled loop (validating the inputs, building the
example weights, choosing the route, converting the parameters for the loop)
is a visible share of a call: at 64 x 2, replaying saves 2-3 microseconds of a
forward pass of 16-19 (measured in the call pattern of
``benchmarks/bench_losses.py``). Yet from one batch to the next only the
logits and the targets change. So the first call of a loss module runs the full
path while :func:`recorded` watches it; when that call ended in exactly one run
of a compiled loop (:class:`._compiled.CompiledKernel`) whose output is the
module's output, the module keeps the loop's arguments as a :class:`CallPlan`,
and the next calls replay them after checking what could make them differ:

* the logits and targets: plain CPU tensors, contiguous, of the recorded
  dtype (the targets ``int64``), the recorded number of classes, at least one
  and at most the loop's limit of rows; anything else takes the full path,
  whose checks give the errors;
* the module: its hyperparameters (any attribute set to another value, see
  :meth:`._base.ImbalanceLoss.__setattr__`, drops the plan) and its buffers,
  each the same tensor as when recorded, with the same version counter and
  the same memory (an in-place change, ``load_state_dict``, ``module.to(...)``
  or ``buffer.data = ...`` makes the call take the full path, which records
  the call again);
* ``sample_weight`` (a call with one takes the full path) and ``torch.func``
  transforms (no replay while one is active).

A target out of range raises inside the loop, as on the full path.
"""

from __future__ import annotations

import torch

from ._compiled import MANY_CLASSES, RECORDING, LoopNode, _apply_loop_node

_Tensor = torch.Tensor
_LONG = torch.long


def recorded(module, compute, logits, target):
    """``compute(logits, target, None)`` (the module's full forward path), and the module's
    :class:`CallPlan` when that call can be replayed (else the plan it had is kept)."""
    calls = []
    previous, RECORDING.calls = RECORDING.calls, calls
    try:
        value = compute(logits, target, None)
    finally:
        RECORDING.calls = previous
    # inputs the plan would not replay (half-precision logits, promoted to float32 on the
    # full path; int32 targets) would record it again at every call: not recorded
    if (len(calls) == 1 and calls[0][0] is value and calls[0][2] is logits.dtype
            and target.dtype is _LONG):
        plan = CallPlan.of(module._buffers, *calls[0][1:])
        if plan is not None:
            module.__dict__["_plan"] = plan
    return value


class CallPlan:
    """The arguments of one compiled loop call, minus the logits and targets.

    Built by :meth:`of`; :meth:`replay` runs it on new logits and targets or
    returns ``None`` when the module's full path might compute something else.
    """

    __slots__ = ("class_weight", "dtype", "entry", "keep", "limit", "n_classes", "per_row",
                 "tail", "twin", "watch")

    @classmethod
    def of(cls, buffers, twin, dtype, entry, loop_args, keep):
        """The plan of a recorded call, or ``None`` if it cannot be replayed: example weights
        that depend on the targets, or a buffer without a version counter (an inference
        tensor), whose in-place changes could not be seen."""
        # loop_args: logits, targets, example weights, class weights, rows (addresses), then
        # n_samples, n_classes, the dtype's empty array, the reduction code, the loop's own
        if loop_args[2] != 0 or any(t is not None and t.is_inference()
                                     for t in buffers.values()):
            return None
        plan = cls()
        # ``keep`` holds the tensors whose addresses the arguments carry (class weights
        # converted to the logits' dtype, per-class constants): they live as long as the plan
        plan.twin, plan.entry, plan.keep = twin, entry, keep
        plan.class_weight, plan.tail = loop_args[3], loop_args[6:]
        plan.per_row = loop_args[4] != 0
        n_classes = plan.n_classes = loop_args[6]
        plan.dtype = dtype
        plan.limit = twin.limits[n_classes > MANY_CLASSES]
        plan.watch = tuple((name, t, 0, 0) if t is None else (name, t, t._version, t.data_ptr())
                           for name, t in buffers.items())
        return plan

    def replay(self, buffers, logits, target):
        """The module's loss of ``logits`` and ``target``, or ``None`` (take the full path)."""
        if type(logits) is not _Tensor or type(target) is not _Tensor:
            return None
        shape = logits.shape
        if (len(shape) != 2 or logits.dtype is not self.dtype or target.dtype is not _LONG
                or shape[1] != self.n_classes):
            return None
        n_samples = shape[0]
        target_shape = target.shape
        if (not 0 < n_samples * self.n_classes <= self.limit or len(target_shape) != 1
                or target_shape[0] != n_samples or not logits.is_cpu or not target.is_cpu
                or not logits.is_contiguous() or not target.is_contiguous()
                or torch._C._are_functorch_transforms_active()):
            return None
        for name, tensor, version, address in self.watch:
            if buffers.get(name) is not tensor or (tensor is not None and (
                    tensor._version != version or tensor.data_ptr() != address)):
                return None
        rows = torch.empty(n_samples, dtype=self.dtype) if self.per_row else None
        loop_args = (logits.data_ptr(), target.data_ptr(), 0, self.class_weight,
                     0 if rows is None else rows.data_ptr(), n_samples, *self.tail)
        call = (logits, rows, self.entry, loop_args)
        if logits.requires_grad and torch.is_grad_enabled():
            return _apply_loop_node(logits, self.twin, call)
        return LoopNode.forward(None, logits, self.twin, call)

