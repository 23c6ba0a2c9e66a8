"""What a module, loss or optimiser class declares in its signature."""

from __future__ import annotations

import inspect

import torch


def _parameters(factory):
    """The parameters of ``factory``'s constructor (or of a function), or ``None``.

    A ``torch.nn.Module`` subclass without an ``__init__`` of its own takes
    no arguments, although ``inspect`` reports ``Module.__init__``'s
    ``(*args, **kwargs)``.
    """
    if isinstance(factory, type) and factory.__init__ is torch.nn.Module.__init__:
        return {}
    try:
        return inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return None


def named_parameters(factory):
    """Names of the parameters ``factory`` declares explicitly (an empty set if unknown).

    Positional-or-keyword and keyword-only parameters count; ``*args`` and
    ``**kwargs`` do not, so a constructor that takes only ``**kwargs``
    declares none.
    """
    parameters = _parameters(factory) or {}
    return {name for name, p in parameters.items()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def takes_any_keyword(factory):
    """Whether ``factory`` accepts keyword arguments it does not name (``**kwargs``)."""
    parameters = _parameters(factory)
    if parameters is None:
        return True
    return any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def fill_in(factory, kwargs, values, prefix, missing):
    """``kwargs`` plus the ``values`` whose names ``factory`` declares and ``kwargs`` lacks.

    A declared name that ``kwargs`` lacks and whose value is ``None`` raises a
    ``ValueError``: ``missing``, then how to pass it as ``<prefix>__<name>``.
    """
    kwargs = dict(kwargs)
    declared = named_parameters(factory)
    for name, value in values.items():
        if name in declared and name not in kwargs:
            if value is None:
                raise ValueError(f"{missing}, or pass {prefix}__{name}.")
            kwargs[name] = value
    return kwargs
