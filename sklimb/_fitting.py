"""Helpers of :class:`~sklimb.ImbalancedNetClassifier`: labels, tensors, modules, budgets."""

from __future__ import annotations

import inspect
import math

import numpy as np
import torch
from sklearn.preprocessing import LabelEncoder

from ._training import ArrayDataset

#: ``max_epochs="auto"``: ``AUTO_MAX_EPOCHS`` epochs, fewer when that would take more than
#: about ``AUTO_STEPS`` optimiser steps, but at least ``AUTO_MIN_EPOCHS``.
AUTO_STEPS = 20_000
AUTO_MIN_EPOCHS = 10
AUTO_MAX_EPOCHS = 200


class FitData:
    """Training and validation datasets prepared by ``fit``, handed through skorch."""

    def __init__(self, train, valid):
        self.train = train
        self.valid = valid

    def __len__(self):
        return len(self.train)


def check_device(device):
    """Raise a ``ValueError`` naming ``device`` if torch cannot parse or use it."""
    if device is None:
        return
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device ({exc}); use 'cpu', "
                         "'cuda', 'cuda:0', ...") from exc
    available = {"cpu": lambda: True, "cuda": torch.cuda.is_available,
                 "mps": lambda: torch.backends.mps.is_available(),
                 "meta": lambda: True}.get(kind, lambda: False)
    if not available():
        raise ValueError(f"device={device!r}: no {kind} device is available on this "
                         "machine; use device='cpu'.")
    if kind == "cuda":
        index = torch.device(device).index
        if index is not None and index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s).")


def auto_epochs(batches_per_epoch):
    """Epochs of ``max_epochs="auto"``: ``clip(ceil(AUTO_STEPS / batches), MIN, MAX)``."""
    epochs = math.ceil(AUTO_STEPS / max(int(batches_per_epoch), 1))
    return int(np.clip(epochs, AUTO_MIN_EPOCHS, AUTO_MAX_EPOCHS))


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


def fit_labels(y, classes):
    """A ``LabelEncoder`` for ``y`` (or for ``classes`` if given), with checks."""
    encoder = LabelEncoder().fit(y if classes is None else np.asarray(classes))
    if classes is not None:
        missing = np.setdiff1d(np.unique(y), encoder.classes_)
        if missing.size:
            raise ValueError(f"y contains labels {missing.tolist()!r} that are not in "
                             f"classes={encoder.classes_.tolist()!r}.")
    if len(encoder.classes_) < 2:
        raise ValueError(
            f"y has only one class ({encoder.classes_.tolist()!r}); a classifier needs "
            "samples of at least two classes. Check the labels or the data split."
        )
    return encoder


def encode_labels(encoder, y):
    """``y`` as int64 codes ``0..n_classes-1``; a clear error for unknown labels."""
    try:
        return encoder.transform(y).astype(np.int64)
    except ValueError as exc:
        raise ValueError(f"y contains labels the classifier was not set up with "
                         f"(classes are {encoder.classes_.tolist()!r}): {exc}") from exc


def as_tensor(array, device):
    """A tensor sharing memory with ``array`` where possible (copied if read-only)."""
    return torch.as_tensor(np.require(array, requirements="W"), device=device)


def subset(dataset, indices):
    """The rows ``indices`` of an :class:`ArrayDataset`."""
    index = torch.as_tensor(indices, device=dataset.X.device)
    weights = None if dataset.sample_weight is None else dataset.sample_weight[index]
    return ArrayDataset(dataset.X[index], dataset.y[index], weights)


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
