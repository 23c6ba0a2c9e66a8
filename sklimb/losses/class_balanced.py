"""Class-balanced loss with effective-number weights (Cui et al., CVPR 2019)."""

from __future__ import annotations

import numpy as np
import torch

from ._base import (
    ImbalanceLoss,
    add_log_shifts,
    as_class_tensor,
    check_class_vector_size,
    check_logits_target,
    check_number,
    check_reduction,
    class_counts_buffer,
    log_or_none,
    module_example_weights,
    prepare,
    required_class_counts,
    run_loss,
)
from ._compiled import EMPTY, loop_on, reduced_in_loop, register
from ._fused import reduce_rows
from ._softmax import TRANSPOSE_MAX_CLASSES, one_vs_rest, one_vs_rest_in_rows, row, to_logits
from .cross_entropy import softmax_cross_entropy
from .focal import focal_kernel

BASES = ("softmax", "sigmoid", "focal", "sigmoid_focal")


def effective_number_weights(class_counts, beta=0.999):
    r"""Class weights from the effective number of samples.

    The effective number of a class with :math:`n_c` samples is
    :math:`E_{n_c} = (1 - \beta^{n_c}) / (1 - \beta)`; its weight is
    :math:`1 / E_{n_c}`, normalised so that the weights sum to the number of
    classes :math:`C`:

    .. math::

        w_c = C \, \frac{(1 - \beta) / (1 - \beta^{n_c})}
                       {\sum_k (1 - \beta) / (1 - \beta^{n_k})}.

    ``beta=0`` gives uniform weights and :math:`\beta \to 1` approaches
    inverse class frequency. A class with no samples is given the weight of a
    class with one sample rather than an infinite weight.

    Parameters
    ----------
    class_counts : array-like of shape (n_classes,)
        Number of training samples of each class.
    beta : float, default=0.999
        Hyperparameter :math:`\beta \in [0, 1)`.

    Returns
    -------
    weights : numpy.ndarray of shape (n_classes,)
        Float64 weights summing to ``n_classes``.

    References
    ----------
    .. [1] Y. Cui, M. Jia, T.-Y. Lin, Y. Song, S. Belongie, "Class-Balanced Loss
       Based on Effective Number of Samples", CVPR 2019.

    Examples
    --------
    >>> from sklimb.losses import effective_number_weights
    >>> effective_number_weights([100, 10], beta=0.9).round(4)
    array([0.7889, 1.2111])
    """
    counts = np.maximum(required_class_counts(class_counts).numpy(), 1.0)
    inverse_effective = 1.0 / effective_numbers(counts, beta)
    return inverse_effective * (counts.size / inverse_effective.sum())


def effective_numbers(class_counts, beta=0.999):
    r"""Effective number of samples :math:`E_n = (1 - \beta^n) / (1 - \beta)` per class.

    ``1 - beta**n`` is computed as ``-expm1(n log beta)``, without cancellation
    for :math:`\beta` near 1; ``beta=0`` gives 1 for every non-empty class.

    Parameters
    ----------
    class_counts : array-like of shape (n_classes,)
        Samples per class.
    beta : float, default=0.999
        Hyperparameter :math:`\beta \in [0, 1)`.

    Returns
    -------
    effective : numpy.ndarray of shape (n_classes,)

    Examples
    --------
    >>> from sklimb.losses import effective_numbers
    >>> effective_numbers([100, 10], beta=0.9).round(3)
    array([10.   ,  6.513])
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("class_counts must be a 1-D sequence of finite counts >= 0; got "
                         f"{class_counts!r}.")
    beta = check_number("beta", beta, low=0.0, high=1.0)
    if beta == 0.0:
        return (counts > 0).astype(np.float64)
    return -np.expm1(counts * np.log(beta)) / -np.expm1(np.log(beta))


def sigmoid_kernel(logits, target, gamma, weights, reduction, *, with_grad):
    """Sum over classes of one-vs-rest (focal) BCE and its gradient (see :mod:`._fused`).

    With one-hot labels, the BCE of logit ``x_ic`` is ``softplus(a_ic)``
    where ``a_ic = -x_ic`` for the true class and ``x_ic`` otherwise, and
    ``g = sigmoid(a) = |sigmoid(x) - y|`` is both the probability of the
    wrong answer and ``d softplus(a) / d a``. The sigmoid focal form multiplies by
    ``g**gamma``; its derivative is ``g**gamma * (gamma * (1 - g) *
    softplus(a) + g)``. The sign of the true row is restored for the gradient
    with respect to the logits. :func:`._softmax.one_vs_rest` computes ``softplus(a)`` and
    ``sigmoid(a)``.
    """
    if with_grad and logits.shape[1] > TRANSPOSE_MAX_CLASSES:
        rows = loop_on("sigmoid_ce_rows", logits)
        if rows is not None:
            return _many_classes_in_loop(rows, logits, target, gamma, weights, reduction)
    bce, g, t0, dim = one_vs_rest(logits, target, with_sigmoid=with_grad or bool(gamma))
    if gamma:
        g_gamma = g.pow(gamma)
        loss_terms = g_gamma * bce
    else:
        loss_terms = bce
    value, row_scale = reduce_rows(loss_terms.sum(dim), weights, reduction)
    if not with_grad:
        return value, None
    if gamma:
        grad = torch.rsub(g, 1.0).mul_(bce).mul_(gamma).add_(g).mul_(g_gamma)
    else:
        grad = g
    grad.mul_(row(row_scale, dim))
    grad.scatter_(dim, t0, grad.gather(dim, t0).neg_())
    return value, to_logits(grad, dim)


def _many_classes_in_loop(rows, logits, target, gamma, weights, reduction):
    """:func:`sigmoid_kernel` with a gradient, for many classes, where numba is installed:
    PyTorch's vectorised ``softplus``, ``sigmoid`` (and ``pow``) of the logits as they are,
    then :func:`._loops.sigmoid_ce_rows` computes the true entries, the losses and the
    gradient row by row. The PyTorch kernel writes the true entries with two scatters and
    the gradient's signs with a gather and a scatter, each missing the cache once per row,
    besides a row sum and a product over the batch; here only the true logits are gathered."""
    dtype = logits.dtype
    bce, g, x_true = one_vs_rest_in_rows(logits, target)
    # (the loop compiles for a 2-D g_gamma either way)
    g_gamma = g.pow(gamma).numpy() if gamma else EMPTY[dtype].reshape(0, 0)
    value = reduced_in_loop(rows, (bce.numpy(), g.numpy(), g_gamma, x_true.numpy(),
                                   target.contiguous().numpy(), float(gamma)),
                            weights, reduction, dtype, target.shape[0])
    return value, g


register(sigmoid_kernel, "sigmoid_entry", lambda args, dtype: (float(args[0]),), share=1 / 8)


def class_balanced_loss(
    logits, target, *, class_counts, beta=0.999, base="softmax", gamma=2.0,
    weight=None, sample_weight=None, reduction="mean",
):
    r"""Class-balanced loss: a base loss weighted by effective-number class weights.

    Example :math:`i` is weighted by :math:`w_{y_i}` from
    :func:`effective_number_weights` (times ``weight`` and ``sample_weight``)
    and the weighted mean is taken. The base loss is one of

    * ``"softmax"``: softmax cross-entropy;
    * ``"focal"``: the softmax focal loss of :func:`focal_loss` with ``gamma``;
    * ``"sigmoid"``: :math:`\sum_c \mathrm{BCE}(x_{ic}, [c = y_i])`, one
      sigmoid per class, as in the paper;
    * ``"sigmoid_focal"``: the paper's sigmoid focal form,
      :math:`\sum_c (1 - p^t_{ic})^{\gamma} \, \mathrm{BCE}(x_{ic}, [c = y_i])`.

    Parameters
    ----------
    logits : torch.Tensor of shape (n_samples, n_classes)
        Raw, unnormalised scores.
    target : torch.Tensor of shape (n_samples,)
        Integer class indices.
    class_counts : array-like of shape (n_classes,)
        Training samples per class (counts of the whole training set, not of
        one batch).
    beta : float, default=0.999
        Effective-number hyperparameter in ``[0, 1)``; ``0`` gives the base loss.
    base : {"softmax", "sigmoid", "focal", "sigmoid_focal"}, default="softmax"
        The base loss.
    gamma : float, default=2.0
        Focusing parameter of the focal bases (ignored otherwise).
    weight : array-like of shape (n_classes,), default=None
        Further per-class weights, multiplied with the class-balanced ones.
    sample_weight : torch.Tensor of shape (n_samples,), default=None
        Per-example weights.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction of the per-example losses.

    Returns
    -------
    loss : torch.Tensor
        A scalar, or shape ``(n_samples,)`` for ``reduction="none"``.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import class_balanced_loss
    >>> logits, target = torch.zeros(3, 2), torch.tensor([0, 0, 1])
    >>> round(float(class_balanced_loss(logits, target, class_counts=[90, 10])), 4)
    0.6931
    """
    reduction = check_reduction(reduction)
    weights = torch.as_tensor(effective_number_weights(class_counts, beta), dtype=torch.float32)
    return _class_balanced(logits, target, weights, _check_base(base),
                           check_number("gamma", gamma, low=0.0), weight, sample_weight,
                           reduction)


def _check_base(base):
    if base not in BASES:
        raise ValueError(f"base={base!r} is not supported; use one of {list(BASES)}.")
    return base


def _class_balanced(logits, target, cb_weight, base, gamma, weight, sample_weight, reduction):
    if isinstance(logits, torch.Tensor) and logits.ndim == 2:
        check_class_vector_size("class_counts", cb_weight, logits.shape[1])
    if weight is not None:
        cb_weight = cb_weight * as_class_tensor("weight", weight, cb_weight[None])
    logits, target, _, weights = prepare(logits, target, sample_weight, cb_weight)
    return _class_balanced_rows(logits, target, weights, base, gamma, reduction)


def _class_balanced_rows(logits, target, weights, base, gamma, reduction):
    """The base loss of validated inputs, reduced with the example ``weights``."""
    if base == "softmax":
        return softmax_cross_entropy(logits, target, weights, reduction)
    if base == "focal":
        return run_loss(logits, target, focal_kernel, gamma, weights, reduction)
    sigmoid_gamma = gamma if base == "sigmoid_focal" else 0.0
    return run_loss(logits, target, sigmoid_kernel, sigmoid_gamma, weights, reduction)


class ClassBalancedLoss(ImbalanceLoss):
    r"""Class-balanced loss (Cui et al., 2019) as an ``nn.Module``.

    See :func:`class_balanced_loss`. The class-balanced weights are computed
    once from ``class_counts`` and kept in the ``class_weight`` buffer.

    Parameters
    ----------
    class_counts : array-like of shape (n_classes,)
        Training samples per class; :class:`~sklimb.ImbalancedNetClassifier`
        passes the counts of the ``y`` it is fitted on.
    beta : float, default=0.999
        Effective-number hyperparameter in ``[0, 1)``.
    base : {"softmax", "sigmoid", "focal", "sigmoid_focal"}, default="softmax"
        The base loss.
    gamma : float, default=2.0
        Focusing parameter of the focal bases.
    weight : array-like of shape (n_classes,), default=None
        Further per-class weights.
    reduction : {"mean", "sum", "none"}, default="mean"
        Reduction of the per-example losses.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import ClassBalancedLoss
    >>> loss = ClassBalancedLoss(class_counts=[900, 100], beta=0.99, base="focal")
    >>> loss.class_weight
    tensor([0.7760, 1.2240])
    """

    requires_class_counts = True
    corrects_class_frequency = True

    def __init__(self, class_counts=None, beta=0.999, base="softmax", gamma=2.0,
                 weight=None, reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)
        counts = class_counts_buffer(self, class_counts)
        self.beta = check_number("beta", beta, low=0.0, high=1.0)
        self.base = _check_base(base)
        self.gamma = check_number("gamma", gamma, low=0.0)
        cb = torch.as_tensor(effective_number_weights(counts, self.beta), dtype=torch.float32)
        self.register_buffer("class_weight", cb)

    def class_log_shift(self):
        """``log(weight)`` plus the log class-balanced weights."""
        return add_log_shifts(super().class_log_shift(), log_or_none(self.class_weight))

    def _compute(self, logits, target, sample_weight):
        logits, target = check_logits_target(logits, target)
        buffers = self._buffers
        class_weight, weight = buffers["class_weight"], buffers["weight"]
        check_class_vector_size("class_counts", class_weight, logits.shape[1])
        if weight is not None:
            check_class_vector_size("weight", weight, logits.shape[1])
            weight = self._combined_weight(class_weight, weight)
        else:
            weight = class_weight
        weights = module_example_weights(logits, target, weight, sample_weight)
        return _class_balanced_rows(logits, target, weights, self.base, self.gamma,
                                    self.reduction)

    def _combined_weight(self, class_weight, weight):
        """``class_weight * weight``, computed again only when either buffer is replaced or
        changed in place (its version counter moves), not at every call."""
        if class_weight.is_inference() or weight.is_inference():  # no version counters
            return class_weight * weight
        key = (class_weight._version, weight._version)
        cached = self.__dict__.get("_combined")
        if (cached is None or cached[0] is not class_weight or cached[1] is not weight
                or cached[2] != key):
            cached = self.__dict__["_combined"] = (class_weight, weight, key,
                                                   class_weight * weight)
        return cached[3]

    def extra_repr(self):
        return (f"beta={self.beta}, base={self.base!r}, gamma={self.gamma}, "
                f"{super().extra_repr()}")


__all__ = [
    "ClassBalancedLoss",
    "class_balanced_loss",
    "effective_number_weights",
    "effective_numbers",
]
