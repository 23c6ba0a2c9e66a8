"""Row loops of the losses, compiled by numba (imported only when numba is installed).

Each loop computes a loss *and* its gradient with respect to the logits in one
pass over the rows of a batch, the work the PyTorch kernels of the loss
modules spread over 15 to 30 tensor operations. At the batch sizes tabular
networks train with, those operations cost per-call overhead, not
arithmetic; a loop costs one call (see :mod:`._compiled` for when it runs).

Conventions shared by every loop:

* ``x`` is the ``(n, C)`` array of logits (float32 or float64), ``t`` the
  int64 targets; a target outside ``[0, C)`` raises ``IndexError`` (in
  :func:`_views`, where every entry point starts) before anything is written;
* ``w`` holds the example weights, or is empty for none; ``reduction`` is 0
  (mean), 1 (sum) or 2 (none), with the weighted mean of
  :mod:`sklimb.losses._base` (all-zero weights give 0, not 0/0);
* the loop returns the reduced loss (mean, sum); for ``reduction="none"``
  it writes the weighted per-example losses into ``value``, an ``(n,)``
  array (empty otherwise);
* ``grad`` is an ``(n, C)`` array, or an empty one when no gradient is
  needed (``with_grad`` false);
* arithmetic is in float64, whatever the dtype of the logits.

The formulas are those of the PyTorch kernels (:func:`.focal.focal_kernel`,
:func:`.cross_entropy.softmax_ce_kernel`, :func:`.dice.dice_kernel`,
:func:`.class_balanced.sigmoid_kernel`, :func:`.ghm.ghm_kernel`), whose
docstrings derive the gradients; the tests run every loss on both.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from ._compiled import CROSS_ENTROPY, FOCAL
from .focal import SERIES_BELOW

TINY = np.finfo(np.float64).tiny


def _jit(function=None, **options):
    """``numba.njit`` with an on-disk cache where numba finds a writable place for one;
    ``options`` go to ``numba.njit`` (``@_jit(fastmath=...)``)."""
    if function is None:
        return lambda function: _jit(function, **options)
    try:
        return numba.njit(cache=True, nogil=True, **options)(function)
    except RuntimeError:  # no cache locator (a read-only install without a user cache dir)
        return numba.njit(nogil=True, **options)(function)


@intrinsic
def _pointer(typingctx, address, like):
    """The integer ``address`` as a pointer to elements of the dtype of the array ``like``."""
    signature = types.CPointer(like.dtype)(address, like)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return signature, codegen


_INDEX = np.empty(0, np.int64)


@_jit
def _views(pg, px, pt, pw, pcw, pv, n, n_classes, like):
    """Arrays over the tensors' memory: logits, targets, example weights, per-example values
    and gradient. Every entry point starts here, so the targets are checked here, for every
    loop.

    An address of 0 (an absent tensor) gives an empty array. Class weights (``pcw``) are
    multiplied into the example weights: ``w_i = class_weight[t_i] * w_i``.
    """
    x = numba.carray(_pointer(px, like), (n, n_classes))
    t = numba.carray(_pointer(pt, _INDEX), n)
    check_targets(t, n_classes)  # once, before anything is indexed with them
    w = numba.carray(_pointer(pw, like), n if pw else 0)
    v = numba.carray(_pointer(pv, like), n if pv else 0)
    g = numba.carray(_pointer(pg, like), (n if pg else 0, n_classes if pg else 0))
    if pcw:
        class_weight = numba.carray(_pointer(pcw, like), n_classes)
        combined = np.empty(n, dtype=like.dtype)
        for i in range(n):
            combined[i] = class_weight[t[i]] * (w[i] if pw else 1.0)
        return x, t, combined, v, g
    return x, t, w, v, g


@_jit
def check_targets(t, n_classes):
    for i in range(t.shape[0]):
        if t[i] < 0 or t[i] >= n_classes:
            raise IndexError("target out of range")


@_jit
def mean_norm(w, n, reduction):
    """The factor turning example weights into row scales: ``1 / sum(w)`` for the mean."""
    if reduction != 0:
        return 1.0
    if w.shape[0] == 0:
        return 1.0 / n
    total = 0.0
    for i in range(n):
        total += w[i]
    return 1.0 / total if total > TINY else 0.0


@_jit
def softplus_sigmoid(a):
    """``(log(1 + exp(a)), sigmoid(a))`` without overflow, from one exponential."""
    e = math.exp(-abs(a))
    g = 1.0 / (1.0 + e) if a >= 0.0 else e / (1.0 + e)
    return max(a, 0.0) + math.log1p(e), g


@_jit
def row_terms(kind, a, b, scale, n_classes, log_pt, u, p_t, log_p_sum):
    """One example's loss and the factors of its gradient, from its softmax statistics.

    ``log_pt``, ``u = 1 - p_t``, ``p_t`` and ``log_p_sum`` (the sum of the
    log-probabilities, for label smoothing) describe the softmax of the row.
    Returns ``(loss, coef, shift, true_entry)``: the gradient of the loss
    with respect to logit ``c`` is ``coef * (p_c - shift)`` for ``c != y``
    and ``true_entry`` for ``c = y``.
    """
    shift = 0.0
    if kind == CROSS_ENTROPY:
        loss = -(1.0 - a) * log_pt - a / n_classes * log_p_sum
        coef = scale
        shift = a / n_classes
        true_entry = -scale * (u - a * (1.0 - 1.0 / n_classes))
    elif kind == FOCAL:
        u_gamma = u * u if a == 2.0 else u ** a
        loss = -u_gamma * log_pt
        if a == 0.0:
            coef = 1.0
        else:
            ratio = log_pt / u if u > SERIES_BELOW else -1.0 - 0.5 * u
            coef = u_gamma * (1.0 - a * p_t * ratio)
        true_entry = -coef * u
    else:
        # u**alpha and u**(alpha - 1) from one logarithm (u kept above the smallest
        # normal number, which only matters where every p_j has underflowed already)
        log_u = math.log(max(u, TINY)) if a != 0.0 else 0.0
        if a == 0.0:
            u_alpha = 1.0
        else:
            u_alpha = math.exp(a * log_u) if u > 0.0 else 0.0
        q = u_alpha * p_t
        denominator = q + 1.0 + b
        loss = (1.0 - q) / denominator
        k = (2.0 + b) / (denominator * denominator) * p_t
        if a != 0.0:
            k *= u - a * p_t
            true_entry = -k * u_alpha
            coef = k * (u_alpha / u if u >= TINY else math.exp((a - 1.0) * log_u))
        else:
            coef = k
            true_entry = -k * u
    return loss, coef, shift, true_entry


@_jit
def softmax_rows(x, t, kind, a, b, scale, bias, bias_scale, margin, w, reduction, value, grad,
                 with_grad):
    """Softmax losses of ``z = scale * (x - margin[y] * onehot) + bias_scale * bias``.

    ``kind`` is :data:`CROSS_ENTROPY` (label smoothing ``a``; the gradient
    carries the factor ``scale``), :data:`FOCAL` (``gamma = a``) or
    :data:`DICE` (``alpha = a``, ``smooth = b``); ``bias`` and ``margin``
    (per class) may be empty. Two classes take :func:`binary_softmax_rows`.
    """
    n, n_classes = x.shape
    if n_classes == 2:
        return binary_softmax_rows(x, t, kind, a, b, scale, bias, bias_scale, margin, w,
                                   reduction, value, grad, with_grad)
    has_w, has_bias, has_margin = w.shape[0] > 0, bias.shape[0] > 0, margin.shape[0] > 0
    norm = mean_norm(w, n, reduction)
    e = np.empty(n_classes)
    total = 0.0
    for i in range(n):
        ti = t[i]
        # the shifted logits, their maximum and their sum
        m = -np.inf
        z_sum = 0.0
        z_t = 0.0
        for c in range(n_classes):
            z = scale * x[i, c]
            if has_bias:
                z += bias_scale * bias[c]
            if c == ti:
                if has_margin:
                    z -= scale * margin[ti]
                z_t = z
            e[c] = z
            z_sum += z
            if z > m:
                m = z
        s = 0.0
        for c in range(n_classes):
            e[c] = math.exp(e[c] - m) if e[c] != m else 1.0  # the largest needs no exp
            s += e[c]
        lse = m + math.log(s)
        log_pt = z_t - lse
        inv_s = 1.0 / s
        u = 0.0  # 1 - p_t, summed from the other probabilities
        for c in range(n_classes):
            if c != ti:
                u += e[c]
        u *= inv_s
        loss, coef, shift, true_entry = row_terms(kind, a, b, scale, n_classes, log_pt, u,
                                                  e[ti] * inv_s, z_sum - n_classes * lse)
        weight = w[i] if has_w else 1.0
        if reduction == 2:
            value[i] = weight * loss
        else:
            total += weight * loss
        if with_grad:
            row_scale = weight * norm
            factor = row_scale * coef
            for c in range(n_classes):
                grad[i, c] = factor * (e[c] * inv_s - shift)
            grad[i, ti] = row_scale * true_entry
    return total * norm


@_jit
def binary_softmax_rows(x, t, kind, a, b, scale, bias, bias_scale, margin, w, reduction, value,
                        grad, with_grad):
    """:func:`softmax_rows` for two classes, with no loop over the classes.

    With ``d = z_other - z_t``: ``log p_t = -softplus(d)`` and
    ``1 - p_t = sigmoid(d)``, from one ``exp`` and one ``log1p``.
    """
    n = x.shape[0]
    has_w, has_bias, has_margin = w.shape[0] > 0, bias.shape[0] > 0, margin.shape[0] > 0
    norm = mean_norm(w, n, reduction)
    total = 0.0
    for i in range(n):
        ti = t[i]
        other = 1 - ti
        z_t = scale * x[i, ti]
        z_other = scale * x[i, other]
        if has_bias:
            z_t += bias_scale * bias[ti]
            z_other += bias_scale * bias[other]
        if has_margin:
            z_t -= scale * margin[ti]
        d = z_other - z_t
        q = math.exp(-abs(d))
        log_pt = -(max(d, 0.0) + math.log1p(q))
        r = 1.0 / (1.0 + q)
        u = r if d >= 0.0 else q * r
        p_t = q * r if d >= 0.0 else r
        loss, coef, shift, true_entry = row_terms(kind, a, b, scale, 2, log_pt, u, p_t,
                                                  2.0 * log_pt + d)
        weight = w[i] if has_w else 1.0
        if reduction == 2:
            value[i] = weight * loss
        else:
            total += weight * loss
        if with_grad:
            row_scale = weight * norm
            grad[i, other] = row_scale * coef * (u - shift)
            grad[i, ti] = row_scale * true_entry
    return total * norm


@_jit
def sigmoid_rows(x, t, gamma, w, reduction, value, grad, with_grad):
    """One-vs-rest BCE summed over the classes; the sigmoid focal form for ``gamma > 0``."""
    n, n_classes = x.shape
    has_w = w.shape[0] > 0
    norm = mean_norm(w, n, reduction)
    total = 0.0
    for i in range(n):
        ti = t[i]
        weight = w[i] if has_w else 1.0
        row_scale = weight * norm
        loss = 0.0
        for c in range(n_classes):
            a = -x[i, c] if c == ti else float(x[i, c])
            bce, g = softplus_sigmoid(a)
            if gamma != 0.0:
                g_gamma = g ** gamma
                loss += g_gamma * bce
                d = g_gamma * (gamma * (1.0 - g) * bce + g)
            else:
                loss += bce
                d = g
            if with_grad:
                grad[i, c] = -row_scale * d if c == ti else row_scale * d
        if reduction == 2:
            value[i] = weight * loss
        else:
            total += weight * loss
    return total * norm


@_jit
def ghm_bin(g, bins):
    """The bin of a gradient norm ``g`` in ``[0, 1]``: ``g == 1`` belongs to the last bin, and
    NaN to the first (its loss is NaN)."""
    k = int(g * bins) if g > 0.0 else 0
    return min(k, bins - 1)


@_jit
def ghm_bin_weights(counts, n_norms, running_density, momentum, update):
    """The harmonizing weight of each bin from the ``counts`` of ``n_norms`` gradient norms,
    written over ``counts`` (``bins`` entries) and returned.

    ``running_density`` (empty for none) is the EMA state, updated in place when
    ``update`` and ``momentum > 0``.
    """
    bins = counts.shape[0]
    # the bin densities, in place of the counts
    n_nonempty = 0
    for k in range(bins):
        if counts[k] > 0.0:
            n_nonempty += 1
        counts[k] /= n_norms
    density = counts
    if running_density.shape[0] > 0 and momentum > 0.0:
        state = 0.0
        for k in range(bins):
            state += running_density[k]
        if state > 0.0:  # an all-zero state has never been updated: the batch's density
            for k in range(bins):
                density[k] = momentum * running_density[k] + (1.0 - momentum) * density[k]
        if update:
            for k in range(bins):
                running_density[k] = density[k]
    for k in range(bins):  # the harmonizing weight of each bin, in place of its density
        # (a bin of density 0 holds no norm of this batch: its weight is never read)
        density[k] = 1.0 / (density[k] * n_nonempty) if density[k] > 0.0 else np.inf
    return density


@_jit
def ghm_rows(x, t, bins, running_density, momentum, update, w, reduction, value, grad,
             with_grad):
    """GHM-C: per-logit BCE weighted by the inverse density of its gradient norm.

    ``running_density`` (empty for none) is the EMA state, updated in place
    when ``update`` and ``momentum > 0``.
    """
    n, n_classes = x.shape
    has_w = w.shape[0] > 0
    norm = mean_norm(w, n, reduction)
    g = np.empty((n, n_classes))
    bce = np.empty((n, n_classes))
    counts = np.zeros(bins)
    for i in range(n):
        for c in range(n_classes):
            a = -x[i, c] if c == t[i] else float(x[i, c])
            bce[i, c], gi = softplus_sigmoid(a)
            g[i, c] = gi
            counts[ghm_bin(gi, bins)] += 1.0
    bin_weight = ghm_bin_weights(counts, n * n_classes, running_density, momentum, update)
    total = 0.0
    for i in range(n):
        ti = t[i]
        weight = w[i] if has_w else 1.0
        row_scale = weight * norm / n_classes
        loss = 0.0
        for c in range(n_classes):
            beta = bin_weight[ghm_bin(g[i, c], bins)]
            loss += beta * bce[i, c]
            if with_grad:
                d = row_scale * beta * g[i, c]
                grad[i, c] = -d if c == ti else d
        loss /= n_classes
        if reduction == 2:
            value[i] = weight * loss
        else:
            total += weight * loss
    return total * norm


# Reassociation lets LLVM vectorise the row sums below (float64 sums of a row's values, whose
# order changes only their last bits).
@_jit(fastmath={"reassoc"})
def shifted_rows(x, t, scale, bias, margin, z, z_true, z_sum):
    """``z = scale * x + bias``, ``scale * margin[t]`` off each true entry, with the true
    entry and the sum of each row of ``z`` (into ``z_true`` and ``z_sum``).

    The first pass of :func:`._many_classes.softmax_loss_in_loops` (``x`` and ``z`` of
    shape ``(n, C)``); ``bias`` and ``margin`` are per class, or empty for none.
    """
    n, n_classes = x.shape
    has_bias = bias.shape[0] > 0
    has_margin = margin.shape[0] > 0
    for i in range(n):
        ti = t[i]
        if ti < 0 or ti >= n_classes:
            raise IndexError("target out of range")
        total = 0.0
        if has_bias:
            for c in range(n_classes):
                z[i, c] = scale * x[i, c] + bias[c]
                total += z[i, c]
        else:
            for c in range(n_classes):
                z[i, c] = scale * x[i, c]
                total += z[i, c]
        if has_margin:
            unshifted = z[i, ti]
            z[i, ti] = unshifted - scale * margin[ti]
            total += z[i, ti] - unshifted
        z_true[i] = z[i, ti]
        z_sum[i] = total


@_jit(fastmath={"reassoc"})
def softmax_loss_rows(p, t, x, kind, a, b, scale, bias, z_true, z_sum, tiny, w, reduction,
                      value):
    """Per-example softmax losses of :func:`row_terms`, and their gradient written over ``p``.

    The last pass of a softmax loss on a large batch with many classes (see
    :func:`._many_classes.softmax_loss_in_loops`): ``p`` holds ``softmax(z)``, computed
    by PyTorch (whose vectorised ``exp`` a scalar loop does not match), for the ``z`` that
    :func:`shifted_rows` made from ``x``, with its true entries and row sums. Each row, read
    while it is in the cache, gives:

    * ``log p_t = log(p_t)``, as exact as ``z_t - logsumexp(z)`` while ``p_t`` is a normal
      number (``>= tiny``). Below, where ``p_t`` lost its digits or underflowed to 0,
      ``log p_t = z_t - (z_j - log p_j)`` for the row's largest probability ``p_j``
      (at least ``1 / C``), with ``z_j = scale * x_j + bias_j``;
    * ``u = 1 - p_t``, the sum of the other probabilities (without the cancellation of
      ``1 - p_t``, see :mod:`._softmax`), and ``sum_c log p_c = z_sum - C * logsumexp(z)``
      with ``logsumexp(z) = z_t - log p_t``;
    * the loss of ``kind`` (parameters ``a``, ``b``, ``scale``, as for :func:`softmax_rows`),
      reduced as the module docstring says, and the gradient ``r_i * coef * (p - shift)``,
      true entry ``r_i * true_entry`` (:func:`row_terms`), with ``r_i`` the row's scale.
    """
    n, n_classes = p.shape
    has_w = w.shape[0] > 0
    has_bias = bias.shape[0] > 0
    norm = mean_norm(w, n, reduction)
    total = 0.0
    for i in range(n):
        ti = t[i]
        p_t = p[i, ti]
        p[i, ti] = 0.0
        u = 0.0
        for c in range(n_classes):
            u += p[i, c]
        if p_t >= tiny:
            log_pt = math.log(p_t)
        else:  # rare: a scalar search of the row
            j = 0
            for c in range(n_classes):
                if p[i, c] > p[i, j]:
                    j = c
            z_j = scale * x[i, j] + (bias[j] if has_bias else 0.0)
            log_pt = z_true[i] - z_j + math.log(p[i, j])
        log_p_sum = z_sum[i] - n_classes * (z_true[i] - log_pt)
        loss, factor, shift, true_entry = row_terms(kind, a, b, scale, n_classes, log_pt, u,
                                                    p_t, log_p_sum)
        weight = w[i] if has_w else 1.0
        if reduction == 2:
            value[i] = weight * loss
        else:
            total += weight * loss
        r = weight * norm
        factor *= r
        for c in range(n_classes):
            p[i, c] = factor * (p[i, c] - shift)
        p[i, ti] = r * true_entry
    return total * norm


@_jit(fastmath={"reassoc"})
def sigmoid_ce_rows(bce, g, g_gamma, x_true, t, gamma, w, reduction, value):
    """Per-example one-vs-rest (focal) BCE, and its gradient written over ``g``.

    For a large batch with many classes (``(n, C)`` arrays), after PyTorch's vectorised
    ``bce = softplus(x)``, ``g = sigmoid(x)`` and, for ``gamma > 0``, ``g_gamma = g**gamma``
    (empty for ``gamma == 0``), all of the logits as they are: each row's true entry is
    replaced by the functions of ``-x_t`` (``x_true``, the true logits, gathered by the
    caller: reading them here, one cache miss per row, would stall the pass), computed here
    exactly, and the row, read while it is in the cache, gives the loss of
    :func:`.class_balanced.sigmoid_kernel`, reduced as the module docstring says, and its
    gradient, the true entry's sign restored.
    """
    n, n_classes = g.shape
    has_w = w.shape[0] > 0
    norm = mean_norm(w, n, reduction)
    focal = gamma > 0.0
    result = 0.0
    for i in range(n):
        ti = t[i]
        if ti < 0 or ti >= n_classes:
            raise IndexError("target out of range")
        softplus, sigmoid = softplus_sigmoid(-x_true[i])
        bce[i, ti] = softplus
        g[i, ti] = sigmoid
        weight = w[i] if has_w else 1.0
        ci = weight * norm
        total = 0.0
        if focal:
            g_gamma[i, ti] = sigmoid ** gamma
            for c in range(n_classes):
                gc = g[i, c]
                total += g_gamma[i, c] * bce[i, c]
                g[i, c] = ci * g_gamma[i, c] * (gamma * (1.0 - gc) * bce[i, c] + gc)
        else:
            for c in range(n_classes):
                total += bce[i, c]
                g[i, c] = ci * g[i, c]
        g[i, ti] = -g[i, ti]
        if reduction == 2:
            value[i] = weight * total
        else:
            result += weight * total
    return result * norm


@_jit
def ghm_weigh(bce, g, x_true, t, dim, bins, running_density, momentum, update, with_grad, w,
              reduction, value):
    """GHM-C from the BCE and gradient norms of every logit, computed by PyTorch.

    For batches above the loops' size limit, where PyTorch's vectorised
    ``softplus`` and ``sigmoid`` beat a scalar loop, this does the rest in
    two passes over the norms (counting, then weighting), the work of about
    ten tensor operations of :func:`.ghm.ghm_kernel`. ``bce`` and ``g`` are
    in the layout of :func:`._softmax.working_copy`, ``(C, n)`` for
    ``dim == 0``, ``(n, C)`` for ``dim == 1``; with ``with_grad``, the
    gradient is written over ``g``. For ``dim == 1``, ``x_true`` may hold the true logits,
    in which case ``bce`` and ``g`` are the functions of the logits as they are and their
    true entries (those of ``-x_t``) are computed here first; otherwise it is empty.
    """
    rows, cols = g.shape
    n, n_classes = (cols, rows) if dim == 0 else (rows, cols)
    for i in range(x_true.shape[0]):  # (n, C): the true entries, from the true logits
        softplus, sigmoid = softplus_sigmoid(-x_true[i])
        bce[i, t[i]] = softplus
        g[i, t[i]] = sigmoid
    flat = g.reshape(rows * cols)
    # four histograms, so that a run of norms in one bin is not a chain of
    # increments of the same memory
    counts4 = np.zeros((4, bins))
    for k in range(0, flat.shape[0] - 3, 4):
        counts4[0, ghm_bin(flat[k], bins)] += 1.0
        counts4[1, ghm_bin(flat[k + 1], bins)] += 1.0
        counts4[2, ghm_bin(flat[k + 2], bins)] += 1.0
        counts4[3, ghm_bin(flat[k + 3], bins)] += 1.0
    for k in range(flat.shape[0] - flat.shape[0] % 4, flat.shape[0]):
        counts4[0, ghm_bin(flat[k], bins)] += 1.0
    counts = counts4[0] + counts4[1] + counts4[2] + counts4[3]
    bin_weight = ghm_bin_weights(counts, n * n_classes, running_density, momentum, update)
    has_w = w.shape[0] > 0
    norm = mean_norm(w, n, reduction)
    scale = norm / n_classes  # of every row's gradient, times its example weight
    loss = np.zeros(n)
    if dim == 1:
        for i in range(n):
            row_scale = (w[i] if has_w else 1.0) * scale
            total = 0.0
            for c in range(n_classes):
                gi = g[i, c]
                beta = bin_weight[ghm_bin(gi, bins)]
                total += beta * bce[i, c]
                if with_grad:
                    g[i, c] = row_scale * beta * gi
            loss[i] = total
            if with_grad:
                g[i, t[i]] = -g[i, t[i]]
    else:
        for c in range(n_classes):
            for i in range(n):
                gi = g[c, i]
                beta = bin_weight[ghm_bin(gi, bins)]
                loss[i] += beta * bce[c, i]
                if with_grad:
                    g[c, i] = (w[i] if has_w else 1.0) * scale * beta * gi
        if with_grad:
            for i in range(n):
                g[t[i], i] = -g[t[i], i]
    total = 0.0
    for i in range(n):
        weighted = (w[i] if has_w else 1.0) * loss[i] / n_classes
        if reduction == 2:
            value[i] = weighted
        else:
            total += weighted
    return total * norm


# Entry points, called by _compiled.CompiledKernel with the addresses of contiguous CPU tensors
# (the logits' dtype for every floating one, int64 targets), which the caller keeps alive
# during the call: converting tensors to NumPy arrays costs more than a small batch's loss.
# The gradient's address comes first (0 when no gradient is needed): the caller prepares
# every other argument before the autograd node allocates the gradient.
@_jit
def softmax_entry(pg, px, pt, pw, pcw, pv, n, n_classes, like, reduction, kind, a, b, scale,
                  pbias, bias_scale, pmargin):
    x, t, w, v, g = _views(pg, px, pt, pw, pcw, pv, n, n_classes, like)
    bias = numba.carray(_pointer(pbias, like), n_classes if pbias else 0)
    margin = numba.carray(_pointer(pmargin, like), n_classes if pmargin else 0)
    return softmax_rows(x, t, kind, a, b, scale, bias, bias_scale, margin, w, reduction, v, g,
                        pg != 0)


@_jit
def sigmoid_entry(pg, px, pt, pw, pcw, pv, n, n_classes, like, reduction, gamma):
    x, t, w, v, g = _views(pg, px, pt, pw, pcw, pv, n, n_classes, like)
    return sigmoid_rows(x, t, gamma, w, reduction, v, g, pg != 0)


_FLOAT32 = np.empty(0, np.float32)
_FLOAT64 = np.empty(0, np.float64)


@_jit
def ghm_entry(pg, px, pt, pw, pcw, pv, n, n_classes, like, reduction, bins, pstate, state_bits,
              momentum, update):
    """GHM-C with the EMA state at address ``pstate`` (0 for none), float32 or float64 as
    ``state_bits`` says, whatever the logits' dtype; the loop updates a float64 copy, which
    is written back."""
    x, t, w, v, g = _views(pg, px, pt, pw, pcw, pv, n, n_classes, like)
    state = np.empty(bins if pstate else 0)
    state32 = numba.carray(_pointer(pstate, _FLOAT32), bins if state_bits == 32 else 0)
    state64 = numba.carray(_pointer(pstate, _FLOAT64), bins if state_bits == 64 else 0)
    for k in range(state32.shape[0]):
        state[k] = state32[k]
    for k in range(state64.shape[0]):
        state[k] = state64[k]
    total = ghm_rows(x, t, bins, state, momentum, update, w, reduction, v, g, pg != 0)
    if update and momentum > 0.0:
        for k in range(state32.shape[0]):
            state32[k] = state[k]
        for k in range(state64.shape[0]):
            state64[k] = state[k]
    return total
