"""In-memory training data of the estimator: tensors indexed a batch at a time.

skorch's default ``Dataset`` + ``DataLoader`` fetch one row per ``__getitem__``
and collate them, which dominates the cost of training a small network on
tabular data. :class:`ArrayDataset` keeps the tensors whole and
:class:`ArrayBatches` slices them; both plug into skorch through
``get_split_datasets`` and ``get_iterator``, so every batch still goes
through skorch's ``train_step``.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from . import resampling


class ArrayDataset(torch.utils.data.Dataset):
    """Tensors ``X``, ``y`` and optional ``sample_weight`` held in memory."""

    def __init__(self, X, y, sample_weight=None):
        self.X = X
        self.y = y
        self.sample_weight = sample_weight

    def __len__(self):
        return self.X.shape[0]

    def class_members(self):
        """Row indices of each class present in ``y`` (CPU tensors), computed once.

        One stable ``argsort`` split by the class counts; the result is cached
        so that per-epoch resampling only draws indices.
        """
        if getattr(self, "_class_members", None) is None:
            y = self.y.cpu()
            members = torch.split(torch.argsort(y, stable=True), torch.bincount(y).tolist())
            self._class_members = [rows for rows in members if len(rows)]
        return self._class_members

    def take(self, index):
        """The rows ``index`` (a tensor or array of row numbers) as a new dataset."""
        index = torch.as_tensor(index, device=self.X.device)
        weights = (None if self.sample_weight is None
                   else self.sample_weight.index_select(0, index))
        return ArrayDataset(self.X.index_select(0, index), self.y.index_select(0, index),
                            weights)

    def __getitem__(self, index):
        target = self.y[index]
        if self.sample_weight is not None:
            target = (target, self.sample_weight[index])
        return self.X[index], target


class FitData:
    """The training and validation :class:`ArrayDataset` of one ``fit``, handed to skorch."""

    def __init__(self, train, valid):
        self.train = train
        self.valid = valid

    def __len__(self):
        return len(self.train)


class ArrayBatches:
    """Iterate over an :class:`ArrayDataset` in mini-batches.

    Yields ``(X_batch, y_batch)`` or, with sample weights,
    ``(X_batch, (y_batch, weight_batch))``. With ``shuffle`` a fresh
    permutation is drawn from ``generator`` at the start of every epoch.
    With a ``sampler`` of :data:`sklimb.resampling.SAMPLERS` every epoch is a
    fresh draw of :func:`sklimb.resampling.draw_epoch`, always shuffled;
    sample weights travel with their rows.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None, sampler=None,
                 sampling_ratio=1.0):
        self.dataset = dataset
        self.shuffle = shuffle
        self.generator = generator
        self.sampler = sampler
        self.sampling_ratio = sampling_ratio
        self.class_sizes = None
        if sampler is not None:
            counts = [len(rows) for rows in dataset.class_members()]
            self.class_sizes = resampling.resampled_sizes(counts, sampler, sampling_ratio)
        self.batch_size = self.n_rows() if batch_size in (-1, None) else int(batch_size)

    def n_rows(self):
        """Rows of one epoch (after resampling, with a sampler)."""
        if self.class_sizes is None:
            return len(self.dataset)
        return int(sum(self.class_sizes))

    def _starts(self):
        """Batch start positions; a last batch of one sample joins the one before it.

        A single-sample batch breaks batch normalisation in training mode and
        gives a gradient step from one example; it is merged instead.
        """
        n_samples = self.n_rows()
        starts = list(range(0, n_samples, self.batch_size))
        if len(starts) > 1 and n_samples - starts[-1] == 1:
            starts.pop()
        return [*starts, n_samples]

    def __len__(self):
        return len(self._starts()) - 1

    def __iter__(self):
        dataset = self.dataset
        if self.sampler is not None:
            dataset = resampling.draw_epoch(dataset, self.sampler, self.class_sizes,
                                            self.generator)
        elif self.shuffle:  # one gather per epoch; the batches are then views of it
            dataset = dataset.take(torch.randperm(len(dataset), generator=self.generator))
        for start, stop in itertools.pairwise(self._starts()):
            yield dataset[start:stop]


def fit_data(X, y, sample_weight, device, validation_fraction=None, seed=None):
    """The :class:`FitData` of one ``fit``: tensors on ``device``, and a stratified
    hold-out of ``validation_fraction`` (:func:`stratified_holdout`) if one is given."""
    dataset = ArrayDataset(
        as_tensor(X, device), torch.as_tensor(y, device=device),
        None if sample_weight is None else torch.as_tensor(sample_weight, device=device))
    if validation_fraction is None:
        return FitData(dataset, None)
    train, valid = stratified_holdout(y, validation_fraction, seed)
    return FitData(dataset.take(train), dataset.take(valid))


def as_tensor(array, device):
    """A tensor sharing memory with ``array`` where possible (copied if read-only)."""
    return torch.as_tensor(np.require(array, requirements="W"), device=device)


def stratified_holdout(y, fraction, seed):
    """Train/validation indices with ``fraction`` of every class held out.

    Each class with at least two samples puts at least one in the validation
    split (a proportional split would leave rare classes out of it entirely
    and the imbalance-aware validation score blind to them); a class with a
    single sample stays in training.
    """
    rng = np.random.RandomState(seed)
    valid = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        if len(members) >= 2:
            valid.append(members[:max(1, round(fraction * len(members)))])
    valid = np.sort(np.concatenate(valid)) if valid else np.array([], dtype=int)
    train = np.setdiff1d(np.arange(len(y)), valid)
    return train, valid
