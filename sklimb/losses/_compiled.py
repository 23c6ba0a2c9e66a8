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
* the environment variable ``SKLIMB_NUMBA`` is not ``0`` (read at import);
* the logits are float32 or float64 on the CPU (half precision has already
  been promoted to float32) with at most :data:`COMPILED_MAX_ELEMENTS`
  entries (less for some loops and for many classes, see there): above that
  PyTorch's vectorised kernels are faster than a scalar loop.

numba compiles each loop on its first call and keeps the machine code in
its on-disk cache. Measured here (``benchmarks/bench_losses.py``), the
first call in a new process takes 1.4-2.4 s with an empty cache and about
0.3 s with the cache filled, most of it ``import numba``, which happens on
that first call and not when sklimb is imported.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch

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

_REDUCTIONS = {"mean": 0, "sum": 1, "none": 2}
_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}
_EMPTY = {dtype: np.empty(0, numpy_dtype) for dtype, numpy_dtype in _NUMPY_DTYPES.items()}
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
        _module = module
    return _module or None


def available():
    """Whether the compiled loops can run here (numba installed and not disabled)."""
    return ENABLED and loops() is not None


class CompiledKernel:
    """A loop of :mod:`._loops` called with the arguments of a PyTorch kernel.

    ``name`` is the loop's entry point; ``arrange(args, dtype)`` picks the
    loop's own parameters from the kernel's arguments after ``target`` (the
    kernel's parameters, then ``weights`` and ``reduction``, and for a twin
    the per-class weights that :func:`._base.run_loss` left unexpanded),
    with :func:`address` for a per-class tensor. The loop
    reads the logits, targets and weights and writes the gradient through
    their addresses: the tensors stay referenced here for the whole call, and
    nothing is copied when they are contiguous.
    """

    __slots__ = ("accepts", "arrange", "loop", "name", "share")

    def __init__(self, name, arrange, share, accepts):
        self.name = name
        self.arrange = arrange
        self.share = share
        self.accepts = accepts
        self.loop = None

    def covers(self, logits):
        """Whether these logits are small enough for the loop to beat the PyTorch kernel."""
        n_samples, n_classes = logits.shape
        limit = COMPILED_MAX_ELEMENTS * self.share
        return n_samples * n_classes <= (limit if n_classes <= MANY_CLASSES else limit / 4)

    def __call__(self, logits, target, *args, with_grad):
        loop = self.loop
        if loop is None:
            loop = self.loop = getattr(loops(), self.name)
        x = logits.detach().contiguous()
        target = target.contiguous()
        dtype = x.dtype
        weights, reduction, class_weight = args[-3], args[-2], args[-1]
        if weights is not None:
            weights = _contiguous(weights, dtype)
        if class_weight is not None:
            class_weight = _contiguous(class_weight, dtype)
        rows = torch.empty(x.shape[0], dtype=dtype) if reduction == "none" else None
        grad = torch.empty_like(x) if with_grad else None
        total = loop(x.data_ptr(), target.data_ptr(),
                     0 if weights is None else weights.data_ptr(),
                     0 if class_weight is None else class_weight.data_ptr(),
                     0 if rows is None else rows.data_ptr(),
                     0 if grad is None else grad.data_ptr(),
                     x.shape[0], x.shape[1], _EMPTY[dtype], _REDUCTIONS[reduction], with_grad,
                     *self.arrange(args, dtype))
        return (torch.scalar_tensor(total, dtype=dtype) if rows is None else rows), grad


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


def _contiguous(tensor, dtype):
    """A constant tensor as a contiguous tensor of ``dtype``."""
    tensor = tensor.detach()
    if tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor.contiguous()


def register(kernel, loop, arrange, share=1.0, accepts=None):
    """Give the PyTorch ``kernel`` the compiled twin ``loop`` (a name in :mod:`._loops`),
    for logits of up to ``share * COMPILED_MAX_ELEMENTS`` entries and, if ``accepts`` is
    given, for the kernel parameters (those before ``weights``) it returns true for."""
    _TWINS[kernel] = CompiledKernel(loop, arrange, share, accepts)


def compiled_for(kernel, logits, params=None):
    """``kernel``'s compiled twin where it applies to ``logits`` and, when given, the kernel's
    ``params`` (see above), else ``kernel``."""
    twin = _TWINS.get(kernel)
    if (twin is None or not ENABLED or not logits.is_cpu or logits.dtype not in _NUMPY_DTYPES
            or not twin.covers(logits) or loops() is None
            or (params is not None and twin.accepts is not None and not twin.accepts(params))):
        return kernel
    return twin


def warm_up():
    """Compile every loop for float32 logits, or load it from numba's cache, untimed.

    The first call of a loop in a process compiles it (1.4-2.4 s with an empty cache)
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
