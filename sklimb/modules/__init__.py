"""Networks for :class:`~sklimb.ImbalancedNetClassifier`, chosen by name with ``module=``.

* ``"mlp"``: :class:`MLP`, a plain multi-layer perceptron;
* ``"ensemble_mlp"``: :class:`EnsembleMLP`, ``k`` MLPs sharing their hidden
  layers (TabM-mini), trained on the mean of their losses and averaged.

A module may return logits of shape ``(n_samples, n_classes)`` or, for an
ensemble of ``k`` members, ``(n_samples, k, n_classes)``.
"""

from ._ensemble import EnsembleLinear, EnsembleMLP
from ._mlp import MLP

MODULES = {
    "mlp": MLP,
    "ensemble_mlp": EnsembleMLP,
}


def get_module(name):
    """The module class registered under ``name``; classes and instances pass through.

    Examples
    --------
    >>> from sklimb.modules import get_module
    >>> get_module("mlp").__name__
    'MLP'
    """
    if not isinstance(name, str):
        return name
    if name in MODULES:
        return MODULES[name]
    raise ValueError(f"unknown module {name!r}; use one of {sorted(MODULES)} or pass a "
                     "torch.nn.Module class.")


__all__ = ["MLP", "MODULES", "EnsembleLinear", "EnsembleMLP", "get_module"]
