"""The default network of :class:`~sklimb.ImbalancedNetClassifier`."""

from __future__ import annotations

from torch import nn

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
                "leaky_relu": nn.LeakyReLU}


class MLP(nn.Module):
    """Multi-layer perceptron for tabular data that returns raw logits.

    :class:`~sklimb.ImbalancedNetClassifier` fills ``n_features`` and
    ``n_classes`` from the data at fit time; the rest is set through
    ``module__<name>`` (for example ``module__hidden_layer_sizes=(64,)``).

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_classes : int
        Number of classes (output logits); binary problems use 2.
    hidden_layer_sizes : tuple of int, default=(256, 128)
        Width of each hidden layer; ``()`` gives a linear model.
    dropout : float, default=0.1
        Dropout probability after each hidden activation.
    activation : {"relu", "gelu", "silu", "tanh", "leaky_relu"}, default="relu"
        Hidden activation.
    norm : {None, "layer", "batch"}, default=None
        Optional normalisation before each activation. ``"layer"`` works with
        any batch size; ``"batch"`` needs batches of at least two samples.

    Examples
    --------
    >>> import torch
    >>> from sklimb.modules import MLP
    >>> MLP(n_features=4, n_classes=3, hidden_layer_sizes=(8,))(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, n_features, n_classes, hidden_layer_sizes=(256, 128), dropout=0.1,
                 activation="relu", norm=None):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"module__activation={activation!r} is not supported; use one of "
                             f"{sorted(_ACTIVATIONS)}.")
        if norm not in (None, "layer", "batch"):
            raise ValueError(f"module__norm={norm!r} is not supported; use None, 'layer' or "
                             "'batch'.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"module__dropout must lie in [0, 1); got {dropout!r}.")
        sizes = tuple(int(size) for size in hidden_layer_sizes)
        if any(size < 1 for size in sizes):
            raise ValueError("module__hidden_layer_sizes must hold positive integers; got "
                             f"{hidden_layer_sizes!r}.")
        layers = []
        width = int(n_features)
        for size in sizes:
            layers.append(nn.Linear(width, size))
            if norm == "layer":
                layers.append(nn.LayerNorm(size))
            elif norm == "batch":
                layers.append(nn.BatchNorm1d(size))
            layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, int(n_classes)))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        return self.layers(X)
