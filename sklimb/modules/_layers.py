"""Pieces shared by the networks of :mod:`sklimb.modules`: activations and argument checks."""

from __future__ import annotations

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


def hidden_block(n_in, n_out, activation, dropout, norm=None):
    """``Linear -> [norm] -> activation -> [Dropout]`` as a list of layers."""
    layers = [nn.Linear(n_in, n_out)]
    if norm == "layer":
        layers.append(nn.LayerNorm(n_out))
    elif norm == "batch":
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(activation())
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return layers
