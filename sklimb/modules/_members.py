"""What modules return: logits ``(n, C)``, or ``(n, k, C)`` for ``k`` ensemble members."""

from __future__ import annotations

import math

import torch


def combine_members(output):
    """Logits ``(n, C)`` of a module output; an ensemble's ``(n, k, C)`` are averaged.

    The members' probabilities are averaged and the result is returned as
    log-probabilities, ``log(mean_j softmax(z_j))``, so that a softmax of it
    gives the mean probabilities exactly.
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    if output.ndim == 3:
        n_members = output.shape[1]
        return torch.logsumexp(torch.log_softmax(output.float(), dim=2), dim=1) \
            - math.log(n_members)
    return output


def flatten_members(y_pred, y_true, sample_weight):
    """``(n, k, C)`` member logits as ``(n * k, C)`` with the targets and weights repeated.

    The weighted mean over the ``n * k`` rows equals the mean over members
    of each member's weighted mean loss, because every member sees the same
    weights.
    """
    n_members = y_pred.shape[1]
    y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    y_true = y_true.repeat_interleave(n_members)
    if sample_weight is not None:
        sample_weight = sample_weight.repeat_interleave(n_members)
    return y_pred, y_true, sample_weight


def check_module_output(module, X_probe, n_classes):
    """Raise a ``ValueError`` with the sizes involved if ``module``'s logits do not fit."""
    module.eval()
    with torch.no_grad():
        output = module(X_probe)
    if isinstance(output, (tuple, list)):
        output = output[0]
    if output.ndim not in (2, 3) or output.shape[-1] != n_classes:
        raise ValueError(
            f"the module returns outputs of shape {tuple(output.shape)} for "
            f"{len(X_probe)} samples, but there are n_classes={n_classes} classes; it "
            "must return logits of shape (n_samples, n_classes), or (n_samples, k, "
            "n_classes) for an ensemble of k members."
        )
