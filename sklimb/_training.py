"""Training plumbing of the estimator: in-memory batches, seeding, threads, validation."""

from __future__ import annotations

import contextlib
import itertools
import threading
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import get_scorer
from skorch.callbacks import Callback


class ArrayDataset(torch.utils.data.Dataset):
    """Tensors held in memory, indexed a whole batch at a time.

    skorch's default ``Dataset`` + ``DataLoader`` fetch one row per
    ``__getitem__`` and collate them, which dominates the cost of training a
    small network on tabular data. :class:`ArrayBatches` slices these tensors
    directly instead.
    """

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
            counts = torch.bincount(y)
            members = torch.split(torch.argsort(y, stable=True), counts.tolist())
            self._class_members = [rows for rows in members if len(rows)]
        return self._class_members

    def __getitem__(self, index):
        target = self.y[index]
        if self.sample_weight is not None:
            target = (target, self.sample_weight[index])
        return self.X[index], target


class ArrayBatches:
    """Iterate over an :class:`ArrayDataset` in mini-batches.

    Yields ``(X_batch, y_batch)`` or, with sample weights,
    ``(X_batch, (y_batch, weight_batch))``. With ``shuffle`` a fresh
    permutation is drawn from ``generator`` at the start of every epoch.

    With ``sampler="over"`` or ``"under"`` every epoch draws a fresh set of
    rows from ``generator`` (see :func:`resampled_sizes` for the class sizes
    and :func:`draw_resampled` for the draw) and always shuffles them; sample
    weights travel with their rows.
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
            self.class_sizes = resampled_sizes(counts, sampler, sampling_ratio)
        self.batch_size = self._n_rows() if batch_size in (-1, None) else int(batch_size)

    def _n_rows(self):
        if self.class_sizes is None:
            return len(self.dataset)
        return int(sum(self.class_sizes))

    def _starts(self):
        """Batch start positions; a last batch of one sample joins the one before it.

        A single-sample batch breaks batch normalisation in training mode and
        gives a gradient step from one example; it is merged instead.
        """
        n_samples = self._n_rows()
        starts = list(range(0, n_samples, self.batch_size))
        if len(starts) > 1 and n_samples - starts[-1] == 1:
            starts.pop()
        return [*starts, n_samples]

    def __len__(self):
        return len(self._starts()) - 1

    def __iter__(self):
        order = None
        if self.sampler is not None:
            order = draw_resampled(self.dataset.class_members(), self.class_sizes,
                                   self.generator)
        elif self.shuffle:
            order = torch.randperm(len(self.dataset), generator=self.generator)
        if order is not None:
            order = order.to(self.dataset.X.device)
        starts = self._starts()
        for start, stop in itertools.pairwise(starts):
            if order is None:
                yield self.dataset[start:stop]
            else:
                yield self.dataset[order[start:stop]]


def resampled_sizes(class_counts, sampler, ratio=1.0):
    """Rows of each class in a resampled epoch.

    ``"over"``: every class grows to ``round(n_max * ratio)`` rows (a class
    already larger keeps its size); ``"under"``: every class shrinks to
    ``round(n_min / ratio)`` rows (a class already smaller keeps its size).
    ``n_max``/``n_min`` are the largest/smallest counts; ``ratio`` in (0, 1].
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    if sampler == "over":
        return np.maximum(counts, round(counts.max() * ratio))
    if sampler == "under":
        return np.minimum(counts, round(counts.min() / ratio))
    raise ValueError(f"sampler={sampler!r} is not supported; use 'over' or 'under'.")


def draw_resampled(class_members, class_sizes, generator=None):
    """One epoch's shuffled row indices: ``class_sizes[c]`` rows of each class.

    A class that grows keeps all its rows plus extra rows drawn with
    replacement; a class that shrinks gives a random subset drawn without
    replacement. Vectorised per class; the draws come from ``generator``.
    """
    parts = []
    for rows, size in zip(class_members, class_sizes, strict=True):
        n_rows, size = len(rows), int(size)
        if size > n_rows:
            extra = torch.randint(n_rows, (size - n_rows,), generator=generator)
            parts += [rows, rows[extra]]
        elif size < n_rows:
            parts.append(rows[torch.randperm(n_rows, generator=generator)[:size]])
        else:
            parts.append(rows)
    indices = torch.cat(parts)
    return indices[torch.randperm(len(indices), generator=generator)]


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block with ``torch.set_num_threads(n_threads)`` (``None``: unchanged)."""
    if n_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


_SEEDED_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded(seed, device):
    """Seed torch inside the block and restore the global RNG state afterwards.

    Weight initialisation and dropout draw from torch's process-wide
    generator, so seeded fits running in threads of one process (a threaded
    Dask worker, joblib's threading backend) would interleave their draws.
    Seeded blocks therefore hold a process-wide lock: threads take turns,
    separate processes still run in parallel. ``seed=None`` leaves the global
    generators alone and takes no lock (non-reproducible fits).
    """
    if seed is None:
        yield
        return
    devices = []
    if str(device).startswith("cuda") and torch.cuda.is_available():
        devices = [torch.device(device).index or 0]
    with _SEEDED_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


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


class _Predictions(ClassifierMixin, BaseEstimator):
    """A fitted-looking classifier that returns predictions computed already.

    Lets a scikit-learn scorer (any name ``get_scorer`` accepts) score the
    network's validation outputs on encoded labels ``0..C-1``.
    """

    def __init__(self, proba=None):
        self.proba = proba

    def fit(self, X=None, y=None):
        return self

    @property
    def classes_(self):
        return np.arange(self.proba.shape[1])

    def predict_proba(self, X):
        return self.proba[X]

    def decision_function(self, X):
        proba = self.proba[X]
        return proba[:, 1] if proba.shape[1] == 2 else proba

    def predict(self, X):
        return self.proba[X].argmax(axis=1)


class ValidationScore(Callback):
    """Score the network on the validation set at the end of every epoch.

    Predictions are made on the encoded labels directly (no input validation)
    and scored with ``sklearn.metrics.get_scorer(scoring)``; the score is
    recorded in the history as ``valid_score`` (greater is better).
    """

    def __init__(self, scoring="balanced_accuracy"):
        self.scoring = scoring

    def initialize(self):
        self.scorer_ = get_scorer(self.scoring)
        return self

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is None:
            return
        logits = net.forward_logits(dataset_valid.X)
        proba = torch.softmax(logits.double(), dim=1).cpu().numpy()
        y_true = dataset_valid.y.cpu().numpy()
        rows = np.arange(len(y_true))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedMetricWarning)
            try:
                score = self.scorer_(_Predictions(proba), rows, y_true)
            except ValueError as exc:
                raise ValueError(
                    f"early stopping could not compute scoring={self.scoring!r} on the "
                    f"validation split ({len(np.unique(y_true))} of {proba.shape[1]} classes "
                    f"present): {exc}. Use a label-based scorer such as 'balanced_accuracy' "
                    "or a larger validation_fraction."
                ) from exc
        net.history.record("valid_score", float(score))
