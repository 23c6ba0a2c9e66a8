"""Training plumbing of the estimator: in-memory batches, resampling, seeding, threads."""

from __future__ import annotations

import contextlib
import itertools
import threading

import numpy as np
import torch


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

    def take(self, index):
        """The rows ``index`` (a tensor of row numbers) as a new dataset."""
        weights = (None if self.sample_weight is None
                   else self.sample_weight.index_select(0, index))
        return ArrayDataset(self.X.index_select(0, index), self.y.index_select(0, index),
                            weights)

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
        dataset, order = self.dataset, None
        if self.sampler == "smote":
            dataset = draw_smote_epoch(self.dataset, self.class_sizes, self.generator)
            order = torch.randperm(len(dataset), generator=self.generator)
        elif self.sampler is not None:
            order = draw_resampled(dataset.class_members(), self.class_sizes, self.generator)
        elif self.shuffle:
            order = torch.randperm(len(dataset), generator=self.generator)
        if order is not None:  # one gather per epoch; the batches are then views of it
            dataset = dataset.take(order.to(dataset.X.device))
        for start, stop in itertools.pairwise(self._starts()):
            yield dataset[start:stop]


def resampled_sizes(class_counts, sampler, ratio=1.0):
    """Rows of each class in a resampled epoch.

    ``"over"`` and ``"smote"``: every class grows to ``round(n_max * ratio)``
    rows (a class already larger keeps its size); ``"under"``: every class shrinks to
    ``round(n_min / ratio)`` rows (a class already smaller keeps its size).
    ``n_max``/``n_min`` are the largest/smallest counts; ``ratio`` in (0, 1].
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    if sampler in ("over", "smote"):
        return np.maximum(counts, round(counts.max() * ratio))
    if sampler == "under":
        return np.minimum(counts, round(counts.min() / ratio))
    raise ValueError(f"sampler={sampler!r} is not supported; use 'over', 'smote' or "
                     "'under'.")


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


#: neighbours SMOTE interpolates towards (fewer in a class with fewer rows)
SMOTE_NEIGHBORS = 5


def class_neighbors(dataset):
    """Per class: indices (into the class's rows) of each row's nearest same-class rows.

    Computed once per dataset and cached. A class with ``n`` rows gets
    ``min(SMOTE_NEIGHBORS, n - 1)`` neighbours per row (Euclidean distance on
    the network's inputs); a single row is its own neighbour.
    """
    if getattr(dataset, "_class_neighbors", None) is None:
        neighbors = []
        for rows in dataset.class_members():
            points = dataset.X[rows.to(dataset.X.device)].float()
            k = min(SMOTE_NEIGHBORS, len(rows) - 1)
            if k < 1:
                neighbors.append(torch.zeros((len(rows), 1), dtype=torch.long))
                continue
            distances = torch.cdist(points, points)
            distances.fill_diagonal_(float("inf"))
            neighbors.append(distances.topk(k, dim=1, largest=False).indices.cpu())
        dataset._class_neighbors = neighbors
    return dataset._class_neighbors


def draw_smote_epoch(dataset, class_sizes, generator=None):
    """One epoch's rows: every original row plus fresh SMOTE rows up to ``class_sizes``.

    A synthetic row of class ``c`` is ``x_i + lam * (x_j - x_i)`` for a random
    row ``i`` of the class, one of its nearest same-class neighbours ``j``
    (:func:`class_neighbors`) and ``lam ~ U(0, 1)`` (Chawla et al., 2002),
    drawn anew every epoch; it carries the sample weight of row ``i``.
    Returns an :class:`ArrayDataset` (the originals first, unshuffled).
    """
    parts_X, parts_y, parts_w = [dataset.X], [dataset.y], [dataset.sample_weight]
    device = dataset.X.device
    for rows, neighbors, size in zip(dataset.class_members(), class_neighbors(dataset),
                                     class_sizes, strict=True):
        n_extra = int(size) - len(rows)
        if n_extra <= 0:
            continue
        base = torch.randint(len(rows), (n_extra,), generator=generator)
        pick = torch.randint(neighbors.shape[1], (n_extra,), generator=generator)
        lam = torch.rand((n_extra, 1), generator=generator).to(device, dataset.X.dtype)
        start = dataset.X[rows[base].to(device)]
        end = dataset.X[rows[neighbors[base, pick]].to(device)]
        parts_X.append(torch.lerp(start, end, lam))
        parts_y.append(dataset.y[rows[base].to(device)])
        if dataset.sample_weight is not None:
            parts_w.append(dataset.sample_weight[rows[base].to(device)])
    weights = None if dataset.sample_weight is None else torch.cat(parts_w)
    return ArrayDataset(torch.cat(parts_X), torch.cat(parts_y), weights)


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


@contextlib.contextmanager
def flushed_subnormals():
    """Run the block with subnormal floats treated as zero (the CPU's flush-to-zero and
    denormals-are-zero modes, ``torch.set_flush_denormal``), then restore the mode.

    Late in training, small gradients make AdamW's second moments and the
    activations of saturated units subnormal (below ``1.2e-38`` in float32), and the
    CPU computes with subnormals many times slower than with normal numbers: with a
    saturating loss (dice, LDAM) a fit took 1.4x as long (benchmarks/bench_fit.py).
    Values that small change no prediction. The mode is a setting of the calling
    thread; it is restored only if it was off before the block.
    """
    was_on = torch.tensor([1e-40]).mul_(1.0).item() == 0.0  # a subnormal read as zero
    switched = not was_on and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if switched:
            torch.set_flush_denormal(False)


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
