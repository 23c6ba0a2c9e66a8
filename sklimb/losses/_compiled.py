"""Compiled twins of the loss kernels for CPU batches, when numba is installed.

A PyTorch kernel of :mod:`sklimb.losses` (for example
:func:`.focal.focal_kernel`) spends 15 to 30 tensor operations on a loss and
its gradient. At the batch sizes tabular networks train with (64 to 512 rows,
a few classes) each operation costs a few microseconds of dispatch whatever
its size, so a loss cost 2 to 7 times PyTorch's own two-operation
cross-entropy. The loops of :mod:`._loops`, compiled by numba, do the same
work in one call.

A loss module registers its kernel's twin with :func:`register`;
:func:`compiled_for` hands the twin to :func:`._base.run_loss` when

* numba can be imported (``pip install "sklimb[fast]"``); without it every
  loss keeps its PyTorch kernel, with the same results up to rounding (the
  loops compute in float64). A numba that is installed but fails to load
  (for example built for another NumPy) gives one warning, then the same
  fallback;
* the environment variable ``SKLIMB_NUMBA`` is not ``0`` (read at import), and
  numba's own ``NUMBA_DISABLE_JIT`` is not set;
* the logits are float32 or float64 on the CPU (half precision has already
  been promoted to float32) with at most :data:`COMPILED_MAX_ELEMENTS`
  entries (less for some loops and for many classes, see there): above that
  PyTorch's vectorised kernels are faster than a scalar loop.

Above that size a kernel may still hand the loops the part of its work that
PyTorch does in many passes (:func:`loop_on`), keeping PyTorch's vectorised
transcendental functions: GHM-C (:func:`.ghm.ghm_kernel`) lets PyTorch compute
``softplus`` and ``sigmoid`` and bins and weighs the results in one loop; the
softmax cross-entropies with many classes (plain with smoothing or sample
weights, LDAM, logit-adjusted, class-balanced) make the shifted logits in one
loop, let PyTorch take their softmax, and compute the losses and the gradient
in a second loop; the one-vs-rest class-balanced losses with many classes let
PyTorch compute ``softplus`` and ``sigmoid`` of the logits and compute the true
entries, the losses and the gradient in one loop.

numba compiles each loop on its first call and keeps the machine code in
its on-disk cache. Measured here (``benchmarks/bench_losses.py``), the
first call in a new process takes 1.2-2.9 s with an empty cache and about
0.3 s with the cache filled, most of it ``import numba``, which happens on
that first call and not when sklimb is imported.
"""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np
import torch

from ._fused import ValueAndGrad

#: CPU logits with at most this many entries (``n_samples * n_classes``) use the softmax
#: loops; the one-vs-rest loops (GHM-C, the sigmoid class-balanced losses), which evaluate
#: two transcendental functions per logit, stop at a quarter or an eighth of it, and with
#: more than :data:`MANY_CLASSES` classes every limit is a quarter (measured with
#: ``benchmarks/bench_losses.py`` against the PyTorch kernels, which vectorise exp and log)
COMPILED_MAX_ELEMENTS = 32768
MANY_CLASSES = 16
#: ``SKLIMB_NUMBA=0`` keeps every loss on its PyTorch kernel
ENABLED = os.environ.get("SKLIMB_NUMBA", "1") != "0"

#: the losses of :func:`._loops.softmax_rows`
CROSS_ENTROPY, FOCAL, DICE = 0, 1, 2

#: how the loops of :mod:`._loops` are told the reduction
REDUCTION_CODES = {"mean": 0, "sum": 1, "none": 2}
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
#: an empty array of each dtype the loops take: its type tells a loop the dtype behind an address
EMPTY = {dtype: np.empty(0, numpy_dtype) for dtype, numpy_dtype in _NUMPY_DTYPES.items()}
_TWINS = {}
_module = None  # the loops' module once imported, False if numba is missing


def loops():
    """The module of compiled loops, or ``None`` when numba cannot be imported."""
    global _module
    if _module is None:
        try:
            from . import _loops as module
        except ModuleNotFoundError as exc:
            if exc.name not in ("numba", "llvmlite"):
                raise
            module = False
        except (ImportError, OSError) as exc:
            warnings.warn(f"numba is installed but could not be loaded ({exc}); the sklimb "
                          "losses run on their PyTorch kernels.", RuntimeWarning, stacklevel=2)
            module = False
        else:
            if module.numba.config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: nothing is compiled
                module = False
        _module = module
    return _module or None


def available():
    """Whether the compiled loops can run here (numba installed and not disabled)."""
    return ENABLED and loops() is not None


class CompiledKernel:
    """A loop of :mod:`._loops` called with the arguments of a PyTorch kernel.

    ``name`` is the loop's entry point; ``arrange(args, dtype)`` picks the
    loop's own parameters from the kernel's arguments after ``target`` (its
    parameters, then ``weights`` and ``reduction``), with :func:`address`
    for a per-class tensor. The loop reads the logits, targets and weights and
    writes the gradient through their addresses: the tensors stay referenced
    for the whole call, and nothing is copied when they are contiguous.

    At the batch sizes the loops are for, each Python call and each object
    allocated on the way to the loop is a visible share of the loss's cost
    (``benchmarks/bench_losses.py``), hence the flat code of :meth:`run`
    and :meth:`LoopNode.forward`.
    """

    __slots__ = ("accepts", "arrange", "entries", "limits", "name")

    def __init__(self, name, arrange, share, accepts):
        self.name = name
        self.arrange = arrange
        self.accepts = accepts
        limit = COMPILED_MAX_ELEMENTS * share
        self.limits = (limit, limit / 4)  # up to MANY_CLASSES classes, above
        self.entries = {}  # logits dtype -> the loop's machine code, see compile()

    def compile(self, dtype, args):
        """The loop's compiled entry point for logits of ``dtype``, called with ``args``
        after the gradient's address.

        numba's dispatcher finds the machine code for the types of the arguments
        at every call. The argument types of a twin's loop depend only on the
        logits' dtype (addresses, sizes and flags are Python ints and bools, and
        ``arrange`` converts every parameter to the type the loop takes: an
        entry point converts what it is given to the types it was compiled
        for), so the entry point is looked up once per dtype and called
        directly. This compiles the loop or loads it from numba's cache.
        """
        dispatcher = getattr(loops(), self.name)
        entry = self.entries[dtype] = dispatcher.compile(
            tuple(dispatcher.typeof_pyval(arg) for arg in (0, *args)))
        return entry

    def run(self, logits, target, args):
        """The loss of validated inputs: one :class:`LoopNode` where a gradient is needed.

        ``args`` are the PyTorch kernel's arguments after ``target``:
        its parameters, the example weights (a tensor, ``None`` or
        :class:`PerClass`; :func:`._base.run_loss` applies weights that require a
        gradient outside the node) and the reduction. Everything but the gradient is
        prepared here, so that the node's forward pass only allocates the
        gradient and calls the loop; the tensors whose addresses the loop gets
        stay referenced by this frame until it returns.
        """
        weights, reduction, dtype = args[-2], args[-1], logits.dtype
        class_weight = None
        if weights is not None:
            if type(weights) is PerClass:  # indexed by the loop itself
                weights, class_weight = None, _constant(weights.weight, dtype)
            else:
                weights = _constant(weights, dtype)
        x = logits if logits.is_contiguous() else logits.contiguous()
        if not target.is_contiguous():
            target = target.contiguous()
        n_samples, n_classes = x.shape
        rows = torch.empty(n_samples, dtype=dtype) if reduction == "none" else None
        loop_args = (x.data_ptr(), target.data_ptr(),
                     0 if weights is None else weights.data_ptr(),
                     0 if class_weight is None else class_weight.data_ptr(),
                     0 if rows is None else rows.data_ptr(),
                     n_samples, n_classes, EMPTY[dtype], REDUCTION_CODES[reduction],
                     *self.arrange(args, dtype))
        entry = self.entries.get(dtype) or self.compile(dtype, loop_args)
        call = (x, rows, entry, loop_args)
        if logits.requires_grad and torch.is_grad_enabled():
            value = _apply_loop_node(logits, self, call)
        else:
            value = LoopNode.forward(None, logits, self, call)
        calls = RECORDING.calls
        if calls is not None:  # a loss module's forward pass is being recorded (see ._plan)
            calls.append((value, self, dtype, entry, loop_args, (class_weight, args)))
        return value


class _Recording(threading.local):
    #: per thread, the list :meth:`CompiledKernel.run` appends its calls to while
    #: :func:`._plan.recorded` runs a loss module's forward pass; ``None`` otherwise
    calls = None


RECORDING = _Recording()


class LoopNode(ValueAndGrad):
    """:class:`._fused.ValueAndGrad` for a compiled loop.

    ``forward(ctx, logits, twin, call)`` with ``call`` as prepared by
    :meth:`CompiledKernel.run`: the contiguous logits, the per-example values
    of ``reduction="none"`` (else ``None``), the loop's entry point and its
    arguments after the gradient's address. With ``ctx=None`` it returns the
    value alone and computes no gradient (no node is being built).
    """

    @staticmethod
    def forward(ctx, logits, twin, call):
        x, rows, entry, loop_args = call
        if ctx is None:
            total = entry(0, *loop_args)
        else:
            grad = torch.empty_like(x)
            total = entry(grad.data_ptr(), *loop_args)
            ctx.save_for_backward(grad)
        return torch.scalar_tensor(total, dtype=x.dtype) if rows is None else rows


#: ``LoopNode.apply`` without the Python wrapper (see ``._fused._apply_node``)
_apply_loop_node = super(torch.autograd.Function, LoopNode).apply


class PerClass:
    """Example weights ``weight[target]`` left unexpanded: a loss module's class ``weight``
    when it has no sample weights. A compiled loop indexes it itself; a PyTorch kernel gets
    it expanded (:func:`._base.run_loss`)."""

    __slots__ = ("weight",)

    def __init__(self, weight):
        self.weight = weight


def address(tensor, dtype):
    """The address of a per-class constant for a loop (0 for ``None``).

    The tensor must be contiguous and of the logits' ``dtype`` (the callers
    convert their constants with the logits), and stays referenced by the
    kernel's arguments for the whole call.
    """
    if tensor is None:
        return 0
    if tensor.dtype != dtype or not tensor.is_contiguous() or not tensor.is_cpu:
        raise RuntimeError(
            f"internal error: a per-class constant of dtype {tensor.dtype} (contiguous: "
            f"{tensor.is_contiguous()}) for {dtype} logits; please report this")
    return tensor.data_ptr()


def _constant(tensor, dtype):
    """Weights as a contiguous tensor of ``dtype``; the loop reads them through their
    address, whether they require a gradient or not."""
    if tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor if tensor.is_contiguous() else tensor.contiguous()


def register(kernel, loop, arrange, share=1.0, accepts=None):
    """Give the PyTorch ``kernel`` the compiled twin ``loop`` (a name in :mod:`._loops`),
    for logits of up to ``share * COMPILED_MAX_ELEMENTS`` entries and, if ``accepts`` is
    given, for the kernel arguments after ``target`` it returns true for."""
    _TWINS[kernel] = CompiledKernel(loop, arrange, share, accepts)


def compiled_for(kernel, logits, args=None):
    """``kernel``'s compiled twin where it applies to ``logits`` and, when given, the kernel's
    arguments after ``target`` (see :func:`register`), else ``kernel``."""
    twin = _TWINS.get(kernel)
    if twin is None or not ENABLED or not logits.is_cpu or logits.dtype not in _NUMPY_DTYPES:
        return kernel
    if torch._C._are_functorch_transforms_active():  # wrapped tensors have no address
        return kernel
    n_samples, n_classes = logits.shape
    if n_samples * n_classes > twin.limits[n_classes > MANY_CLASSES]:
        return kernel
    if not _module and loops() is None:  # numba missing (a global read, not a call, once loaded)
        return kernel
    if args is not None and twin.accepts is not None and not twin.accepts(args):
        return kernel
    return twin


def loop_on(name, tensor):
    """The compiled loop ``name`` of :mod:`._loops` (a numba dispatcher, called with NumPy
    arrays) when the loops can run on ``tensor`` (float32 or float64 on the CPU, outside
    functorch transforms), whatever its size; else ``None``.

    For kernels that hand the loops only part of their work on large batches, where the
    per-call cost of a dispatcher does not matter.
    """
    if (not ENABLED or not tensor.is_cpu or tensor.dtype not in _NUMPY_DTYPES
            or torch._C._are_functorch_transforms_active()):
        return None
    module = loops()
    return None if module is None else getattr(module, name)


def reduced_in_loop(loop, args, weights, reduction, dtype, n_samples):
    """The value of a loss whose loop from :func:`loop_on` reduces the per-example losses
    itself, as every loop of :mod:`._loops` does: it is called with ``args``, then the
    example ``weights`` (or ``None``), the reduction code and the array for the per-example
    values of ``reduction="none"``; returns the reduced value as a 0-d tensor of ``dtype``,
    or the per-example values."""
    rows = torch.empty(n_samples, dtype=dtype) if reduction == "none" else None
    w = EMPTY[dtype] if weights is None else weights.detach().to(dtype).contiguous().numpy()
    total = loop(*args, w, REDUCTION_CODES[reduction],
                 EMPTY[dtype] if rows is None else rows.numpy())
    return torch.scalar_tensor(total, dtype=dtype) if rows is None else rows


def warm_up():
    """Compile every loop for float32 logits, or load it from numba's cache, untimed.

    The first call of a loop in a process compiles it (1.2-2.9 s with an empty cache)
    or loads it (about 0.3 s, mostly ``import numba``); a caller that times fits, such
    as :func:`sklimb.compare`, calls this first so that the cost is not reported as the
    fit time of whichever strategy happens to run first. Does nothing without numba.
    """
    if not available():
        return
    from . import ClassBalancedLoss, FocalLoss, GHMCLoss  # the losses register the twins

    target = torch.tensor([0, 1])
    for loss in (FocalLoss(), GHMCLoss(momentum=0.5), ClassBalancedLoss([1, 1], base="sigmoid")):
        loss(torch.zeros(2, 2, requires_grad=True), target).backward()
