"""One autograd node per loss: the value and its gradient are computed together.

At the batch sizes tabular networks train with (64 to 512 rows, a few
classes) a loss costs per-operation overhead, not arithmetic: every tensor
operation dispatched from Python costs a few microseconds, whatever its size,
and every autograd node a few more in the backward pass. Each sklimb loss
therefore runs as a single :class:`ValueAndGrad` node: its forward pass
computes the loss *and* its gradient with respect to the logits with as few
operations as the formula allows (the gradients are written out by hand),
and its backward pass is one multiplication. When the logits do not require a
gradient (evaluation), the gradient is not computed.

With a few classes, row-wise work is done on the transposed logits, shape
``(n_classes, n_samples)``: PyTorch's CPU softmax and reductions along a
short last dimension are several times slower than along a long contiguous
one (see :mod:`._softmax` for when the logits keep their own layout).

:func:`reduce_rows` implements the weighted reduction of the module
docstring of :mod:`sklimb.losses._base` and returns the factor each row's
gradient is scaled by.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable


@once_differentiable
def _first_order_only(ctx, grad_output):
    return ValueAndGrad.backward(ctx, grad_output)


class ValueAndGrad(torch.autograd.Function):
    """``kernel(logits, *args) -> (value, grad)`` as one autograd node.

    ``grad`` is the gradient of ``value.sum()`` for a scalar value, or of
    each ``value[i]`` with respect to row ``i`` of the logits for a vector
    (``reduction="none"``); the backward pass scales it by the incoming
    gradient. The node's inputs are only ``(logits, kernel, args)``: the
    other arguments (targets, weights, per-class constants) get no gradient,
    and every input of a custom function costs time in its forward and
    backward passes. The gradient is saved with ``save_for_backward`` (not as
    an attribute of the context): the engine then releases it after the
    backward pass, and the logits' gradient accumulator takes the tensor over
    instead of copying it.

    The gradient is a constant, so a second derivative through this node
    would be silently zero: a backward pass with ``create_graph=True`` goes
    through :func:`torch.autograd.function.once_differentiable`, which makes
    differentiating its result raise.
    """

    @staticmethod
    def forward(ctx, logits, kernel, args):
        value, grad = kernel(logits, *args, with_grad=True)
        ctx.save_for_backward(grad)
        return value

    @staticmethod
    def backward(ctx, grad_output):
        """The saved gradient times ``grad_output`` (per row for ``reduction="none"``)."""
        if torch.is_grad_enabled():  # a graph of the backward pass is being built
            return _first_order_only(ctx, grad_output)
        grad = ctx.saved_tensors[0]
        if grad_output.ndim:
            return grad * grad_output.unsqueeze(1), None, None
        if grad_output.is_cpu and grad_output.item() == 1.0:
            # ``loss.backward()`` of a reduced loss: the gradient is ready as it is (reading
            # a CPU scalar costs no synchronisation; elsewhere the multiplication runs)
            return grad, None, None
        return grad * grad_output, None, None


#: ``ValueAndGrad.apply`` without the Python wrapper of ``torch.autograd.Function.apply``,
#: which costs a few microseconds per call to prepare for functorch transforms (which
#: these nodes do not support, see :func:`unsupported_transform`)
_apply_node = super(torch.autograd.Function, ValueAndGrad).apply


def unsupported_transform():
    """The error for a gradient taken through a ``torch.func`` transform.

    The nodes compute their gradient in the forward pass, with a context that
    functorch's transforms cannot see; rather than its generic message about
    ``setup_context``, the user gets what to do instead.
    """
    return NotImplementedError(
        "sklimb's losses do not support gradients through torch.func transforms (grad, "
        "vjp, jacrev, ...): they compute the gradient in their forward pass. Call "
        "loss.backward() (or torch.autograd.grad) on the loss instead.")


def apply_kernel(logits, kernel, *args):
    """Run ``kernel`` through :class:`ValueAndGrad` when a gradient may be needed."""
    if logits.requires_grad and torch.is_grad_enabled():
        if torch._C._are_functorch_transforms_active():
            raise unsupported_transform()
        return _apply_node(logits, kernel, args)
    return kernel(logits, *args, with_grad=False)[0]


def reduce_rows(loss, weights, reduction):
    """Reduce per-example losses; return ``(value, row_scale)``.

    ``row_scale`` is what each example's gradient is multiplied by: the
    example weight over the weight total for ``"mean"``, the example weight
    for ``"sum"`` and ``"none"`` (a tensor of shape ``(n_samples,)``, or a
    Python number when there are no weights).
    """
    if weights is None:
        if reduction == "none":
            return loss, 1.0
        if reduction == "sum":
            return loss.sum(), 1.0
        return loss.sum() / loss.shape[0], 1.0 / loss.shape[0]
    weights = weights.to(loss.dtype)
    if reduction == "none":
        return loss * weights, weights
    if reduction == "sum":
        return torch.dot(loss, weights), weights
    # all-zero weights give 0 rather than 0/0; no host synchronisation needed
    scale = weights / weights.sum().clamp_min(torch.finfo(loss.dtype).tiny)
    return torch.dot(loss, scale), scale
