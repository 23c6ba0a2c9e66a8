"""Behaviour of ImbalancedNetClassifier: labels, losses, weights, training options, errors."""

import copy
import functools
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_classification
from sklearn.exceptions import NotFittedError
from sklearn.metrics import balanced_accuracy_score
from skorch.callbacks import Callback, EarlyStopping
from torch import nn

from sklimb import MLP, ImbalancedNetClassifier
from sklimb.losses import LOSSES, FocalLoss

FAST = dict(lr=0.01, max_epochs=5, batch_size=32, class_weight=None, random_state=0)
COUNT_LOSSES = ["class_balanced", "ldam", "logit_adjusted"]


def make_clf(**params):
    if "module" not in params:  # a small plain MLP (the ensemble has tests of its own)
        params = {"module": "mlp", "module__hidden_layer_sizes": (16,), **params}
    return ImbalancedNetClassifier(**{**FAST, **params})


def binary_data(n_samples=120, weights=(0.8,), seed=0):
    X, y = make_classification(n_samples=n_samples, n_features=5, n_informative=3,
                               n_redundant=0, weights=list(weights), class_sep=2.0,
                               random_state=seed)
    return X.astype(np.float32), y


def multiclass_data(n_samples=150, seed=0):
    X, y = make_classification(n_samples=n_samples, n_features=6, n_informative=4,
                               n_redundant=0, n_classes=3, weights=[0.6, 0.3, 0.1],
                               class_sep=2.0, random_state=seed)
    return X.astype(np.float32), y


def easy_data(n_samples=120, seed=0):
    """Two well separated blobs, sorted by class."""
    X, y = make_blobs(n_samples=n_samples, centers=[[-3, -3], [3, 3]], cluster_std=0.5,
                      random_state=seed)
    order = np.argsort(y, kind="stable")
    return X[order].astype(np.float32), y[order]


# ------------------------------------------------------------------ user-defined pieces
class RecordingLoss(nn.Module):
    """Cross-entropy that records the targets and torch's thread count at every call."""

    def __init__(self, weight=None):
        super().__init__()
        self.weight = weight
        self.targets = []
        self.threads = []

    def forward(self, logits, target, sample_weight=None):
        self.targets.append(target.tolist())
        self.threads.append(torch.get_num_threads())
        return nn.functional.cross_entropy(logits, target, weight=self.weight)


class ScaledCrossEntropy(nn.Module):
    """Cross-entropy of scaled logits; takes class counts to check they are supplied."""

    def __init__(self, class_counts=None, scale=1.0):
        super().__init__()
        self.class_counts = class_counts
        self.scale = scale

    def forward(self, logits, target, sample_weight=None):
        loss = nn.functional.cross_entropy(self.scale * logits, target, reduction="none")
        if sample_weight is None:
            return loss.mean()
        return (loss * sample_weight).sum() / sample_weight.sum()


class NanLoss(nn.Module):
    def forward(self, logits, target, sample_weight=None):
        return logits.sum() * float("nan")


class LinearNet(nn.Module):
    """Module whose n_features/n_classes are filled by the estimator."""

    def __init__(self, n_features, n_classes, bias=True):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes, bias=bias)

    def forward(self, X):
        return self.linear(X)


class FixedNet(nn.Module):
    """Module with its own argument names, all set through module__*."""

    def __init__(self, in_dim, out_dim, hidden=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))

    def forward(self, X):
        return self.net(X)


class KeepValidationSet(Callback):
    """Keeps the validation set and the weights at the end of the last epoch."""

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        self.dataset_valid_ = dataset_valid
        self.last_weights_ = copy.deepcopy(net.module_.state_dict())


class WeightPerEpoch(Callback):
    """Records the criterion's class weight at the first batch of every epoch."""

    def initialize(self):
        self.weights_ = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.pending_ = True

    def on_batch_begin(self, net, training=False, **kwargs):
        if training and self.pending_:
            weight = net.criterion_.weight
            self.weights_.append(None if weight is None else weight.detach().cpu().numpy())
            self.pending_ = False


# ------------------------------------------------------------------ fit / predict
@pytest.mark.parametrize("data", [binary_data, multiclass_data])
def test_fit_predict_predict_proba(data):
    X, y = data()
    clf = make_clf(max_epochs=30).fit(X, y)
    n_classes = len(np.unique(y))
    assert_array_equal(clf.classes_, np.unique(y))
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), n_classes)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    pred = clf.predict(X)
    assert pred.shape == (len(X),)
    assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    assert balanced_accuracy_score(y, pred) > 0.8
    assert clf.n_features_in_ == X.shape[1]
    assert clf.n_epochs_ == 30


@pytest.mark.parametrize("labels", [[3, 7], ["neg", "pos"], [-1, 1], [True, False]])
def test_arbitrary_labels_are_returned(labels):
    X, y = binary_data()
    y_labels = np.asarray(labels)[y]
    clf = make_clf(max_epochs=60).fit(X, y_labels)
    assert_array_equal(clf.classes_, np.sort(labels))
    pred = clf.predict(X)
    assert set(pred) <= set(labels)
    assert pred.dtype == y_labels.dtype
    assert balanced_accuracy_score(y_labels, pred) > 0.8


def test_pandas_categorical_target_and_dataframe_X():
    X, y = binary_data()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    target = pd.Series(pd.Categorical(np.where(y == 1, "rare", "common")))
    clf = make_clf(max_epochs=60).fit(frame, target)
    assert_array_equal(clf.feature_names_in_, frame.columns)
    assert clf.n_features_in_ == X.shape[1]
    assert_array_equal(clf.classes_, ["common", "rare"])
    pred = clf.predict(frame)
    assert set(pred) <= {"common", "rare"}
    assert balanced_accuracy_score(target, pred) > 0.8
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[frame.columns[::-1]])


def test_numpy_X_has_no_feature_names():
    X, y = binary_data()
    clf = make_clf(max_epochs=1).fit(X, y)
    assert not hasattr(clf, "feature_names_in_")


# ------------------------------------------------------------------ losses and weights
@pytest.mark.parametrize("class_weight", [None, "balanced", "effective_number", {2: 4.0}])
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_predict_proba_sums_to_one_for_every_loss(loss, class_weight):
    X, y = multiclass_data(n_samples=90)
    clf = make_clf(loss=loss, class_weight=class_weight, max_epochs=2).fit(X, y)
    assert isinstance(clf.criterion_, LOSSES[loss])
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert np.all(proba >= 0)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(X)) <= {0, 1, 2}


def test_class_counts_are_bincount_of_fitted_y():
    X, y = multiclass_data()
    labels = np.array(["a", "b", "c"])[y]
    clf = make_clf(max_epochs=1).fit(X, labels)
    assert_array_equal(clf.class_counts_, np.bincount(y))
    assert clf.class_weight_ is None


def test_class_weight_balanced_values():
    X, y = multiclass_data()
    clf = make_clf(class_weight="balanced", max_epochs=1).fit(X, y)
    counts = np.bincount(y)
    assert_allclose(clf.class_weight_, len(y) / (3 * counts))


def test_class_weight_effective_number_values():
    X, y = multiclass_data()
    clf = make_clf(class_weight="effective_number", max_epochs=1).fit(X, y)
    beta = 0.999
    raw = (1 - beta) / (1 - beta ** np.bincount(y))
    assert_allclose(clf.class_weight_, raw * 3 / raw.sum(), rtol=1e-6)
    assert clf.class_weight_[2] > clf.class_weight_[1] > clf.class_weight_[0]


def test_class_weight_dict_missing_labels_weigh_one():
    X, y = multiclass_data()
    labels = np.array(["a", "b", "c"])[y]
    clf = make_clf(class_weight={"b": 5.0}, max_epochs=1).fit(X, labels)
    assert_allclose(clf.class_weight_, [1.0, 5.0, 1.0])


def test_class_weight_dict_unknown_label_is_named():
    X, y = multiclass_data()
    labels = np.array(["a", "b", "c"])[y]
    with pytest.raises(ValueError, match=r"\['zzz'\].*not classes"):
        make_clf(class_weight={"a": 2.0, "zzz": 3.0}).fit(X, labels)


def test_class_weight_dict_negative_weight_rejected():
    X, y = binary_data()
    with pytest.raises(ValueError, match="class_weight"):
        make_clf(class_weight={1: -2.0}).fit(X, y)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_criterion_receives_class_weight(loss):
    X, y = multiclass_data(n_samples=90)
    clf = make_clf(loss=loss, class_weight="balanced", max_epochs=1).fit(X, y)
    weight = clf.criterion_.weight
    assert isinstance(weight, torch.Tensor)
    assert "weight" in dict(clf.criterion_.named_buffers())
    assert weight.dtype == torch.float32
    assert_allclose(weight.numpy(), clf.class_weight_, rtol=1e-6)


@pytest.mark.parametrize("loss", COUNT_LOSSES)
def test_criterion_receives_class_counts(loss):
    X, y = multiclass_data(n_samples=90)
    clf = make_clf(loss=loss, max_epochs=1).fit(X, y)
    assert_array_equal(clf.criterion_.class_counts.numpy(), np.bincount(y))
    assert clf.criterion_.weight is None


@pytest.mark.parametrize("loss, param, value", [
    ("focal", "gamma", 3.5),
    ("class_balanced", "beta", 0.9),
    ("ghm", "bins", 7),
    ("dice", "alpha", 0.5),
    ("ldam", "max_margin", 0.3),
    ("logit_adjusted", "tau", 0.5),
])
def test_loss_params_reach_criterion(loss, param, value):
    X, y = binary_data()
    clf = make_clf(loss=loss, max_epochs=1, **{f"loss__{param}": value})
    assert clf.get_params()[f"loss__{param}"] == value
    clf.fit(X, y)
    assert getattr(clf.criterion_, param) == value


def test_set_params_switches_loss_before_fit():
    X, y = binary_data()
    clf = make_clf(max_epochs=1).fit(X, y)
    assert type(clf.criterion_).__name__ == "CrossEntropyLoss"
    clf.set_params(loss="focal", loss__gamma=3)
    assert clf.get_params()["loss__gamma"] == 3
    clf.fit(X, y)
    assert isinstance(clf.criterion_, FocalLoss)
    assert clf.criterion_.gamma == 3


def test_unknown_loss_name_lists_valid_names():
    X, y = binary_data()
    with pytest.raises(ValueError, match="'loss' parameter") as info:
        make_clf(loss="focall").fit(X, y)
    for name in LOSSES:
        assert f"'{name}'" in str(info.value)


def test_unknown_loss_parameter_named_with_valid_ones():
    X, y = binary_data()
    with pytest.raises(ValueError, match="loss__gama") as info:
        make_clf(loss="focal", loss__gama=2.0).fit(X, y)
    assert "loss__gamma" in str(info.value)
    assert "loss__alpha" in str(info.value)


def test_invalid_loss_parameter_value_is_rejected():
    X, y = binary_data()
    with pytest.raises(ValueError, match="gamma"):
        make_clf(loss="focal", loss__gamma=-1.0).fit(X, y)


def test_criterion_prefix_is_redirected_to_loss():
    X, y = binary_data()
    with pytest.raises(ValueError, match="loss__"):
        make_clf(loss="focal", criterion__gamma=2.0).fit(X, y)


@pytest.mark.parametrize("class_weight", ["auto", None, "balanced"])
def test_loss_instance_gets_one_message_whatever_the_class_weight(class_weight):
    X, y = binary_data()
    with pytest.raises(ValueError) as error:
        make_clf(loss=FocalLoss(gamma=1.0), class_weight=class_weight).fit(X, y)
    assert str(error.value).startswith("loss=FocalLoss(gamma=1.0, reduction='mean') is a loss "
                                       "instance; pass the loss class")


def test_user_loss_class_gets_params_and_class_counts():
    X, y = binary_data()
    clf = make_clf(loss=ScaledCrossEntropy, loss__scale=2.0, max_epochs=20)
    assert clf.get_params()["loss__scale"] == 2.0
    clf.fit(X, y, sample_weight=np.ones(len(y)))
    assert clf.criterion_.scale == 2.0
    assert_array_equal(clf.criterion_.class_counts, np.bincount(y))
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    assert balanced_accuracy_score(y, clf.predict(X)) > 0.8


def test_torch_cross_entropy_loss_class():
    X, y = binary_data()
    clf = make_clf(loss=nn.CrossEntropyLoss, class_weight="balanced", max_epochs=20)
    clf.fit(X, y)
    assert isinstance(clf.criterion_, nn.CrossEntropyLoss)
    assert_allclose(clf.criterion_.weight.numpy(), clf.class_weight_, rtol=1e-6)
    assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    assert balanced_accuracy_score(y, clf.predict(X)) > 0.8
    with pytest.raises(ValueError, match="sample_weight"):
        clf.fit(X, y, sample_weight=np.ones(len(y)))


def test_class_weight_with_loss_without_weight_argument():
    X, y = binary_data()
    with pytest.raises(ValueError, match="weight"):
        make_clf(loss=ScaledCrossEntropy, class_weight="balanced").fit(X, y)


def test_class_weight_and_loss_weight_together_rejected():
    X, y = binary_data()
    with pytest.raises(ValueError, match="not both"):
        make_clf(class_weight="balanced", loss__weight=[1.0, 2.0]).fit(X, y)


# ------------------------------------------------------------------ sample weights
def test_zero_sample_weight_on_a_class_removes_it():
    X, y = binary_data(weights=(0.5,))
    params = dict(max_epochs=30, lr=0.02)
    unweighted = make_clf(**params).fit(X, y)
    assert (unweighted.predict(X) == 1).sum() > 30
    weighted = make_clf(**params).fit(X, y, sample_weight=(y == 0).astype(float))
    assert (weighted.predict(X) == 1).sum() == 0


def test_sample_weight_changes_the_fit():
    X, y = binary_data()
    rng = np.random.RandomState(0)
    sample_weight = rng.choice([0.5, 1.0, 4.0], size=len(y))
    plain = make_clf().fit(X, y).predict_proba(X)
    weighted = make_clf().fit(X, y, sample_weight=sample_weight).predict_proba(X)
    assert not np.allclose(plain, weighted, atol=1e-4)


@pytest.mark.parametrize("loss", ["ce", "focal"])
def test_sample_weight_and_class_weight_multiply(loss):
    # Weighted mean sum(w_i l_i) / sum(w_i) with w_i = class_weight[y_i] * sample_weight_i:
    # a class weight of 4 on class 1 equals multiplying class 1's sample weights by 4. (The
    # sample weights also weight the input transform's statistics; the class weights do not.)
    X, y = binary_data()
    make_clf = functools.partial(globals()["make_clf"], input_transform=None)
    sample_weight = np.random.RandomState(0).choice([0.5, 1.0, 2.0], size=len(y))
    combined = make_clf(loss=loss, class_weight={1: 4.0}).fit(X, y, sample_weight=sample_weight)
    folded = make_clf(loss=loss).fit(X, y, sample_weight=sample_weight * np.where(y == 1, 4, 1))
    assert_allclose(combined.predict_proba(X), folded.predict_proba(X), rtol=1e-5, atol=1e-6)
    plain = make_clf(loss=loss).fit(X, y, sample_weight=sample_weight)
    assert not np.allclose(combined.predict_proba(X), plain.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("sample_weight, match", [
    (lambda n: np.zeros(n), "non-zero|positive"),
    (lambda n: -np.ones(n), "[Nn]egative"),
    (lambda n: np.ones(n - 3), r"sample_weight.shape"),
])
def test_invalid_sample_weight(sample_weight, match):
    X, y = binary_data()
    with pytest.raises(ValueError, match=match):
        make_clf().fit(X, y, sample_weight=sample_weight(len(y)))


# ------------------------------------------------------------------ weight decay
def test_default_weight_decay_reaches_the_optimizer():
    X, y = binary_data()
    clf = make_clf(max_epochs=1).fit(X, y)
    assert ImbalancedNetClassifier().weight_decay == 0.3
    assert clf.optimizer_.param_groups[0]["weight_decay"] == clf.weight_decay == 0.3


def test_weight_decay_parameter_and_optimizer_override():
    X, y = binary_data()
    clf = make_clf(max_epochs=1, weight_decay=0.05).fit(X, y)
    assert clf.optimizer_.param_groups[0]["weight_decay"] == 0.05
    assert clone(clf).get_params()["weight_decay"] == 0.05
    explicit = make_clf(max_epochs=1, optimizer__weight_decay=0.0).fit(X, y)
    assert explicit.optimizer_.param_groups[0]["weight_decay"] == 0.0
    sgd = make_clf(max_epochs=1, optimizer=torch.optim.SGD, weight_decay=0.2).fit(X, y)
    assert sgd.optimizer_.param_groups[0]["weight_decay"] == 0.2


def test_weight_decay_shrinks_the_weights():
    """Decoupled decay pulls the trained weights towards 0: a test that can fail."""
    X, y = binary_data()

    def norm(decay):
        clf = make_clf(max_epochs=30, weight_decay=decay, random_state=0).fit(X, y)
        return sum(float(p.detach().norm()) for p in clf.module_.parameters())

    assert norm(3.0) < 0.8 * norm(0.0)


class _NoDecayOptimizer(torch.optim.SGD):
    def __init__(self, params, lr=0.01):
        super().__init__(params, lr=lr)


def test_optimizer_without_weight_decay_gets_none():
    X, y = binary_data()
    clf = make_clf(max_epochs=1, optimizer=_NoDecayOptimizer).fit(X, y)
    assert clf.optimizer_.param_groups[0]["weight_decay"] == 0


# ------------------------------------------------------------------ modules
def test_module_hidden_layer_sizes_and_dropout_reach_mlp():
    X, y = binary_data()
    clf = make_clf(module__hidden_layer_sizes=(7, 3), module__dropout=0.25, max_epochs=1)
    clf.fit(X, y)
    assert isinstance(clf.module_, MLP)
    linears = [layer for layer in clf.module_.layers if isinstance(layer, nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == [(5, 7), (7, 3), (3, 2)]
    dropouts = [layer.p for layer in clf.module_.layers if isinstance(layer, nn.Dropout)]
    assert dropouts == [0.25, 0.25]


def test_user_module_sized_from_data():
    X, y = multiclass_data()
    clf = make_clf(module=LinearNet, module__bias=False, max_epochs=20).fit(X, y)
    assert isinstance(clf.module_, LinearNet)
    assert clf.module_.linear.in_features == X.shape[1]
    assert clf.module_.linear.out_features == 3
    assert clf.module_.linear.bias is None
    assert clf.predict_proba(X).shape == (len(X), 3)
    assert balanced_accuracy_score(y, clf.predict(X)) > 0.6


def test_user_module_with_own_arguments():
    X, y = binary_data()
    clf = make_clf(module=FixedNet, module__in_dim=5, module__out_dim=2, module__hidden=6)
    clf.fit(X, y)
    assert clf.module_.net[0].out_features == 6
    assert clf.predict_proba(X).shape == (len(X), 2)


# ------------------------------------------------------------------ reproducibility, state
def test_random_state_reproducible():
    X, y = binary_data()
    first = make_clf(random_state=3).fit(X, y).predict_proba(X)
    second = make_clf(random_state=3).fit(X, y).predict_proba(X)
    assert_array_equal(first, second)
    other = make_clf(random_state=4).fit(X, y).predict_proba(X)
    assert not np.array_equal(first, other)


def test_seeded_fit_leaves_global_rng_alone():
    X, y = binary_data()
    torch.manual_seed(123)
    torch_state = torch.get_rng_state()
    # the legacy global numpy RNG is exactly what must stay untouched
    numpy_state = np.random.get_state()[1].copy()  # noqa: NPY002
    make_clf(random_state=0).fit(X, y)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert_array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002


def test_n_threads_used_during_fit_and_restored():
    X, y = binary_data()
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        clf = make_clf(loss=RecordingLoss, n_threads=1, max_epochs=1).fit(X, y)
        assert set(clf.criterion_.threads) == {1}
        assert torch.get_num_threads() == 2
        clf.predict_proba(X)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_clone_keeps_loss_params():
    clf = make_clf(loss="focal", loss__gamma=3.5, class_weight="balanced")
    cloned = clone(clf)
    params = cloned.get_params()
    assert params["loss"] == "focal"
    assert params["loss__gamma"] == 3.5
    assert params["class_weight"] == "balanced"
    X, y = binary_data()
    assert cloned.set_params(max_epochs=1).fit(X, y).criterion_.gamma == 3.5


def test_clone_of_fitted_is_unfitted():
    X, y = binary_data()
    cloned = clone(make_clf(max_epochs=1).fit(X, y))
    with pytest.raises(NotFittedError):
        cloned.predict(X)


def test_pickle_round_trip():
    X, y = multiclass_data()
    clf = make_clf(loss="ldam", class_weight="balanced").fit(X, np.array(["a", "b", "c"])[y])
    restored = pickle.loads(pickle.dumps(clf))
    assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert_array_equal(restored.classes_, clf.classes_)
    assert_array_equal(restored.class_counts_, clf.class_counts_)


# ------------------------------------------------------------------ training options
def test_no_internal_holdout_by_default():
    X, y = binary_data()
    clf = make_clf(max_epochs=3).fit(X, y)
    for epoch in clf.history:
        assert "valid_loss" not in epoch
        assert sum(batch["train_batch_size"] for batch in epoch["batches"]) == len(X)


def test_early_stopping_uses_validation_split_and_restores_best():
    X, y = easy_data()
    keep = KeepValidationSet()
    clf = make_clf(early_stopping=True, n_iter_no_change=3, validation_fraction=0.2,
                   max_epochs=100, callbacks=[("keep", keep)]).fit(X, y)
    history = clf.history
    assert clf.n_epochs_ == len(history) < 100
    scores = history[:, "valid_score"]
    assert len(scores) == len(history)
    n_valid = len(keep.dataset_valid_)
    assert n_valid == 24
    assert sorted(keep.dataset_valid_.y.tolist()) == [0] * 12 + [1] * 12
    for epoch in history:
        sizes = [batch.get("train_batch_size", 0) for batch in epoch["batches"]]
        assert sum(sizes) == len(X) - n_valid
    stopper = dict(clf.callbacks_)["early_stopping"]
    assert isinstance(stopper, EarlyStopping)
    assert len(history) - stopper.best_epoch_ == 3  # stopped after n_iter_no_change misses
    logits = clf.forward_logits(keep.dataset_valid_.X)
    restored = balanced_accuracy_score(keep.dataset_valid_.y.numpy(), logits.argmax(1).numpy())
    assert restored == pytest.approx(history[stopper.best_epoch_ - 1, "valid_score"])
    weights = clf.module_.state_dict()
    assert all(torch.equal(weights[name], stopper.best_model_weights_[name]) for name in weights)
    assert not all(torch.equal(weights[name], keep.last_weights_[name]) for name in weights)


def test_shuffle_mixes_classes_in_batches_by_default():
    X, y = easy_data()
    clf = make_clf(loss=RecordingLoss, batch_size=20, max_epochs=2).fit(X, y)
    assert any(len(set(batch)) == 2 for batch in clf.criterion_.targets)
    unshuffled = make_clf(loss=RecordingLoss, batch_size=20, max_epochs=2,
                          iterator_train__shuffle=False).fit(X, y)
    assert all(len(set(batch)) == 1 for batch in unshuffled.criterion_.targets)


def test_class_sorted_data_learns_both_classes():
    X, y = easy_data()
    clf = make_clf(batch_size=10, max_epochs=10).fit(X, y)
    assert balanced_accuracy_score(y, clf.predict(X)) == 1.0


# ------------------------------------------------------------- per-epoch resampling
def counted_data():
    """120 rows, 96 of class 0 and 24 of class 1."""
    X, _ = binary_data()
    return X, (np.arange(120) % 5 == 0).astype(int)


def epoch_rows(clf):
    return [sum(batch.get("train_batch_size", 0) for batch in epoch["batches"])
            for epoch in clf.history]


@pytest.mark.parametrize("sampler, ratio, sizes", [
    ("over", 1.0, [96, 96]),
    ("over", 0.5, [96, 48]),
    ("under", 1.0, [24, 24]),
    ("under", 0.5, [48, 24]),
])
def test_sampler_trains_on_resampled_class_counts(sampler, ratio, sizes):
    X, y = counted_data()
    clf = make_clf(loss=RecordingLoss, sampler=sampler, sampling_ratio=ratio, max_epochs=2,
                   batch_size=16).fit(X, y)
    assert epoch_rows(clf) == [sum(sizes)] * 2
    n_batches = clf.history[0, "train_batch_count"]
    first_epoch = np.concatenate(clf.criterion_.targets[:n_batches])
    assert np.bincount(first_epoch).tolist() == sizes
    assert clf.class_counts_.tolist() == [96, 24]  # counts come from the data fit received


@pytest.mark.parametrize("sampler", ["over", "under"])
def test_sampler_is_reproducible_and_works_with_sample_weight(sampler):
    X, y = multiclass_data()
    sample_weight = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    first = make_clf(sampler=sampler).fit(X, y, sample_weight=sample_weight)
    again = make_clf(sampler=sampler).fit(X, y, sample_weight=sample_weight)
    assert_allclose(first.predict_proba(X), again.predict_proba(X))
    plain = make_clf().fit(X, y, sample_weight=sample_weight)
    assert not np.allclose(first.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize("sampler", ["over", "under"])
def test_sampler_leaves_the_validation_split_alone(sampler):
    X, y = counted_data()
    keep = KeepValidationSet()
    clf = make_clf(sampler=sampler, early_stopping=True, validation_fraction=0.25,
                   max_epochs=3, n_iter_no_change=5, callbacks=[("keep", keep)]).fit(X, y)
    assert sorted(keep.dataset_valid_.y.tolist()) == [0] * 24 + [1] * 6
    expected = 2 * 72 if sampler == "over" else 2 * 18
    assert epoch_rows(clf) == [expected] * 3
    assert len(clf.history[:, "valid_score"]) == 3


def test_under_sampling_sees_different_majority_rows_across_epochs():
    X, y = binary_data()
    X = np.column_stack([X, np.arange(len(X))]).astype(np.float32)  # a row id column

    class RowIds(Callback):
        def initialize(self):
            self.rows_ = []
            return self

        def on_batch_begin(self, net, batch=None, training=False, **kwargs):
            if training:
                self.rows_.extend(batch[0][:, -1].long().tolist())

    rows = RowIds()
    make_clf(sampler="under", max_epochs=10, batch_size=48, input_transform=None,
             callbacks=[("rows", rows)]).fit(X, y)
    per_epoch = [set(rows.rows_[i:i + 48]) for i in range(0, 480, 48)]
    majority = set(np.flatnonzero(y == 0))
    assert len({frozenset(epoch & majority) for epoch in per_epoch}) == 10
    assert len(set(rows.rows_) & majority) > 0.8 * len(majority)


# ------------------------------------------------------------- class_weight="auto"
@pytest.mark.parametrize("loss, expected", [
    ("ce", "sqrt_balanced"), ("focal", "sqrt_balanced"), ("ghm", "sqrt_balanced"),
    ("dice", "sqrt_balanced"), ("ldam", "sqrt_balanced"), ("class_balanced", None),
    ("logit_adjusted", None),
])
def test_class_weight_auto_balances_unless_the_loss_corrects_frequencies(loss, expected):
    X, y = multiclass_data()
    auto = make_clf(loss=loss, class_weight="auto", max_epochs=1).fit(X, y)
    explicit = make_clf(loss=loss, class_weight=expected, max_epochs=1).fit(X, y)
    if expected is None:
        assert auto.class_weight_ is None
    else:
        assert_allclose(auto.class_weight_, explicit.class_weight_)
        assert not np.allclose(auto.class_weight_, 1.0)
    assert_allclose(auto.predict_proba(X), explicit.predict_proba(X), rtol=1e-5, atol=1e-6)


def test_class_weight_auto_is_the_default():
    assert ImbalancedNetClassifier().get_params()["class_weight"] == "auto"


def test_class_weight_auto_leaves_losses_without_weight_alone():
    X, y = binary_data()

    class PlainLoss(nn.Module):
        def forward(self, logits, target):
            return nn.functional.cross_entropy(logits, target)

    clf = make_clf(loss=PlainLoss, class_weight="auto", max_epochs=1).fit(X, y)
    assert clf.class_weight_ is None
    given = make_clf(loss="ce", class_weight="auto", max_epochs=1,
                     loss__weight=torch.tensor([1.0, 3.0])).fit(X, y)
    assert given.class_weight_ is None
    assert_allclose(given.criterion_.weight.numpy(), [1.0, 3.0])


# ------------------------------------------------------------- max_epochs="auto"
@pytest.mark.parametrize("n_samples, batch_size, sampler, epochs", [
    (120, 32, None, 20),      # 4 steps per epoch -> 80 / 4
    (120, 16, None, 10),      # 8 steps per epoch -> 80 / 8
    (120, 32, "over", None),  # oversampled to 2 x n_max rows
    (40, -1, None, 30),       # one full batch per epoch: capped at the maximum
    (4000, 32, None, 3),      # 125 steps per epoch: at least the minimum
])
def test_max_epochs_auto_trains_a_budget_of_steps(monkeypatch, n_samples, batch_size, sampler,
                                                   epochs):
    import sklimb._schedules as _fitting

    monkeypatch.setattr(_fitting, "AUTO_STEPS", 80)
    monkeypatch.setattr(_fitting, "AUTO_MIN_EPOCHS", 3)
    monkeypatch.setattr(_fitting, "AUTO_MAX_EPOCHS", 30)
    X, y = binary_data(n_samples=n_samples)
    clf = make_clf(max_epochs="auto", batch_size=batch_size, sampler=sampler).fit(X, y)
    if epochs is None:
        epochs = int(np.ceil(80 / np.ceil(2 * np.bincount(y).max() / batch_size)))
        assert epochs < 20  # more rows per epoch than without the sampler, fewer epochs
    assert clf.max_epochs_ == clf.n_epochs_ == len(clf.history) == epochs
    assert clf.get_params()["max_epochs"] == "auto"


def test_max_epochs_auto_is_the_default_200_epochs_on_small_data():
    X, y = binary_data(n_samples=800)  # 4 batches of 200 per epoch
    clf = ImbalancedNetClassifier(module__hidden_layer_sizes=(8,), random_state=0).fit(X, y)
    assert clf.max_epochs == "auto"
    assert clf.max_epochs_ == clf.n_epochs_ == 200
    assert sum(len(epoch["batches"]) for epoch in clf.history) == 800


@pytest.mark.parametrize("batches, epochs", [(1, 200), (100, 200), (101, 199), (400, 50),
                                             (5000, 10)])
def test_auto_epochs_cap_the_steps_of_large_data(batches, epochs):
    import sklimb._schedules as _fitting

    assert _fitting.auto_epochs(batches) == epochs


@pytest.mark.parametrize("batches, rows, epochs", [(5, 1_000, 200), (24, 22_444, 200),
                                                   (40, 40_000, 125), (391, 800_000, 10)])
def test_auto_epochs_cap_the_rows_of_large_data(batches, rows, epochs):
    import sklimb._schedules as _fitting

    assert _fitting.auto_epochs(batches, rows) == epochs


@pytest.mark.parametrize("n_rows, size", [(1, 200), (4800, 200), (4801, 201), (22_444, 936),
                                          (49_152, 2048), (10**7, 2048)])
def test_auto_batch_size_grows_with_the_data(n_rows, size):
    import sklimb._schedules as _fitting

    assert _fitting.auto_batch_size(n_rows) == size


def test_batch_size_auto_is_resolved_from_the_training_rows(monkeypatch):
    import sklimb._schedules as _fitting

    monkeypatch.setattr(_fitting, "AUTO_BATCH_SIZE", 10)  # so that 120 rows get larger batches
    monkeypatch.setattr(_fitting, "AUTO_BATCHES", 4)
    X, y = binary_data(n_samples=120)
    clf = make_clf(batch_size="auto", max_epochs=2).fit(X, y)
    assert clf.batch_size_ == 30 and clf.get_params()["batch_size"] == "auto"
    assert [len(epoch["batches"]) for epoch in clf.history] == [4, 4]
    # partial_fit keeps the size of the first call, whatever its data
    clf.partial_fit(X[:40], y[:40])
    assert clf.batch_size_ == 30 and len(clf.history[-1]["batches"]) == 2
    # a refit resolves it again; an explicit size is used as given
    assert clf.fit(X[:60], y[:60]).batch_size_ == 15
    assert clf.set_params(batch_size=7).fit(X, y).batch_size_ == 7
    # skorch's own iterators (used by forward on raw arrays) get a number too
    logits = clf.set_params(batch_size="auto").fit(X, y).forward(X.astype(np.float32))
    assert logits.shape == (120, 2)


def test_deferred_reweighting_splits_the_resolved_auto_epochs(monkeypatch):
    import sklimb._schedules as _fitting

    monkeypatch.setattr(_fitting, "AUTO_STEPS", 16)
    X, y = binary_data()  # 120 rows, batch 32: 4 steps per epoch -> 4 epochs, raised to 10
    clf = make_clf(max_epochs="auto", class_weight="balanced", class_weight_start=0.5).fit(X, y)
    assert clf.max_epochs_ == 10
    assert clf.history[:, "class_weighted"] == [False] * 5 + [True] * 5


# ------------------------------------------------------------- deferred re-weighting
@pytest.mark.parametrize("start", [0.5, 2])
def test_deferred_reweighting_weights_only_the_later_epochs(start):
    X, y = multiclass_data()
    record = WeightPerEpoch()
    clf = make_clf(class_weight="balanced", class_weight_start=start, max_epochs=4,
                   callbacks=[("record", record)]).fit(X, y)
    assert clf.history[:, "class_weighted"] == [False, False, True, True]
    assert record.weights_[0] is None and record.weights_[1] is None
    for weight in record.weights_[2:]:
        assert_allclose(weight, clf.class_weight_, rtol=1e-6)
    assert_allclose(clf.criterion_.weight.numpy(), clf.class_weight_, rtol=1e-6)
    always = make_clf(class_weight="balanced", max_epochs=4).fit(X, y)
    assert "class_weighted" not in always.history[-1]
    assert not np.allclose(clf.predict_proba(X), always.predict_proba(X))


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_deferred_reweighting_with_every_loss(loss):
    X, y = multiclass_data(n_samples=90)
    record = WeightPerEpoch()
    clf = make_clf(loss=loss, class_weight="effective_number", class_weight_start=1,
                   max_epochs=2, callbacks=[("record", record)]).fit(X, y)
    assert record.weights_[0] is None
    assert_allclose(record.weights_[1], clf.class_weight_, rtol=1e-6)
    assert "weight" in dict(clf.criterion_.named_buffers())


def test_deferred_reweighting_counts_epochs_over_partial_fit():
    X, y = binary_data()
    clf = make_clf(class_weight="balanced", class_weight_start=3, max_epochs=2)
    clf.partial_fit(X, y).partial_fit(X, y)
    assert clf.history[:, "class_weighted"] == [False, False, False, True]


def test_deferred_reweighting_without_class_weight_changes_nothing():
    X, y = binary_data()
    clf = make_clf(class_weight_start=0.5, max_epochs=2).fit(X, y)
    assert clf.history[:, "class_weighted"] == [False, False]
    assert clf.criterion_.weight is None
    assert_allclose(clf.predict_proba(X), make_clf(max_epochs=2).fit(X, y).predict_proba(X))


def test_partial_fit_accumulates_epochs_and_keeps_classes():
    X, y = multiclass_data()
    first = y != 2
    clf = make_clf(max_epochs=2)
    clf.partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert_array_equal(clf.class_counts_, [*np.bincount(y[first]), 0])
    assert clf.n_epochs_ == 2
    clf.partial_fit(X, y)
    clf.partial_fit(X, y)
    assert clf.n_epochs_ == len(clf.history) == 6
    assert clf.predict_proba(X).shape == (len(X), 3)
    with pytest.raises(ValueError, match="labels"):
        clf.partial_fit(X, np.where(y == 2, 9, y))


# a learning rate so small that one more epoch leaves the predictions as they are
FROZEN = dict(max_epochs=1, lr=1e-12)


def test_partial_fit_continues_from_current_weights():
    X, y = binary_data()
    clf = make_clf(max_epochs=3).partial_fit(X, y)
    before = clf.predict_proba(X)
    clf.set_params(**FROZEN)
    assert_allclose(clf.partial_fit(X, y).predict_proba(X), before, atol=1e-6)


def test_warm_start_keeps_training():
    X, y = binary_data()
    clf = make_clf(warm_start=True, max_epochs=3).fit(X, y)
    first_loss = clf.history[0, "train_loss"]
    clf.fit(X, y)
    assert clf.n_epochs_ == len(clf.history) == 6
    assert clf.history[-1, "train_loss"] < first_loss
    trained = clf.predict_proba(X)
    clf.set_params(**FROZEN).fit(X, y)
    assert_allclose(clf.predict_proba(X), trained, atol=1e-6)  # not re-initialised


def test_without_warm_start_fit_reinitialises():
    X, y = binary_data()
    clf = make_clf(max_epochs=3).fit(X, y)
    trained = clf.predict_proba(X)
    clf.set_params(**FROZEN).fit(X, y)
    assert len(clf.history) == 1
    assert not np.allclose(clf.predict_proba(X), trained, atol=1e-4)


@pytest.mark.parametrize("max_epochs", [0, -1, 2.5])
def test_max_epochs_below_one_is_rejected(max_epochs):
    X, y = binary_data()
    with pytest.raises(ValueError, match=r"'max_epochs' parameter.*range \[1, inf\)"):
        make_clf(max_epochs=max_epochs).fit(X, y)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("value, match", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_X_rejected(value, match):
    X, y = binary_data()
    X[3, 1] = value
    with pytest.raises(ValueError, match=match):
        make_clf().fit(X, y)


def test_infinite_X_message_does_not_blame_non_numeric_columns():
    X, y = binary_data()
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity") as info:
        make_clf().fit(X, y)
    assert "Encode categorical" not in str(info.value)


def test_single_class_rejected():
    X, y = binary_data()
    with pytest.raises(ValueError, match="only one class"):
        make_clf().fit(X, np.full(len(y), "a"))


def test_length_mismatch_rejected():
    X, y = binary_data()
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        make_clf().fit(X, y[:-5])


def test_wrong_number_of_features_at_predict():
    X, y = binary_data()
    clf = make_clf(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"X has 3 features.*expecting 5"):
        clf.predict(X[:, :3])


def test_y_none_rejected():
    X, _ = binary_data()
    with pytest.raises(ValueError, match="requires y"):
        make_clf().fit(X, None)


def test_non_numeric_column_suggests_encoding():
    X, y = binary_data()
    frame = pd.DataFrame(X, columns=list("abcde"))
    frame["colour"] = np.where(y == 1, "red", "blue")
    with pytest.raises(ValueError, match=r"(?s)only numbers.*Encode categorical"):
        make_clf().fit(frame, y)


def test_diverging_training_raises():
    X, y = binary_data()
    with pytest.raises(FloatingPointError, match="diverged"):
        make_clf(lr=1e6).fit(X * 1e30, y)


def test_nan_loss_raises():
    X, y = binary_data()
    with pytest.raises(FloatingPointError, match=r"diverged.*nan"):
        make_clf(loss=NanLoss).fit(X, y)


# torch emits these UserWarnings once per process, so each case runs in a fresh interpreter.
WARNING_CASES = {
    "read-only DataFrame values": """
X, y = make_classification(n_samples=60, n_features=4, random_state=0)
frame = pd.DataFrame(X.astype(np.float32), columns=list("abcd"))
ImbalancedNetClassifier(max_epochs=1).fit(frame, y).predict_proba(frame)
""",
    "divergence message": """
class NanLoss(torch.nn.Module):
    def forward(self, logits, target, sample_weight=None):
        return logits.sum() * float("nan")
X, y = make_classification(n_samples=60, n_features=4, random_state=0)
try:
    ImbalancedNetClassifier(max_epochs=1, loss=NanLoss).fit(X.astype(np.float32), y)
except FloatingPointError as exc:
    assert "diverged" in str(exc)
else:
    raise AssertionError("no FloatingPointError")
""",
}


@pytest.mark.parametrize("case", sorted(WARNING_CASES))
def test_no_stray_torch_user_warning(case):
    script = ("import numpy as np, pandas as pd, torch\n"
              "from sklearn.datasets import make_classification\n"
              "from sklimb import ImbalancedNetClassifier\n" + WARNING_CASES[case])
    result = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", script],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-1500:]


def test_predict_before_fit():
    X, _ = binary_data()
    with pytest.raises(NotFittedError):
        make_clf().predict(X)
    with pytest.raises(NotFittedError):
        make_clf().predict_proba(X)


def test_initialized_but_unfitted_is_not_fitted():
    X, _ = binary_data()
    clf = make_clf(module__n_features=5, module__n_classes=2).initialize()
    with pytest.raises(NotFittedError):
        clf.predict(X)


@pytest.mark.parametrize("params, name", [
    (dict(class_weight="foo"), "class_weight"),
    (dict(early_stopping="yes"), "early_stopping"),
    (dict(validation_fraction=1.5), "validation_fraction"),
    (dict(n_threads=0), "n_threads"),
    (dict(lr=-1), "lr"),
    (dict(batch_size=0), "batch_size"),
    (dict(n_iter_no_change=0), "n_iter_no_change"),
    (dict(max_epochs=-1), "max_epochs"),
    (dict(max_epochs=0), "max_epochs"),  # would score an untrained network
    (dict(max_epochs="many"), "max_epochs"),
    (dict(class_weight="automatic"), "class_weight"),
    (dict(sampler="bogus"), "sampler"),
    (dict(sampling_ratio=0.0), "sampling_ratio"),
    (dict(sampling_ratio=1.5), "sampling_ratio"),
    (dict(class_weight_start=1.0), "class_weight_start"),
    (dict(class_weight_start=-1), "class_weight_start"),
    (dict(class_weight_start="half"), "class_weight_start"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(weight_decay="strong"), "weight_decay"),
])
def test_invalid_hyperparameters(params, name):
    X, y = binary_data()
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        make_clf(**params).fit(X, y)


# ------------------------------------------------------------------ progress
def test_verbose_fit_says_its_budget_then_prints_one_line_per_epoch(capsys):
    X, y = binary_data(n_samples=120)
    make_clf(max_epochs=3, batch_size=50, verbose=1).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Training 3 epochs of 3 batches (50 rows each, 120 rows per epoch)."
    epoch_rows = [line.split()[0] for line in lines[3:]]  # after the table's two header lines
    assert epoch_rows == ["1", "2", "3"]
    make_clf(max_epochs=3, verbose=0).fit(X, y)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("params, match", [
    ({"batch_size": "big"}, r"'batch_size' parameter .* int in the range \[1, inf\), "
                            r"a str among \{'auto'\}"),
    ({"decision_cv": "auto-ish"}, r"'decision_cv' parameter .* \{'auto'\}"),
])
def test_auto_options_are_named_in_the_error(params, match):
    X, y = binary_data()
    with pytest.raises(ValueError, match=match):
        make_clf(**params).fit(X, y)
