"""Resampling (sklimb.resampling): per-epoch draws of the estimator and the pipeline sampler."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.neighbors import NearestNeighbors

from sklimb import ImbalancedNetClassifier
from sklimb._batches import ArrayBatches, ArrayDataset
from sklimb.resampling import (
    SAMPLERS,
    SMOTE_K_NEIGHBORS,
    draw_resampled,
    make_sampler,
    resample,
    resampled_sizes,
)


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




def on_a_segment_to_a_neighbour(point, X_class, k):
    """Whether ``point`` lies on the segment from some row of ``X_class`` to one of its
    ``k`` nearest other rows of ``X_class``."""
    neighbours = NearestNeighbors(n_neighbors=k).fit(X_class).kneighbors(return_distance=False)
    for i, row in enumerate(X_class):
        for j in neighbours[i]:
            direction = X_class[j] - row
            lam = np.dot(point - row, direction) / max(np.dot(direction, direction), 1e-300)
            if -1e-6 <= lam <= 1 + 1e-6 and np.allclose(row + lam * direction, point,
                                                          atol=1e-5):
                return True
    return False


def smote_dataset(counts=(40, 8, 3), weights=False, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    X = rng.normal(size=(len(y), 3)) + 3 * y[:, None]
    w = torch.as_tensor(rng.uniform(0.5, 2.0, len(y)), dtype=torch.float32) if weights else None
    return ArrayDataset(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y), w)


def test_smote_epoch_keeps_every_row_and_adds_synthetic_rows_between_neighbours():
    data = smote_dataset(weights=True)
    batches = list(ArrayBatches(data, 16, sampler="smote",
                                generator=torch.Generator().manual_seed(0)))  # one epoch
    X = torch.cat([X for X, _ in batches]).numpy()
    y = torch.cat([y for _, (y, _) in batches]).numpy()
    w = torch.cat([w for _, (_, w) in batches]).numpy()
    assert np.bincount(y).tolist() == [40, 40, 40]
    original = {tuple(row) for row in data.X.numpy()}
    assert original <= {tuple(row) for row in X}
    X_data, y_data = data.X.numpy(), data.y.numpy()
    for c in (1, 2):
        k = min(SMOTE_K_NEIGHBORS, int(np.sum(y_data == c)) - 1)  # 5 for class 1, 2 for class 2
        new = [row for row, label in zip(X, y, strict=True)
               if label == c and tuple(row) not in original]
        assert len(new) == 40 - np.sum(y_data == c)
        assert all(on_a_segment_to_a_neighbour(row, X_data[y_data == c], k) for row in new)
    assert set(np.round(w, 5)) <= set(np.round(data.sample_weight.numpy(), 5))


def test_smote_epochs_draw_fresh_rows_and_reuse_the_neighbours():
    data = smote_dataset()
    batches = ArrayBatches(data, 64, sampler="smote", generator=torch.Generator().manual_seed(0))
    first = torch.cat([X for X, _ in batches])
    neighbours = data._smote_neighbors
    assert neighbours[0] is None  # the largest class does not grow: no neighbour search
    second = torch.cat([X for X, _ in batches])
    assert data._smote_neighbors is neighbours
    assert not torch.equal(first.sort(dim=0).values, second.sort(dim=0).values)


def test_a_class_with_one_row_is_copied():
    data = smote_dataset(counts=(10, 1))
    batches = ArrayBatches(data, 64, sampler="smote", generator=torch.Generator().manual_seed(0))
    X, y = next(iter(batches))
    assert torch.equal(X[y == 1], data.X[data.y == 1].expand(10, -1))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_pipeline_sampler_resamples_with_the_same_sizes_as_an_epoch(sampler):
    data = smote_dataset()
    X, y = data.X.double().numpy(), np.array(["a", "b", "c"])[data.y.numpy()]
    _, y_res = make_sampler(sampler, random_state=0).fit_resample(X, y)
    sizes = resampled_sizes([40, 8, 3], sampler)
    assert [np.sum(y_res == label) for label in "abc"] == sizes.tolist()
    batches = ArrayBatches(data, 16, sampler=sampler)
    assert torch.bincount(torch.cat([y for _, y in batches])).tolist() == sizes.tolist()


def test_pipeline_smote_is_the_same_smote_and_reproducible():
    data = smote_dataset()
    X, y = data.X.double().numpy(), data.y.numpy()
    X_res, y_res = resample(X, y, sampler="smote", random_state=0)
    assert np.array_equal(X_res[:len(X)], X) and np.array_equal(y_res[:len(y)], y)
    for row, label in zip(X_res[len(X):], y_res[len(y):], strict=True):
        k = min(SMOTE_K_NEIGHBORS, int(np.sum(y == label)) - 1)
        assert on_a_segment_to_a_neighbour(row, X[y == label], k)
    again, _ = resample(X, y, sampler="smote", random_state=0)
    other, _ = resample(X, y, sampler="smote", random_state=1)
    assert np.array_equal(X_res, again) and not np.array_equal(X_res, other)


def test_pipeline_sampler_clones_and_pickles():
    sampler = make_sampler("smote", random_state=3)
    X, y = smote_dataset().X.double().numpy(), smote_dataset().y.numpy()
    expected = sampler.fit_resample(X, y)[0]
    for copy in (clone(sampler), pickle.loads(pickle.dumps(sampler))):
        assert np.array_equal(copy.fit_resample(X, y)[0], expected)


@pytest.mark.parametrize("call", [lambda: make_sampler("random_over"),
                                  lambda: resampled_sizes([3, 1], "smoter"),
                                  lambda: ImbalancedNetClassifier(sampler="random_under").fit(
                                      np.zeros((4, 1)), [0, 0, 1, 1])])
def test_unknown_sampler_names_are_rejected_with_the_valid_ones(call):
    with pytest.raises(ValueError, match=r"over.*under.*smote|'sampler' parameter"):
        call()


def test_estimator_with_per_epoch_smote_fits():
    data = smote_dataset()
    clf = ImbalancedNetClassifier(sampler="smote", max_epochs=3, random_state=0)
    clf.fit(data.X.numpy(), data.y.numpy())
    assert clf.history[-1, "train_batch_count"] == 1  # 120 rows in one batch of 200
