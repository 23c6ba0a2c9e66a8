"""From the trained network's logits to probabilities: prior correction, temperature.

* **Prior correction** (``prior_correction=True``): re-weighting, resampling and
  logit adjustment train the network on a shifted class distribution;
  :func:`training_log_shift` is ``log m_c``, how training multiplied each class,
  and the corrected logits are ``z - log m``.
* **Temperature scaling** (``temperature_scaling=True``, Guo et al., 2017):
  :func:`fit_temperature` is the ``T`` minimising the log-loss of ``z / T`` on
  held-out rows.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from .resampling import resampled_sizes


def training_log_shift(criterion, class_counts, class_weight=None, weighted=True,
                       sampler=None, sampling_ratio=1.0):
    """``log m_c``: how training multiplied each class.

    Parameters
    ----------
    criterion : torch.nn.Module
        The fitted loss. If it has ``class_log_shift()`` (every
        :class:`~sklimb.losses.ImbalanceLoss` does), that is its shift;
        otherwise ``log class_weight`` when ``weighted``.
    class_counts : array-like of shape (n_classes,)
        Training rows of each class.
    class_weight : array-like of shape (n_classes,) or None
        The class weights the estimator gave a loss without ``class_log_shift``.
    weighted : bool
        Whether the last epoch used ``class_weight`` (deferred re-weighting).
    sampler : {"over", "under", "smote"} or None
        Per-epoch resampling, which adds ``log(resampled size / count)``.
    sampling_ratio : float

    Returns
    -------
    log_shift : ndarray of shape (n_classes,)
    """
    counts = np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)
    tiny = np.finfo(np.float64).tiny
    shift = np.zeros(len(counts))
    if hasattr(criterion, "class_log_shift"):
        loss_shift = criterion.class_log_shift()
        if loss_shift is not None:
            shift += loss_shift.detach().double().cpu().numpy()
    elif class_weight is not None and weighted:
        shift += np.log(np.maximum(class_weight, tiny))
    if sampler is not None:
        sizes = resampled_sizes(class_counts, sampler, sampling_ratio)
        shift += np.log(np.maximum(sizes, tiny) / counts)
    return shift


def fit_temperature(logits, target):
    """The temperature ``T`` in ``[e^-4, e^4]`` minimising the cross-entropy of ``logits / T``.

    Parameters
    ----------
    logits : Tensor of shape (n_samples, n_classes)
        Held-out logits (float64 preferred).
    target : Tensor of shape (n_samples,)
        Their class indices.
    """
    target = target.to(logits.device)

    def nll(log_t):
        return float(torch.nn.functional.cross_entropy(logits / np.exp(log_t), target))

    return float(np.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))


def probabilities(logits, nonlinearity=None, input_scale=None):
    """Rows of probabilities (float64 numpy) from ``logits``: softmax, or ``nonlinearity``.

    Non-finite outputs raise a ``ValueError`` that names how many rows and,
    with ``input_scale`` (the largest absolute feature), suggests scaling.
    """
    if callable(nonlinearity):
        proba = torch.as_tensor(nonlinearity(logits)).double()
    else:
        proba = torch.softmax(logits.double(), dim=1)
    proba = proba.cpu().numpy()
    if not np.isfinite(proba).all():
        bad = int((~np.isfinite(proba).all(axis=1)).sum())
        reach = "" if input_scale is None else f", whose features reach {input_scale:.3g}"
        raise ValueError(
            f"the network's outputs are not finite for {bad} of {len(proba)} rows of "
            f"X{reach}; scale the features (input_transform='standard', or a "
            "StandardScaler before the network)."
        )
    return proba / proba.sum(axis=1, keepdims=True)
