"""The estimator's training plumbing: in-memory batches and the stratified hold-out."""

import numpy as np
import pytest
import torch

from sklimb import ImbalancedNetClassifier
from sklimb._training import (
    ArrayBatches,
    ArrayDataset,
    draw_resampled,
    flushed_subnormals,
    resampled_sizes,
    stratified_holdout,
)


def dataset(n_samples, weights=False):
    X = torch.arange(n_samples, dtype=torch.float32).unsqueeze(1)
    y = torch.arange(n_samples) % 3
    return ArrayDataset(X, y, torch.ones(n_samples) if weights else None)


@pytest.mark.parametrize("n_samples, batch_size, sizes", [
    (256, 128, [128, 128]),
    (257, 128, [128, 129]),  # a one-sample tail joins the previous batch
    (258, 128, [128, 128, 2]),
    (1, 128, [1]),
    (5, -1, [5]),
])
def test_batch_sizes(n_samples, batch_size, sizes):
    batches = ArrayBatches(dataset(n_samples), batch_size)
    assert [len(X) for X, _ in batches] == sizes
    assert len(batches) == len(sizes)


def test_shuffled_epoch_visits_every_row_once_and_changes_order():
    batches = ArrayBatches(dataset(300), 64, shuffle=True,
                           generator=torch.Generator().manual_seed(0))
    first = torch.cat([X[:, 0] for X, _ in batches])
    second = torch.cat([X[:, 0] for X, _ in batches])
    assert sorted(first.tolist()) == list(range(300))
    assert not torch.equal(first, second)
    assert not torch.equal(first, torch.arange(300, dtype=torch.float32))


def test_batches_carry_targets_and_sample_weights_of_the_same_rows():
    for X, (y, w) in ArrayBatches(dataset(50, weights=True), 16, shuffle=True):
        assert torch.equal(y, X[:, 0].long() % 3)
        assert w.shape == y.shape


def test_batch_norm_module_trains_when_the_last_batch_would_hold_one_sample():
    X = np.random.RandomState(0).randn(129, 4).astype(np.float32)
    y = np.arange(129) % 2
    clf = ImbalancedNetClassifier(module="mlp", module__norm="batch", max_epochs=2, batch_size=64,
                                  random_state=0).fit(X, y)
    assert clf.history[-1, "train_batch_count"] == 2


def imbalanced_dataset(counts=(60, 25, 5), weights=False):
    """Rows grouped by class; ``X`` holds the row index, sample weights are ``index + 1``."""
    y = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))
    X = torch.arange(len(y), dtype=torch.float32).unsqueeze(1)
    return ArrayDataset(X, y, X[:, 0] + 1 if weights else None)


def epoch(batches):
    """Rows (the ``X`` index) and labels of one epoch."""
    parts = list(batches)
    return (torch.cat([X[:, 0] for X, _ in parts]).long(),
            torch.cat([y[0] if isinstance(y, tuple) else y for _, y in parts]))


@pytest.mark.parametrize("sampler, ratio, sizes", [
    ("over", 1.0, [60, 60, 60]),
    ("over", 0.5, [60, 30, 30]),  # the class with 25 rows grows to 30, not larger
    ("under", 1.0, [5, 5, 5]),
    ("under", 0.2, [25, 25, 5]),
    ("under", 0.1, [50, 25, 5]),
])
def test_resampled_epoch_has_the_requested_class_counts(sampler, ratio, sizes):
    assert resampled_sizes([60, 25, 5], sampler, ratio).tolist() == sizes
    batches = ArrayBatches(imbalanced_dataset(), 16, sampler=sampler, sampling_ratio=ratio,
                           generator=torch.Generator().manual_seed(0))
    rows, labels = epoch(batches)
    assert torch.bincount(labels, minlength=3).tolist() == sizes
    assert torch.equal(labels, imbalanced_dataset().y[rows])
    assert sum(len(X) for X, _ in batches) == sum(sizes) == len(rows)
    assert len(batches) == -(-sum(sizes) // 16)


def test_over_sampling_keeps_every_row_and_shuffles():
    rows, labels = epoch(ArrayBatches(imbalanced_dataset(), 32, sampler="over",
                                      generator=torch.Generator().manual_seed(0)))
    assert set(rows.tolist()) == set(range(90))
    assert len(set(labels[:30].tolist())) == 3  # classes are mixed, not grouped


def test_under_sampling_draws_new_majority_rows_every_epoch():
    batches = ArrayBatches(imbalanced_dataset(), 8, sampler="under",
                           generator=torch.Generator().manual_seed(0))
    draws = [set(epoch(batches)[0].tolist()) for _ in range(20)]
    assert all(len(draw) == 15 for draw in draws)  # without replacement
    assert len({frozenset(draw) for draw in draws}) == 20
    assert all(set(range(85, 90)) <= draw for draw in draws)  # the minority class stays whole
    seen = set().union(*draws)
    assert len(seen & set(range(60))) >= 50  # most majority rows seen over 20 epochs


def test_resampling_is_reproducible_with_a_seeded_generator():
    def epochs(seed):
        batches = ArrayBatches(imbalanced_dataset(), 16, sampler="under", sampling_ratio=0.5,
                               generator=torch.Generator().manual_seed(seed))
        return [epoch(batches)[0] for _ in range(3)]

    first, again, other = epochs(0), epochs(0), epochs(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize("sampler", ["over", "under"])
def test_resampled_rows_carry_their_sample_weights(sampler):
    batches = ArrayBatches(imbalanced_dataset(weights=True), 16, sampler=sampler)
    for X, (y, w) in batches:
        assert torch.equal(w, X[:, 0] + 1)
        assert torch.equal(y, imbalanced_dataset().y[X[:, 0].long()])


def test_resampling_draws_only_indices_per_class():
    members = imbalanced_dataset().class_members()
    assert [len(rows) for rows in members] == [60, 25, 5]
    indices = draw_resampled(members, [60, 60, 60], torch.Generator().manual_seed(0))
    assert indices.dtype == torch.int64 and len(indices) == 180


def test_whole_batch_with_resampling_is_one_batch():
    batches = ArrayBatches(imbalanced_dataset(), -1, sampler="over")
    assert [len(X) for X, _ in batches] == [180]


def test_holdout_keeps_every_class_with_two_or_more_samples():
    y = np.repeat(np.arange(5), [100, 20, 5, 2, 1])
    train, valid = stratified_holdout(y, 0.1, seed=0)
    assert set(np.unique(y[valid])) == {0, 1, 2, 3}  # the single-sample class stays in train
    assert np.intersect1d(train, valid).size == 0
    assert len(train) + len(valid) == len(y)
    assert np.sum(y[valid] == 0) == 10


def subnormals_flushed():
    return torch.tensor([1e-40]).mul_(1.0).item() == 0.0


def test_subnormals_are_flushed_during_training_and_the_mode_restored():
    assert not subnormals_flushed()
    with flushed_subnormals():
        assert subnormals_flushed()
    assert not subnormals_flushed()
    torch.set_flush_denormal(True)  # a mode the caller set stays set
    try:
        with flushed_subnormals():
            assert subnormals_flushed()
        assert subnormals_flushed()
    finally:
        torch.set_flush_denormal(False)
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    ImbalancedNetClassifier(max_epochs=1, random_state=0).fit(X, y)
    assert not subnormals_flushed()
