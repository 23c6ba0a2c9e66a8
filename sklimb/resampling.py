"""Resampling of imbalanced training data: random over-, random under-sampling and SMOTE.

One implementation serves two uses, under one vocabulary (:data:`SAMPLERS`):

* **per epoch**: ``ImbalancedNetClassifier(sampler=...)`` draws a fresh
  resampled epoch from the training rows every epoch (:func:`draw_epoch`);
* **once per training fold**: :func:`make_sampler` gives an imbalanced-learn
  sampler for a pipeline step, as :func:`sklimb.compare` builds for the
  strategy parts ``over``, ``under`` and ``smote`` (:func:`resample`).

The class sizes are those of :func:`resampled_sizes`. SMOTE (Chawla et al.,
2002) interpolates between a row and one of its ``k`` nearest rows of the
same class, ``x_i + lam (x_j - x_i)`` with ``lam ~ U(0, 1)``, where ``k`` is
:data:`SMOTE_K_NEIGHBORS`, or ``n_c - 1`` for a class of ``n_c <= k`` rows;
the synthetic rows of a class with a single row are copies of it.
"""

from __future__ import annotations

import numpy as np
import torch
from imblearn import FunctionSampler
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_random_state

#: the resampling methods, by the names the estimator, strategies and the CLI use
SAMPLERS = ("over", "under", "smote")
#: neighbours SMOTE interpolates towards (``n_c - 1`` in a class of ``n_c <= k`` rows)
SMOTE_K_NEIGHBORS = 5


def check_sampler(sampler):
    """Raise a ``ValueError`` naming ``sampler`` unless it is one of :data:`SAMPLERS`."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r} is not supported; use one of {list(SAMPLERS)}.")


def resampled_sizes(class_counts, sampler, ratio=1.0):
    """Rows of each class after resampling.

    ``"over"`` and ``"smote"``: every class grows to ``round(n_max * ratio)``
    rows (a class already larger keeps its size); ``"under"``: every class
    shrinks to ``round(n_min / ratio)`` rows (a class already smaller keeps
    its size). ``n_max``/``n_min`` are the largest/smallest counts; ``ratio``
    in (0, 1].

    Examples
    --------
    >>> from sklimb.resampling import resampled_sizes
    >>> counts = [60, 25, 5]
    >>> resampled_sizes(counts, "over").tolist(), resampled_sizes(counts, "under").tolist()
    ([60, 60, 60], [5, 5, 5])
    """
    check_sampler(sampler)
    counts = np.asarray(class_counts, dtype=np.int64)
    if sampler == "under":
        return np.minimum(counts, round(counts.min() / ratio))
    return np.maximum(counts, round(counts.max() * ratio))


def draw_resampled(class_members, class_sizes, generator=None):
    """Shuffled row indices with ``class_sizes[c]`` rows of each class.

    A class that grows keeps all its rows plus extra rows drawn with
    replacement; a class that shrinks gives a random subset drawn without
    replacement. ``class_members`` are the row indices of each class (tensors);
    the draws come from the torch ``generator``.
    """
    parts = []
    for rows, size in zip(class_members, class_sizes, strict=True):
        n_rows, size = len(rows), int(size)
        if size > n_rows:
            parts += [rows, rows[torch.randint(n_rows, (size - n_rows,), generator=generator)]]
        elif size < n_rows:
            parts.append(rows[torch.randperm(n_rows, generator=generator)[:size]])
        else:
            parts.append(rows)
    indices = torch.cat(parts)
    return indices[torch.randperm(len(indices), generator=generator)]


def smote_neighbors(points, k=SMOTE_K_NEIGHBORS):
    """Indices (into ``points``) of each row's ``min(k, n - 1)`` nearest other rows.

    Euclidean distance, by scikit-learn's ``NearestNeighbors`` (memory linear
    in the rows). A single row gets itself as its only neighbour. Returns a
    CPU ``LongTensor`` of shape ``(n, min(k, n - 1))``.
    """
    points = np.asarray(points.detach().cpu() if torch.is_tensor(points) else points)
    k = min(int(k), len(points) - 1)
    if k < 1:
        return torch.zeros((len(points), 1), dtype=torch.long)
    found = NearestNeighbors(n_neighbors=k).fit(points).kneighbors(return_distance=False)
    return torch.as_tensor(found, dtype=torch.long)


def smote_rows(X, rows, neighbors, n_new, generator=None):
    """``n_new`` SMOTE rows of one class: ``(synthetic X, index of each base row)``.

    Each is ``X[i] + lam (X[j] - X[i])`` for a row ``i`` drawn uniformly from
    ``rows``, ``j`` one of its ``neighbors`` (indices into ``rows``) and
    ``lam ~ U(0, 1)``, all drawn from ``generator``.
    """
    base = torch.randint(len(rows), (n_new,), generator=generator)
    pick = torch.randint(neighbors.shape[1], (n_new,), generator=generator)
    lam = torch.rand((n_new, 1), generator=generator).to(X.device, X.dtype)
    start = rows[base].to(X.device)
    end = rows[neighbors[base, pick]].to(X.device)
    return torch.lerp(X[start], X[end], lam), start


def class_neighbors(X, class_members, class_sizes):
    """:func:`smote_neighbors` of the rows of each class that grows (``None`` for the others)."""
    return [smote_neighbors(X[rows.to(X.device)]) if int(size) > len(rows) else None
            for rows, size in zip(class_members, class_sizes, strict=True)]


def smote_growth(X, class_members, neighbors, class_sizes, generator=None):
    """Fresh SMOTE rows that grow each class to ``class_sizes``.

    Returns ``(synthetic X, index of each synthetic row's base row)``; a class
    already as large gets none. ``neighbors`` is :func:`class_neighbors`.
    """
    parts_X, parts_base = [X[:0]], [torch.zeros(0, dtype=torch.long, device=X.device)]
    for rows, near, size in zip(class_members, neighbors, class_sizes, strict=True):
        if int(size) > len(rows):
            new_X, base = smote_rows(X, rows, near, int(size) - len(rows), generator)
            parts_X.append(new_X)
            parts_base.append(base)
    return torch.cat(parts_X), torch.cat(parts_base)


def draw_epoch(dataset, sampler, class_sizes, generator=None):
    """One resampled epoch of an in-memory dataset, shuffled.

    ``dataset`` has tensors ``X``, ``y``, ``sample_weight`` (or ``None``), a
    ``class_members()`` method and a ``take(index)`` method (see
    :class:`sklimb._batches.ArrayDataset`). ``"over"``/``"under"`` draw rows
    (:func:`draw_resampled`); ``"smote"`` keeps every row and adds fresh
    synthetic rows up to ``class_sizes`` (:func:`smote_growth`), each with the
    sample weight of its base row. The SMOTE neighbours are computed once per
    dataset and cached.
    """
    check_sampler(sampler)
    members = dataset.class_members()
    if sampler != "smote":
        return dataset.take(draw_resampled(members, class_sizes, generator))
    if getattr(dataset, "_smote_neighbors", None) is None:
        dataset._smote_neighbors = class_neighbors(dataset.X, members, class_sizes)
    new_X, base = smote_growth(dataset.X, members, dataset._smote_neighbors, class_sizes,
                               generator)
    weights = dataset.sample_weight
    grown = type(dataset)(torch.cat([dataset.X, new_X]), torch.cat([dataset.y, dataset.y[base]]),
                          None if weights is None else torch.cat([weights, weights[base]]))
    return grown.take(torch.randperm(len(grown), generator=generator))


def resample(X, y, *, sampler="smote", sampling_ratio=1.0, random_state=None):
    """Resample ``X, y`` once: the function behind :func:`make_sampler`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Any labels.
    sampler : {"over", "under", "smote"}, default="smote"
    sampling_ratio : float, default=1.0
        See :func:`resampled_sizes`.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X_resampled, y_resampled : ndarrays
        For ``"smote"``, the original rows first, then the synthetic ones.
    """
    X, y = np.asarray(X), np.asarray(y)
    labels, codes = np.unique(y, return_inverse=True)
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    generator = torch.Generator().manual_seed(int(seed))
    members = [torch.as_tensor(np.flatnonzero(codes == c)) for c in range(len(labels))]
    sizes = resampled_sizes([len(rows) for rows in members], sampler, sampling_ratio)
    if sampler != "smote":
        index = draw_resampled(members, sizes, generator).numpy()
        return X[index], y[index]
    X_t = torch.as_tensor(np.ascontiguousarray(X))
    new_X, base = smote_growth(X_t, members, class_neighbors(X_t, members, sizes), sizes,
                               generator)
    return np.concatenate([X, new_X.numpy()]), np.concatenate([y, y[base.numpy()]])


def make_sampler(name, random_state=None, sampling_ratio=1.0):
    """An imbalanced-learn sampler (a pipeline step) that applies :func:`resample`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklimb.resampling import make_sampler
    >>> X, y = np.arange(20.0).reshape(10, 2), np.array([0] * 8 + [1] * 2)
    >>> X_res, y_res = make_sampler("smote", random_state=0).fit_resample(X, y)
    >>> np.bincount(y_res).tolist()
    [8, 8]
    """
    check_sampler(name)
    return FunctionSampler(func=resample, kw_args={
        "sampler": name, "sampling_ratio": sampling_ratio, "random_state": random_state})


__all__ = ["SAMPLERS", "SMOTE_K_NEIGHBORS", "class_neighbors", "draw_epoch", "draw_resampled",
           "make_sampler", "resample", "resampled_sizes", "smote_growth", "smote_neighbors",
           "smote_rows"]
