"""Pieces shared by the networks of :mod:`sklimb.modules`: activations and argument checks."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh,
               "leaky_relu": nn.LeakyReLU}


def check_activation(activation):
    """Return the activation class named ``activation``."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"module__activation={activation!r} is not supported; use one of "
                         f"{sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[activation]


def check_dropout(dropout):
    """Return ``dropout`` as a float in ``[0, 1)``."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) \
            or not 0.0 <= dropout < 1.0:
        raise ValueError(f"module__dropout must lie in [0, 1); got {dropout!r}.")
    return float(dropout)


def check_sizes(hidden_layer_sizes):
    """Return the hidden layer widths as a tuple of positive ints."""
    try:
        sizes = tuple(int(size) for size in hidden_layer_sizes)
    except TypeError:
        sizes = None
    if sizes is None or any(size < 1 for size in sizes) or any(
            isinstance(size, bool) or int(size) != size for size in hidden_layer_sizes):
        raise ValueError("module__hidden_layer_sizes must be a sequence of positive integers; "
                         f"got {hidden_layer_sizes!r}.")
    return sizes


def check_positive_int(name, value):
    """Return ``value`` as an int ``>= 1``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"module__{name} must be an integer >= 1; got {value!r}.")
    return value


class Dropout(nn.Dropout):
    """Inverted dropout whose CPU mask comes from 16-bit random integers.

    The same layer as ``torch.nn.Dropout`` (each activation is zeroed with
    probability ``p`` while training and the others are scaled by
    ``1 / (1 - p)``), with ``p`` rounded to a multiple of ``1 / 65536``. On the
    CPU, ``nn.Dropout`` draws one random number per activation through
    ``bernoulli_``, which on a batch of a tabular network costs more than the
    linear layer it follows; here one 64-bit draw gives the random integers of
    four activations, and the mask is a multiplication (``masked_fill`` and
    ``where`` cost more on the CPU). Other devices, and ``inplace=True``, use
    PyTorch's own kernel. It draws from torch's global generator, so
    ``torch.manual_seed`` (and the estimator's ``random_state``) make it
    reproducible.

    Examples
    --------
    >>> import torch
    >>> from sklimb.modules._layers import Dropout
    >>> _ = torch.manual_seed(0)
    >>> out = Dropout(0.5)(torch.ones(1000))
    >>> sorted(out.unique().tolist()), abs(float(out.mean()) - 1.0) < 0.1
    ([0.0, 2.0], True)
    """

    _LEVELS = 65536

    def forward(self, X):
        if not self.training or self.p == 0.0:
            return X
        if X.device.type != "cpu" or self.inplace:
            return super().forward(X)
        dropped = round(self.p * self._LEVELS)
        if dropped >= self._LEVELS:
            return X * 0.0
        words = torch.randint(-2**63, 2**63 - 1, ((X.numel() + 3) // 4,), dtype=torch.int64)
        noise = words.view(torch.int16)[:X.numel()].view(X.shape)
        # int16 noise is uniform on [-32768, 32767]: kept w.p. 1 - dropped / 65536
        keep = (noise >= dropped - self._LEVELS // 2).to(X.dtype)
        return X * keep.mul_(self._LEVELS / (self._LEVELS - dropped))


def hidden_block(n_in, n_out, activation, dropout, norm=None):
    """``Linear -> [norm] -> activation -> [Dropout]`` as a list of layers."""
    layers = [nn.Linear(n_in, n_out)]
    if norm == "layer":
        layers.append(nn.LayerNorm(n_out))
    elif norm == "batch":
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(activation())
    if dropout > 0:
        layers.append(Dropout(dropout))
    return layers
