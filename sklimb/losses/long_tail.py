"""Long-tail losses that move logits by class frequency: LDAM and logit adjustment."""

from __future__ import annotations

from ._base import (
    ImbalanceLoss,
    add_log_shifts,
    check_number,
    check_per_class,
    check_reduction,
    class_counts_vector,
    compute_loss,
    on_device_of,
)
from .cross_entropy import cross_entropy_rows, softmax_cross_entropy


def ldam_margins(class_counts, max_margin=0.5):
    r"""Label-distribution-aware margins :math:`\Delta_c = \Delta_{\max} \, (\min_k n_k /
    n_c)^{1/4}`, as float32: the rarest class gets ``max_margin``, and a class with no
    samples counts as one.

    Examples
    --------
    >>> from sklimb.losses import ldam_margins
    >>> ldam_margins([10000, 1], max_margin=0.5)
    tensor([0.0500, 0.5000])
    """
    counts = class_counts_vector(class_counts, "ldam_margins").double().clamp_min(1.0)
    max_margin = check_number("max_margin", max_margin, low=0.0, low_closed=False)
    inverse_root = counts.pow(-0.25)
    return (inverse_root * (max_margin / inverse_root.max())).float()


def log_priors(class_counts):
    """``log(n_c / sum(n))`` as float32, with empty classes counted as one sample."""
    counts = class_counts_vector(class_counts, "log_priors").double().clamp_min(1.0)
    return (counts / counts.sum()).log().float()


def ldam_loss(
    logits, target, *, class_counts, max_margin=0.5, scale=5.0, weight=None,
    sample_weight=None, reduction="mean",
):
    r"""LDAM loss: cross-entropy with a class-dependent margin on the true class.

    .. math::

        \ell_i = -\log \frac{e^{s (x_{i y_i} - \Delta_{y_i})}}
                            {e^{s (x_{i y_i} - \Delta_{y_i})} + \sum_{c \ne y_i} e^{s x_{ic}}},

    with margins :math:`\Delta_c` from :func:`ldam_margins` (rare classes get
    larger margins) and scale :math:`s`. Weights and reduction as in
    :func:`cross_entropy_loss`; Cao et al. pair it with deferred re-weighting.

    Parameters
    ----------
    logits, target : torch.Tensor
        Raw scores of shape ``(n_samples, n_classes)`` and integer class indices of
        shape ``(n_samples,)``.
    class_counts : array-like of shape (n_classes,)
        Training samples per class.
    max_margin : float, default=0.5
        Margin of the rarest class.
    scale : float, default=5.0
        Logit scale :math:`s > 0`. Cross-entropy of :math:`s z` treats a logit
        difference of about :math:`1/s` as settled, so the margins only shape
        the network when they are not small next to :math:`1/s`: with
        :math:`s = 1` a margin of 0.5 is lost inside cross-entropy's own
        soft margin of about 1, and LDAM trains the same network as CE. The
        paper uses :math:`s = 30` on cosine-normalised logits (margins in
        units of a cosine); on the raw logits of an ordinary network,
        :math:`s = 5` makes the largest margin 2.5 times :math:`1/s`.
    weight, sample_weight : array-like, default=None
        Per-class and per-example weights (see :mod:`sklimb.losses`).
    reduction : {"mean", "sum", "none"}, default="mean"
        The loss is a scalar, or has shape ``(n_samples,)`` for ``"none"``.

    References
    ----------
    .. [1] K. Cao, C. Wei, A. Gaidon, N. Arechiga, T. Ma, "Learning Imbalanced
       Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import ldam_loss
    >>> logits, target = torch.zeros(2, 2), torch.tensor([0, 1])
    >>> round(float(ldam_loss(logits, target, class_counts=[100, 1], scale=1.0)), 4)
    0.8747
    """
    return _ldam(logits, target, ldam_margins(class_counts, max_margin),
                 check_number("scale", scale, low=0.0, low_closed=False),
                 weight, sample_weight, check_reduction(reduction))


def _ldam(logits, target, margins, scale, weight, sample_weight, reduction):
    """Cross-entropy of ``scale * (logits - margins[target] * onehot(target))``."""
    margins = on_device_of(logits, margins)
    check_per_class("class_counts", margins, logits)
    return compute_loss(lambda x, t: cross_entropy_rows(x, t, scale=scale, margins=margins),
                        logits, target, weight, sample_weight, reduction, compiled="ldam_loop",
                        params=(scale,), data=margins)


def logit_adjusted_loss(
    logits, target, *, class_counts, tau=1.0, weight=None, sample_weight=None, reduction="mean",
):
    r"""Logit-adjusted cross-entropy (Menon et al., 2021); balanced softmax at ``tau=1``.

    .. math::

        \ell_i = -\log \mathrm{softmax}(x_i + \tau \log \pi)_{y_i},
        \qquad \pi_c = n_c / \textstyle\sum_k n_k .

    Training with the prior added makes the *unadjusted* logits ``x`` estimate
    the balanced (class-uniform) posterior, so the network's own predictions
    minimise the balanced error. With ``tau=1`` this is the balanced softmax
    of Ren et al. (2020); ``tau=0`` is plain cross-entropy.

    Parameters
    ----------
    logits, target : torch.Tensor
        Raw scores of shape ``(n_samples, n_classes)`` and integer class indices of
        shape ``(n_samples,)``.
    class_counts : array-like of shape (n_classes,)
        Training samples per class.
    tau : float, default=1.0
        Strength of the adjustment, ``>= 0``.
    weight, sample_weight : array-like, default=None
        Per-class and per-example weights (see :mod:`sklimb.losses`).
    reduction : {"mean", "sum", "none"}, default="mean"
        The loss is a scalar, or has shape ``(n_samples,)`` for ``"none"``.

    References
    ----------
    .. [1] A. K. Menon, S. Jayasumana, A. S. Rawat, H. Jain, A. Veit, S. Kumar,
       "Long-tail learning via logit adjustment", ICLR 2021.
    .. [2] J. Ren, C. Yu, S. Sheng, X. Ma, H. Zhao, S. Yi, H. Li, "Balanced
       Meta-Softmax for Long-Tailed Visual Recognition", NeurIPS 2020.

    Examples
    --------
    >>> import torch
    >>> from sklimb.losses import logit_adjusted_loss
    >>> logits, target = torch.zeros(2, 2), torch.tensor([0, 1])
    >>> round(float(logit_adjusted_loss(logits, target, class_counts=[3, 1])), 4)
    0.837
    """
    tau = check_number("tau", tau, low=0.0)
    return _logit_adjusted(logits, target, log_priors(class_counts), tau, weight,
                           sample_weight, check_reduction(reduction))


def _logit_adjusted(logits, target, log_prior, tau, weight, sample_weight, reduction):
    """Cross-entropy of ``logits + tau * log_prior`` (plain cross-entropy at ``tau=0``)."""
    bias = None if tau == 0.0 else on_device_of(logits, log_prior)
    bias = bias if tau in (0.0, 1.0) else bias * tau
    return softmax_cross_entropy(logits, target, weight, sample_weight, reduction, bias=bias)


class LDAMLoss(ImbalanceLoss):
    r"""LDAM loss as an ``nn.Module``; margins kept in the ``margins`` buffer.

    See :func:`ldam_loss` for the formula and the parameters; the estimator
    supplies ``class_counts`` at fit time.

    Examples
    --------
    >>> from sklimb.losses import LDAMLoss
    >>> LDAMLoss(class_counts=[16, 1]).margins
    tensor([0.2500, 0.5000])
    """

    requires_class_counts = True

    def __init__(self, class_counts=None, max_margin=0.5, scale=5.0, weight=None,
                 reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)
        counts = class_counts_vector(class_counts, type(self).__name__)
        self.register_buffer("class_counts", counts)
        self.max_margin = check_number("max_margin", max_margin, low=0.0, low_closed=False)
        self.scale = check_number("scale", scale, low=0.0, low_closed=False)
        self.register_buffer("margins", ldam_margins(counts, self.max_margin))

    def forward(self, logits, target, sample_weight=None):
        return _ldam(logits, target, self.margins, self.scale, self.weight, sample_weight,
                     self.reduction)

    def extra_repr(self):
        return f"max_margin={self.max_margin}, scale={self.scale}, {super().extra_repr()}"


class LogitAdjustedLoss(ImbalanceLoss):
    r"""Logit-adjusted (balanced-softmax) loss as an ``nn.Module``.

    See :func:`logit_adjusted_loss` for the formula and the parameters; the
    estimator supplies ``class_counts`` at fit time. The log priors are kept in
    the ``log_prior`` buffer.

    Examples
    --------
    >>> from sklimb.losses import LogitAdjustedLoss
    >>> LogitAdjustedLoss(class_counts=[3, 1]).log_prior
    tensor([-0.2877, -1.3863])
    """

    requires_class_counts = True
    corrects_class_frequency = True

    def __init__(self, class_counts=None, tau=1.0, weight=None, reduction="mean"):
        super().__init__(weight=weight, reduction=reduction)
        counts = class_counts_vector(class_counts, type(self).__name__)
        self.register_buffer("class_counts", counts)
        self.tau = check_number("tau", tau, low=0.0)
        self.register_buffer("log_prior", log_priors(counts))

    def class_log_shift(self):
        r"""``log(weight) - tau * log(prior)``: training with :math:`\tau \log \pi` added
        to the logits makes the network's own logits favour class :math:`c` by
        :math:`\pi_c^{-\tau}`."""
        adjustment = None if self.tau == 0.0 else -self.tau * self.log_prior.detach()
        return add_log_shifts(super().class_log_shift(), adjustment)

    def forward(self, logits, target, sample_weight=None):
        return _logit_adjusted(logits, target, self.log_prior, self.tau, self.weight,
                               sample_weight, self.reduction)

    def extra_repr(self):
        return f"tau={self.tau}, {super().extra_repr()}"


__all__ = [
    "LDAMLoss",
    "LogitAdjustedLoss",
    "ldam_loss",
    "ldam_margins",
    "log_priors",
    "logit_adjusted_loss",
]
