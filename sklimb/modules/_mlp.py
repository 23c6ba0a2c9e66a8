"""The plain multi-layer perceptron (``module="mlp"``)."""

from __future__ import annotations

from torch import nn

from ._layers import check_activation, check_dropout, check_sizes, hidden_block


class MLP(nn.Module):
    """Multi-layer perceptron for tabular data that returns raw logits.

    :class:`~sklimb.ImbalancedNetClassifier` fills ``n_features`` and
    ``n_classes`` from the data at fit time; the rest is set through
    ``module__<name>`` (for example ``module__hidden_layer_sizes=(64,)``).
    Chosen with ``module="mlp"``.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_classes : int
        Number of classes (output logits); binary problems use 2.
    hidden_layer_sizes : tuple of int, default=(100,)
        Width of each hidden layer; ``()`` gives a linear model.
    dropout : float, default=0.0
        Dropout probability after each hidden activation (only while training).
    activation : {"relu", "gelu", "silu", "tanh", "leaky_relu"}, default="relu"
        Hidden activation.
    norm : {None, "layer", "batch"}, default=None
        Optional normalisation before each activation. ``"layer"`` works with
        any batch size; ``"batch"`` needs batches of at least two samples in
        training (the estimator never forms a one-sample batch).

    See Also
    --------
    EnsembleMLP : k networks sharing most weights, trained and averaged together.

    Examples
    --------
    >>> import torch
    >>> from sklimb.modules import MLP
    >>> MLP(n_features=4, n_classes=3, hidden_layer_sizes=(8,))(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, n_features, n_classes, hidden_layer_sizes=(100,), dropout=0.0,
                 activation="relu", norm=None):
        super().__init__()
        activation_class = check_activation(activation)
        if norm not in (None, "layer", "batch"):
            raise ValueError(f"module__norm={norm!r} is not supported; use None, 'layer' or "
                             "'batch'.")
        dropout = check_dropout(dropout)
        layers = []
        width = int(n_features)
        for size in check_sizes(hidden_layer_sizes):
            layers += hidden_block(width, size, activation_class, dropout, norm)
            width = size
        layers.append(nn.Linear(width, int(n_classes)))
        self.layers = nn.Sequential(*layers)

    def forward(self, X):
        return self.layers(X)
