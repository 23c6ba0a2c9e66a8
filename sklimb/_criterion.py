"""How the estimator builds its loss: the class weighting it adds, and the loss's arguments.

``class_weight="effective_number"`` and ``loss="class_balanced"`` are the same
weighting of Cui et al. (2019), ``(1 - beta) / (1 - beta^n_c)``: the first
gives those weights to any loss (with ``beta=0.999``), the second is the
loss whose weights they are (its ``beta`` is ``loss__beta``).
"""

from __future__ import annotations

import torch

from ._signatures import named_parameters, takes_any_keyword
from .losses import get_loss

#: ``class_weight="auto"``: the weighting used for losses that do not correct for class
#: frequencies themselves. The square root of the balanced weights: on the development suite
#: (benchmarks/bench_defaults.py) it gave a higher macro F1 than full balancing, which buys
#: recall of the rare classes with too much precision; decision= recovers balanced accuracy.
AUTO_CLASS_WEIGHT = "sqrt_balanced"
#: loss arguments the estimator fills in itself
FILLED_IN = ("weight", "class_counts", "reduction")


def class_weight_mode(class_weight, loss, sampler, loss_params):
    """``class_weight`` with ``"auto"`` resolved for the chosen loss and sampler.

    ``"auto"`` is :data:`AUTO_CLASS_WEIGHT`, except ``None`` when a per-epoch
    ``sampler`` balances the batches, when the loss corrects for the class
    frequencies itself (``corrects_class_frequency = True``), takes no
    ``weight``, or is given ``loss__weight``.
    """
    if class_weight != "auto":
        return class_weight
    if sampler is not None:
        return None
    loss_class = get_loss(loss)
    if (getattr(loss_class, "corrects_class_frequency", False)
            or "weight" not in named_parameters(loss_class) or "weight" in loss_params):
        return None
    return AUTO_CLASS_WEIGHT


def loss_arguments(loss, loss_params, weight=None, class_counts=None,
                   class_weight_name="class_weight"):
    """The keyword arguments the loss class of ``loss`` is built with.

    ``loss_params`` are the ``loss__<name>`` parameters (unknown names raise
    a ``ValueError`` listing the valid ones, unless the class takes
    ``**kwargs``); ``weight`` the estimator's class weights (or ``None``);
    ``class_counts`` the training counts, given to a loss that declares
    ``class_counts`` or sets ``requires_class_counts``.
    """
    loss_class = get_loss(loss)
    kwargs = dict(loss_params)
    declared = named_parameters(loss_class)
    if not takes_any_keyword(loss_class):
        unknown = sorted(set(kwargs) - declared)
        if unknown:
            valid = ", ".join(f"loss__{name}" for name in sorted(declared - set(FILLED_IN)))
            raise ValueError(
                f"unknown loss parameter(s) {', '.join('loss__' + n for n in unknown)} "
                f"for loss={loss!r} ({loss_class.__name__}); valid: {valid or 'none'}."
            )
    if weight is not None:
        if "weight" not in declared:
            raise ValueError(f"{class_weight_name} needs a loss that accepts a 'weight' "
                             f"argument; {loss_class.__name__} does not.")
        if "weight" in kwargs:
            raise ValueError("give class weights either as class_weight or as loss__weight, "
                             "not both.")
        kwargs["weight"] = torch.as_tensor(weight, dtype=torch.float32)
    needs_counts = (getattr(loss_class, "requires_class_counts", False)
                    or "class_counts" in declared)
    if needs_counts and "class_counts" not in kwargs:
        if class_counts is None:
            raise ValueError(f"{loss_class.__name__} needs the training class counts; call "
                             "fit() first.")
        kwargs["class_counts"] = class_counts
    return loss_class, kwargs


def check_sample_weight_support(criterion):
    """Raise a ``ValueError`` if ``criterion``'s ``forward`` takes no ``sample_weight``."""
    forward = getattr(criterion, "forward", criterion)
    if "sample_weight" not in named_parameters(forward) and not takes_any_keyword(forward):
        raise ValueError(
            f"sample_weight was given but the loss {type(criterion).__name__} does not accept "
            "a sample_weight argument in forward(); use one of the sklimb losses or add the "
            "argument."
        )
