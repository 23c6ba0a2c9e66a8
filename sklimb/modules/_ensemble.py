"""Parameter-efficient ensembles of MLPs (TabM-mini, Gorishniy et al. 2025)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._layers import (
    check_activation,
    check_dropout,
    check_positive_int,
    check_sizes,
    hidden_block,
)


class EnsembleLinear(nn.Module):
    """``k`` independent linear layers applied to the ``k`` member slices of the input.

    Maps ``(n_samples, k, in_features)`` to ``(n_samples, k, out_features)``
    with member ``j`` using its own ``weight[j]`` and ``bias[j]``; each is
    initialised as ``torch.nn.Linear`` would initialise it alone.

    Parameters
    ----------
    in_features, out_features : int
        Input and output widths of every member.
    n_members : int
        Number of members ``k``.

    Examples
    --------
    >>> import torch
    >>> from sklimb.modules import EnsembleLinear
    >>> EnsembleLinear(4, 3, n_members=5)(torch.zeros(2, 5, 4)).shape
    torch.Size([2, 5, 3])
    """

    def __init__(self, in_features, out_features, n_members):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_members, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(n_members, out_features))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        # (k, n, in) @ (k, in, out) -> (k, n, out): one batched matrix product
        out = torch.baddbmm(self.bias.unsqueeze(1), x.transpose(0, 1), self.weight)
        return out.transpose(0, 1)


class EnsembleMLP(nn.Module):
    r"""``k`` MLPs that share their hidden layers: TabM-mini (Gorishniy et al., 2025).

    Member :math:`j` sees the input scaled feature-wise by its own vector
    :math:`r_j` (initialised with random signs, so the members differ from
    the start), passes it through hidden layers whose weights all members
    share, and has its own output layer:

    .. math::

        z_j(x) = \mathrm{head}_j\big(\mathrm{MLP}(x \odot r_j)\big),
        \qquad j = 1, \dots, k.

    The forward pass returns the logits of every member, shape
    ``(n_samples, k, n_classes)``. :class:`~sklimb.ImbalancedNetClassifier`
    trains on the mean of the per-member losses (each member gets the
    imbalance loss, class weights and sample weights) and predicts the mean
    of the member probabilities. Dropout draws separate masks per member.
    The ``k`` members cost about ``k`` times one MLP's arithmetic but a
    single set of hidden weights and one optimiser step, which is what makes
    the ensemble cheap on small data.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_classes : int
        Number of classes.
    n_members : int, default=8
        Ensemble size ``k``.
    hidden_layer_sizes : tuple of int, default=(128, 128)
        Widths of the shared hidden layers (at least one).
    dropout : float, default=0.1
        Dropout probability after each hidden activation.
    activation : {"relu", "gelu", "silu", "tanh", "leaky_relu"}, default="relu"
        Hidden activation.

    References
    ----------
    .. [1] Y. Gorishniy, A. Kotelnikov, A. Babenko, "TabM: Advancing Tabular
       Deep Learning with Parameter-Efficient Ensembling", ICLR 2025.
    .. [2] Y. Wen, D. Tran, J. Ba, "BatchEnsemble: an Alternative Approach to
       Efficient Ensemble and Lifelong Learning", ICLR 2020.

    Examples
    --------
    >>> import torch
    >>> from sklimb.modules import EnsembleMLP
    >>> net = EnsembleMLP(n_features=4, n_classes=3, n_members=5, hidden_layer_sizes=(8,))
    >>> net(torch.zeros(2, 4)).shape
    torch.Size([2, 5, 3])
    """

    def __init__(self, n_features, n_classes, n_members=8, hidden_layer_sizes=(128, 128),
                 dropout=0.1, activation="relu"):
        super().__init__()
        activation_class = check_activation(activation)
        dropout = check_dropout(dropout)
        sizes = check_sizes(hidden_layer_sizes)
        if not sizes:
            raise ValueError("module__hidden_layer_sizes needs at least one hidden layer for "
                             "EnsembleMLP; use module='mlp' for a linear model.")
        self.n_members = check_positive_int("n_members", n_members)
        signs = torch.randint(0, 2, (self.n_members, int(n_features))) * 2.0 - 1.0
        self.scaling = nn.Parameter(signs)
        layers, width = [], int(n_features)
        for size in sizes:
            layers += hidden_block(width, size, activation_class, dropout)
            width = size
        self.hidden = nn.Sequential(*layers)
        self.head = EnsembleLinear(width, int(n_classes), self.n_members)

    def forward(self, X):
        return self.head(self.hidden(X.unsqueeze(1) * self.scaling))
