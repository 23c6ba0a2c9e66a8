"""In-memory batches (sklimb._batches) and the stratified hold-out."""

import numpy as np
import pytest
import torch

from sklimb import ImbalancedNetClassifier
from sklimb._batches import ArrayBatches, ArrayDataset, stratified_holdout


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


def test_holdout_keeps_every_class_with_two_or_more_samples():
    y = np.repeat(np.arange(5), [100, 20, 5, 2, 1])
    train, valid = stratified_holdout(y, 0.1, seed=0)
    assert set(np.unique(y[valid])) == {0, 1, 2, 3}  # the single-sample class stays in train
    assert np.intersect1d(train, valid).size == 0
    assert len(train) + len(valid) == len(y)
    assert np.sum(y[valid] == 0) == 10
