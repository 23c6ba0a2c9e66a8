"""Losses for class-imbalanced classification.

Every loss takes raw logits ``(n_samples, n_classes)`` and integer targets
``(n_samples,)``, per-class ``weight`` and per-example ``sample_weight``, and
reduces with the weighted mean ``sum(w_i * l_i) / sum(w_i)``, ``w_i = weight[y_i] *
sample_weight_i``. Each family is a function and an ``nn.Module`` in its own
module; :data:`LOSSES` maps the estimator's ``loss=`` names to the classes.
"""

import torch

from ._base import ImbalanceLoss, warm_up
from .class_balanced import (
    ClassBalancedLoss,
    class_balanced_loss,
    effective_number_weights,
    effective_numbers,
)
from .cross_entropy import CrossEntropyLoss, cross_entropy_loss
from .dice import DiceLoss, dice_loss
from .focal import FocalLoss, focal_loss
from .ghm import GHMCLoss, ghm_c_loss
from .long_tail import (
    LDAMLoss,
    LogitAdjustedLoss,
    ldam_loss,
    ldam_margins,
    log_priors,
    logit_adjusted_loss,
)

LOSSES = {
    "ce": CrossEntropyLoss,
    "focal": FocalLoss,
    "class_balanced": ClassBalancedLoss,
    "ghm": GHMCLoss,
    "dice": DiceLoss,
    "ldam": LDAMLoss,
    "logit_adjusted": LogitAdjustedLoss,
}


def get_loss(name):
    """The loss class registered under ``name`` in :data:`LOSSES`; a loss class or factory
    (such as ``functools.partial(FocalLoss, gamma=1)``) is returned as it is.

    Examples
    --------
    >>> from sklimb.losses import get_loss
    >>> get_loss("focal").__name__
    'FocalLoss'
    """
    if isinstance(name, type) or (callable(name) and not isinstance(name, torch.nn.Module)):
        return name
    if isinstance(name, str) and name in LOSSES:
        return LOSSES[name]
    raise ValueError(
        f"unknown loss {name!r}; use one of {sorted(LOSSES)} or pass a torch.nn.Module class."
    )


__all__ = [
    "LOSSES",
    "ClassBalancedLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "GHMCLoss",
    "ImbalanceLoss",
    "LDAMLoss",
    "LogitAdjustedLoss",
    "class_balanced_loss",
    "cross_entropy_loss",
    "dice_loss",
    "effective_number_weights",
    "effective_numbers",
    "focal_loss",
    "get_loss",
    "ghm_c_loss",
    "ldam_loss",
    "ldam_margins",
    "log_priors",
    "logit_adjusted_loss",
    "warm_up",
]
