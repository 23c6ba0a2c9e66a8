"""The compiled CPU backend of the losses: one numba loop per loss, on NumPy arrays.

At the batch sizes tabular networks train with, a loss composed of PyTorch
operations costs per-operation dispatch, not arithmetic. Each loop here computes
one loss *and* its gradient in one pass over the rows, in float64, and
:class:`CompiledLoss` makes it one autograd node. The compositions in the loss
modules stay the definitions: a shared test holds every loop equal to its
composition, and a backward pass that builds a graph differentiates the
composition itself. This module imports nothing else of sklimb; :func:`runs_on`
is the one guard that decides when a loop runs, after every input check.

Every loop is ``loop(x, t, params, data, cw, sw, reduction, value, grad,
with_grad)``: ``(n, C)`` logits ``x`` (float32 or float64), int64 targets ``t``,
float64 ``params`` (hyperparameters) and ``data`` (LDAM's margins, GHM-C's running
densities, which the loop updates; empty for none), class and sample weights ``cw``,
``sw`` in the logits' dtype (empty when absent), ``reduction`` 0 (mean), 1 (sum) or 2. It
returns the reduced loss, writes the weighted per-example losses into ``value``
for ``"none"`` and, with ``with_grad``, the gradient of the result into ``grad``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

try:
    import numba
except ImportError:  # the losses run on their compositions alone
    numba = None

#: ``SKLIMB_NUMBA=0`` turns the backend off (read at import)
ENABLED = numba is not None and os.environ.get("SKLIMB_NUMBA", "1") != "0"
#: larger logits run on the compositions, whose vectorised operations win there
MAX_ELEMENTS = 32768
#: below this ``u = 1 - p_t``, focal's ``log(1 - u) / u`` is its series ``-1 - u / 2``
SERIES_BELOW = 1e-4
REDUCTION_CODES = {"mean": 0, "sum": 1, "none": 2}
_FLOAT_DTYPES = (torch.float32, torch.float64)
_PLAIN = (torch.Tensor, torch.nn.Parameter)  # not a subclass such as a fake or traced tensor
TINY = np.finfo(np.float64).tiny


def _jit(function):
    if numba is None:
        return function
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # no writable cache location: compile in every process
        return numba.njit(nogil=True)(function)


@_jit
def mean_norm(t, cw, sw, reduction):
    """``1 / sum(w_i)`` for the mean (0 when every weight is 0), else 1."""
    n = t.shape[0]
    if reduction != 0:
        return 1.0
    if cw.shape[0] == 0 and sw.shape[0] == 0:
        return 1.0 / n
    total = 0.0
    for i in range(n):
        total += example_weight(i, t[i], cw, sw)
    return 1.0 / total if total > TINY else 0.0


@_jit
def example_weight(i, ti, cw, sw):
    w = 1.0
    if cw.shape[0]:
        w *= cw[ti]
    if sw.shape[0]:
        w *= sw[i]
    return w


@_jit
def store(i, weighted_loss, reduction, value):
    """Keep row ``i``'s weighted loss for ``"none"``; return what it adds to the total."""
    if reduction == 2:
        value[i] = weighted_loss
        return 0.0
    return weighted_loss


@_jit
def softmax_row(z, ti, p):
    """``p = softmax(z)``; returns ``(log p_t, u, lse)`` with ``u = 1 - p_t`` summed from
    the other probabilities (no cancellation as ``p_t -> 1``)."""
    n_classes = z.shape[0]
    m = z[0]
    for c in range(1, n_classes):  # a plain loop: ndarray.max() costs more at this size
        if z[c] > m:
            m = z[c]
    s = 0.0
    for c in range(n_classes):
        p[c] = math.exp(z[c] - m)
        s += p[c]
    inverse = 1.0 / s
    u = 0.0
    for c in range(n_classes):
        p[c] *= inverse
        if c != ti:
            u += p[c]
    lse = m + math.log(s)
    return z[ti] - lse, u, lse


@_jit
def power(u, a):
    """``u**a`` for ``u >= 0``, from ``exp`` and ``log`` (cheaper than ``pow``), exact
    for the common ``a = 0`` and ``a = 2``."""
    if a == 0.0:
        return 1.0
    if a == 2.0:
        return u * u
    return math.exp(a * math.log(u)) if u > 0.0 else 0.0


@_jit
def softplus_sigmoid(a):
    """``(log(1 + exp(a)), sigmoid(a))`` without overflow, from one exponential."""
    e = math.exp(-abs(a))
    g = 1.0 / (1.0 + e) if a >= 0.0 else e / (1.0 + e)
    return max(a, 0.0) + math.log1p(e), g


@_jit
def ldam_loop(x, t, params, data, cw, sw, reduction, value, grad, with_grad):
    """:func:`.long_tail.ldam_rows`, cross-entropy of ``z = s (x - margin_t onehot_t)`` with
    ``params = (s,)`` and the margins in ``data``; its gradient is ``s (p - onehot)``."""
    scale = params[0]
    n, n_classes = x.shape
    z, p = np.empty(n_classes), np.empty(n_classes)
    norm = mean_norm(t, cw, sw, reduction)
    total = 0.0
    for i in range(n):
        ti = t[i]
        for c in range(n_classes):
            z[c] = scale * x[i, c]
        z[ti] -= scale * data[ti]
        log_pt, u, _ = softmax_row(z, ti, p)
        w = example_weight(i, ti, cw, sw)
        total += store(i, -w * log_pt, reduction, value)
        if with_grad:
            r = w * norm * scale
            for c in range(n_classes):
                grad[i, c] = r * p[c]
            grad[i, ti] = -r * u
    return total * norm


@_jit
def focal_loop(x, t, params, data, cw, sw, reduction, value, grad, with_grad):
    """:func:`.focal.focal_rows`, ``-u**gamma log p_t`` with ``u = 1 - p_t``. Its gradient is
    ``c (p - onehot)``, ``c = u**gamma (1 - gamma p_t log p_t / u)``, finite for every
    ``gamma >= 0`` (``log p_t / u`` from its series ``-1 - u / 2`` for small ``u``)."""
    gamma = params[0]
    n, n_classes = x.shape
    z, p = np.empty(n_classes), np.empty(n_classes)
    norm = mean_norm(t, cw, sw, reduction)
    total = 0.0
    for i in range(n):
        ti = t[i]
        for c in range(n_classes):
            z[c] = x[i, c]
        log_pt, u, _ = softmax_row(z, ti, p)
        u_gamma = power(u, gamma)
        w = example_weight(i, ti, cw, sw)
        total += store(i, -w * u_gamma * log_pt, reduction, value)
        if with_grad:
            ratio = log_pt / u if u > SERIES_BELOW else -1.0 - 0.5 * u
            coef = w * norm * u_gamma * (1.0 - gamma * p[ti] * ratio)
            for c in range(n_classes):
                grad[i, c] = coef * p[c]
            grad[i, ti] = -coef * u
    return total * norm


@_jit
def dice_loop(x, t, params, data, cw, sw, reduction, value, grad, with_grad):
    """:func:`.dice.dice_rows`, ``(1 - q) / (q + 1 + smooth)`` with ``q = u**alpha p_t``.

    The gradient is ``c (p - onehot)`` with ``c = K p_t u**(alpha - 1) (u - alpha p_t)``,
    ``K = (2 + smooth) / (q + 1 + smooth)**2``; off the true class ``c p_j`` is bounded
    because ``p_j <= u``, and the true entry is ``-K p_t u**alpha (u - alpha p_t)``.
    """
    alpha, smooth = params[0], params[1]
    n, n_classes = x.shape
    z, p = np.empty(n_classes), np.empty(n_classes)
    norm = mean_norm(t, cw, sw, reduction)
    total = 0.0
    for i in range(n):
        ti = t[i]
        for c in range(n_classes):
            z[c] = x[i, c]
        _, u, _ = softmax_row(z, ti, p)
        p_t = p[ti]
        u_alpha = power(u, alpha)
        q = u_alpha * p_t
        denominator = q + 1.0 + smooth
        w = example_weight(i, ti, cw, sw)
        total += store(i, w * (1.0 - q) / denominator, reduction, value)
        if with_grad:
            k = w * norm * (2.0 + smooth) / (denominator * denominator) * p_t
            if alpha != 0.0:
                k *= u - alpha * p_t
                true_entry = -k * u_alpha
                k *= u_alpha / u if u >= TINY else max(u, TINY) ** (alpha - 1.0)
            else:
                true_entry = -k * u
            for c in range(n_classes):
                grad[i, c] = k * p[c]
            grad[i, ti] = true_entry
    return total * norm


@_jit
def sigmoid_loop(x, t, params, data, cw, sw, reduction, value, grad, with_grad):
    """:func:`.class_balanced.sigmoid_rows`, ``sum_c g**gamma softplus(a_c)`` with ``g =
    sigmoid(a)``; the derivative by ``a_c`` is ``g**gamma (gamma (1 - g) softplus(a_c) +
    g)``, its sign flipped back for the true entry."""
    gamma = params[0]
    n, n_classes = x.shape
    norm = mean_norm(t, cw, sw, reduction)
    total = 0.0
    for i in range(n):
        ti = t[i]
        w = example_weight(i, ti, cw, sw)
        loss = 0.0
        for c in range(n_classes):
            a = -x[i, c] if c == ti else float(x[i, c])
            bce, g = softplus_sigmoid(a)
            g_gamma = power(g, gamma)
            loss += g_gamma * bce
            if with_grad:
                d = w * norm * g_gamma * (gamma * (1.0 - g) * bce + g)
                grad[i, c] = -d if c == ti else d
        total += store(i, w * loss, reduction, value)
    return total * norm


@_jit
def ghm_loop(x, t, params, data, cw, sw, reduction, value, grad, with_grad):
    """:func:`.ghm.ghm_rows`: one-vs-rest BCE ``softplus(a)`` of every logit weighted by
    the harmonizing weight of its gradient norm ``g = sigmoid(a)``, averaged per row.

    ``params = (bins, momentum, update)``; ``data`` holds the moving average of the bin
    densities (empty for none), updated in place when ``update``. The weights are
    constants of the gradient ``beta * g`` (sign flipped on the true entry).
    """
    bins, momentum, update = int(params[0]), params[1], params[2] != 0.0
    n, n_classes = x.shape
    bce, g, index = np.empty((n, n_classes)), np.empty((n, n_classes)), np.empty((n, n_classes),
                                                                                np.int64)
    counts = np.zeros(bins)
    for i in range(n):
        for c in range(n_classes):
            bce[i, c], g[i, c] = softplus_sigmoid(-x[i, c] if c == t[i] else float(x[i, c]))
            gic = g[i, c]
            index[i, c] = min(int(gic * bins), bins - 1) if gic > 0.0 else 0  # NaN: first bin
            counts[index[i, c]] += 1.0
    n_nonempty = 0
    for b in range(bins):
        n_nonempty += counts[b] > 0.0
        counts[b] /= n * n_classes  # the batch's density
    if data.shape[0] and momentum > 0.0:
        if data.sum() > 0.0:  # an all-zero state has never been updated
            for b in range(bins):
                counts[b] = momentum * data[b] + (1.0 - momentum) * counts[b]
        if update:
            data[:] = counts
    for b in range(bins):  # the weight of each bin, in place of its density
        counts[b] = 1.0 / (counts[b] * n_nonempty) if counts[b] > 0.0 else 0.0
    norm = mean_norm(t, cw, sw, reduction)
    total = 0.0
    for i in range(n):
        ti = t[i]
        w = example_weight(i, ti, cw, sw)
        loss = 0.0
        for c in range(n_classes):
            beta = counts[index[i, c]]
            loss += beta * bce[i, c]
            if with_grad:
                d = w * norm * beta * g[i, c] / n_classes
                grad[i, c] = -d if c == ti else d
        total += store(i, w * loss / n_classes, reduction, value)
    return total * norm


def runs_on(logits, target, *tensors):
    """Whether a loop computes this call: numba enabled, float32/float64 logits of at most
    :data:`MAX_ELEMENTS` entries, every tensor (or ``None``) a plain strided CPU tensor
    without negative or conjugate bit, no weight that requires a gradient, and no
    tracing, ``torch.compile`` or ``torch.func`` transform active."""
    if not ENABLED or logits.dtype not in _FLOAT_DTYPES or logits.numel() > MAX_ELEMENTS:
        return False
    if (torch._C._are_functorch_transforms_active() or torch.compiler.is_compiling()
            or torch.jit.is_tracing()):
        return False
    for tensor in (logits, target, *tensors):
        if tensor is None:
            continue
        if (type(tensor) not in _PLAIN or tensor.device.type != "cpu"
                or tensor.layout is not torch.strided or tensor.is_neg() or tensor.is_conj()):
            return False
        if tensor is not logits and tensor.requires_grad:
            return False
    return True


def _array(tensor, dtype):
    """A NumPy array of ``tensor`` in ``dtype`` (a view when it is contiguous already)."""
    return tensor.detach().to(dtype).contiguous().numpy()


def run(name, logits, target, params, weight, sample_weight, reduction, reference,
        data=None, update=False):
    r"""The loss of checked inputs computed by the loop ``name``, as one autograd node.

    ``reference(logits)`` is the composition, differentiated by a backward pass that
    builds a graph; ``data`` a tensor the loop reads in float64, through a copy that is
    copied back after the call with ``update`` (GHM-C's densities, which the loop updates).
    """
    dtype = logits.dtype
    empty = _EMPTY[dtype]
    args = (globals()[name], target.contiguous().numpy(), np.array(params, dtype=np.float64),
            _NO_DATA if data is None else data.detach().to(torch.float64, copy=update),
            empty if weight is None else _array(weight, dtype),
            empty if sample_weight is None else _array(sample_weight, dtype),
            REDUCTION_CODES[reduction], data if update else None)
    if logits.requires_grad and torch.is_grad_enabled():
        return CompiledLoss.apply(logits, args, reference)
    return _call(logits, args, with_grad=False)[0]


_EMPTY = {torch.float32: np.empty(0, np.float32), torch.float64: np.empty(0, np.float64)}
_NO_DATA = torch.empty(0, dtype=torch.float64)


def _call(logits, args, with_grad):
    loop, t, params, copy, cw, sw, reduction, updated = args
    x = logits.detach().contiguous()
    value = torch.empty(x.shape[0] if reduction == 2 else 0, dtype=x.dtype)
    grad = torch.empty_like(x) if with_grad else x.new_empty((0, 0))
    total = loop(x.numpy(), t, params, copy.numpy(), cw, sw, reduction, value.numpy(),
                 grad.numpy(), with_grad)
    if updated is not None:  # a buffer, or a tensor that requires no gradient (runs_on)
        updated.copy_(copy)
    return (value if reduction == 2 else torch.tensor(total, dtype=x.dtype)), grad


class CompiledLoss(torch.autograd.Function):
    """A loop's loss as one autograd node, its gradient computed with the value; a backward
    pass that builds a graph (``create_graph=True``) differentiates the composition, so
    that second derivatives are those of the loss itself."""

    @staticmethod
    def forward(ctx, logits, args, reference):
        value, grad = _call(logits, args, with_grad=True)
        ctx.reference = reference
        ctx.save_for_backward(logits, grad)
        return value

    @staticmethod
    def backward(ctx, grad_output):
        logits, grad = ctx.saved_tensors
        if torch.is_grad_enabled():
            (grad,) = torch.autograd.grad(ctx.reference(logits), logits, grad_output,
                                          create_graph=True)
            return grad, None, None
        if grad_output.ndim:
            return grad * grad_output.unsqueeze(1), None, None
        return grad * grad_output, None, None


def warm_up():
    """Compile every loop (each ``*_loop`` of this module) for float32 and float64 logits, or
    load it from numba's cache."""
    loops = [value for name, value in globals().items() if name.endswith("_loop")]
    for dtype in (np.float32, np.float64) if ENABLED else ():
        x, empty, grad = np.zeros((2, 2), dtype), np.empty(0, dtype), np.empty((2, 2), dtype)
        for loop in loops:  # parameters every loop accepts, for two classes
            loop(x, np.array([0, 1]), np.array([2.0, 0.5, 1.0]), np.zeros(2), empty, empty, 0,
                 empty, grad, True)
