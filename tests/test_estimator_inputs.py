"""Edge cases of ImbalancedNetClassifier found by reading and fuzzing: each failed before.

User modules with every kind of constructor, class weights on top of a per-epoch sampler,
the device-agnostic prior correction, and bad inputs that used to give a poor result or a
foreign error.
"""

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from skorch.callbacks import Callback
from torch import nn

from sklimb import ImbalancedNetClassifier
from sklimb.losses import LOSSES

FAST = dict(module="mlp", module__hidden_layer_sizes=(8,), max_epochs=3, lr=0.01,
            random_state=0)


def data(n_samples=120, n_classes=2, seed=0):
    weights = [0.8] if n_classes == 2 else [0.6, 0.3, 0.1]
    X, y = make_classification(n_samples, n_features=5, n_informative=3, n_redundant=0,
                               n_classes=n_classes, weights=weights, class_sep=2.0,
                               random_state=seed)
    return X.astype(np.float32), y


# ------------------------------------------------------------ user module constructors
class Positional(nn.Module):
    def __init__(self, n_features, n_classes, width=4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, width), nn.ReLU(),
                                 nn.Linear(width, n_classes))

    def forward(self, X):
        return self.net(X)


class KeywordOnly(Positional):
    def __init__(self, *, n_features, n_classes, width=4):
        super().__init__(n_features, n_classes, width)


class OnlyKwargs(nn.Module):
    """Declares nothing: receives the module__ parameters alone."""

    def __init__(self, **kwargs):
        super().__init__()
        self.received = dict(kwargs)
        self.linear = nn.Linear(kwargs.get("in_dim", 5), kwargs.get("out_dim", 2))

    def forward(self, X):
        return self.linear(X)


class NamedAndKwargs(Positional):
    def __init__(self, n_features, n_classes, **kwargs):
        super().__init__(n_features, n_classes, kwargs.pop("width", 4))
        self.extra = kwargs


@pytest.mark.parametrize("module", [Positional, KeywordOnly, NamedAndKwargs])
def test_declared_sizes_are_filled_whatever_the_constructor(module):
    X, y = data(n_classes=3)
    clf = ImbalancedNetClassifier(module=module, module__width=6, max_epochs=2,
                                  input_transform=None, random_state=0).fit(X, y)
    first, last = clf.module_.net[0], clf.module_.net[-1]
    assert (first.in_features, first.out_features, last.out_features) == (5, 6, 3)


def test_a_kwargs_only_module_gets_its_module_parameters_and_nothing_else():
    X, y = data()
    clf = ImbalancedNetClassifier(module=OnlyKwargs, module__in_dim=5, module__out_dim=2,
                                  max_epochs=2, input_transform=None, random_state=0).fit(X, y)
    assert clf.module_.received == {"in_dim": 5, "out_dim": 2}
    assert clf.predict(X).shape == (len(X),)


def test_a_module_with_the_wrong_number_of_outputs_is_named():
    X, y = data(n_classes=3)
    with pytest.raises(ValueError, match=r"module returns outputs of shape \(2, 2\).*"
                                         r"n_classes=3"):
        ImbalancedNetClassifier(module=OnlyKwargs, module__in_dim=5, module__out_dim=2,
                                input_transform=None, max_epochs=1).fit(X, y)


# ------------------------------------------------------------ class weights and samplers
@pytest.mark.parametrize("sampler", ["over", "under"])
def test_auto_adds_no_class_weights_on_top_of_a_per_epoch_sampler(sampler):
    X = np.random.RandomState(0).randn(60, 3).astype(np.float32)
    y = np.array([0] * 50 + [1] * 10)
    clf = ImbalancedNetClassifier(sampler=sampler, **FAST).fit(X, y)
    assert clf.class_weight_ is None and clf.criterion_.weight is None
    # the rare class is boosted by the sampler's 5x alone, and prior_correction removes it
    assert_allclose(np.exp(clf.training_log_shift()),
                    [1.0, 5.0] if sampler == "over" else [0.2, 1.0])
    explicit = ImbalancedNetClassifier(sampler=sampler, class_weight="balanced",
                                       **FAST).fit(X, y)
    assert explicit.class_weight_ is not None  # asked for explicitly, it is kept


# ------------------------------------------------------------ the loss's class shift
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_training_log_shift_comes_from_the_loss_itself(loss):
    X, y = data(n_classes=3)
    clf = ImbalancedNetClassifier(loss=loss, **FAST).fit(X, y)
    expected = clf.criterion_.class_log_shift()
    expected = np.zeros(3) if expected is None else expected.double().numpy()
    assert_allclose(clf.training_log_shift(), expected, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_class_log_shift_stays_on_the_loss_device(loss):
    counts = [30, 10, 2]
    kwargs = {"class_counts": counts} if LOSSES[loss].requires_class_counts else {}
    module = LOSSES[loss](weight=[1.0, 2.0, 4.0], **kwargs).to("meta")
    shift = module.class_log_shift()
    assert shift.device.type == "meta" and shift.shape == (3,)


def test_a_loss_without_class_log_shift_is_shifted_by_the_weights_it_was_given():
    X, y = data()

    class WeightedCE(nn.Module):
        def __init__(self, weight=None):
            super().__init__()
            self.weight = weight

        def forward(self, logits, target):
            return nn.functional.cross_entropy(logits, target, weight=self.weight)

    clf = ImbalancedNetClassifier(loss=WeightedCE, class_weight="balanced", **FAST).fit(X, y)
    assert_allclose(clf.training_log_shift(), np.log(clf.class_weight_))


# ------------------------------------------------------------ bad input
def test_three_dimensional_X_is_named():
    X, y = data()
    with pytest.raises(ValueError, match=r"X must be 2-D \(n_samples, n_features\); got an "
                                         r"array with 3 dimensions"):
        ImbalancedNetClassifier(**FAST).fit(X.reshape(len(X), 5, 1), y)


def test_features_near_the_float32_limit_give_finite_probabilities():
    X, y = data()
    clf = ImbalancedNetClassifier(**FAST).fit(X, y)
    extreme = X[:4].copy()
    extreme[0, 0], extreme[1, 1] = 3e38, -3e38
    proba = clf.predict_proba(extreme)
    assert np.isfinite(proba).all()
    unscaled = ImbalancedNetClassifier(input_transform=None, **FAST).fit(X, y)
    try:  # without the robust transform: finite probabilities or an error saying why
        assert np.isfinite(unscaled.predict_proba(np.full((2, 5), 3e38, np.float32))).all()
    except ValueError as exc:
        assert "outputs are not finite for" in str(exc) and "rows of X" in str(exc)


def test_a_diverging_loss_warns():
    X, y = make_classification(1000, n_features=5, n_informative=3, weights=[0.8],
                               random_state=0)
    with pytest.warns(RuntimeWarning, match="training is diverging: the loss grew from"):
        ImbalancedNetClassifier(module="mlp", lr=10.0, max_epochs=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an ordinary fit does not warn
        ImbalancedNetClassifier(module="mlp", max_epochs=3, random_state=0).fit(X, y)


def test_ctrl_c_stops_fit_instead_of_returning_a_half_trained_network():
    X, y = data()

    class CtrlCOnTheThirdBatch(nn.Module):  # SIGINT arriving in the middle of training
        def __init__(self, weight=None):
            super().__init__()
            self.weight, self.calls = weight, 0

        def forward(self, logits, target):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return nn.functional.cross_entropy(logits, target)

    clf = ImbalancedNetClassifier(loss=CtrlCOnTheThirdBatch, **{**FAST, "max_epochs": 5})
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    assert not hasattr(clf, "n_epochs_")  # not fitted


def test_a_callback_may_still_stop_training_the_skorch_way():
    X, y = data()

    class StopAfterTwo(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt  # skorch's convention, as EarlyStopping does

    clf = ImbalancedNetClassifier(callbacks=[("stop", StopAfterTwo())],
                                  **{**FAST, "max_epochs": 5}).fit(X, y)
    assert clf.n_epochs_ == 2 and clf.predict(X).shape == (len(X),)


def test_early_stopping_with_a_tiny_class_leaks_no_foreign_warning():
    X, y = data(n_samples=200, n_classes=3)
    y[np.flatnonzero(y == 2)[2:]] = 0  # two samples of class 2: one lands in validation
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ImbalancedNetClassifier(early_stopping=True, **{**FAST, "max_epochs": 4}).fit(X, y)


@pytest.mark.parametrize("device", ["bogus", "cuda:7" if not torch.cuda.is_available()
                                    else "bogus:0"])
def test_an_unusable_device_is_named(device):
    X, y = data()
    with pytest.raises(ValueError, match=f"device={device!r}"):
        ImbalancedNetClassifier(device=device, **FAST).fit(X, y)


def test_ldam_trains_a_different_network_than_cross_entropy_by_default():
    from sklimb.datasets import load_long_tailed_digits

    X, y = load_long_tailed_digits(return_X_y=True)
    ce = ImbalancedNetClassifier(random_state=0).fit(X, y).predict_proba(X)
    ldam = ImbalancedNetClassifier(loss="ldam", random_state=0).fit(X, y).predict_proba(X)
    flat = ImbalancedNetClassifier(loss="ldam", loss__scale=1.0, random_state=0)
    flat = flat.fit(X, y).predict_proba(X)
    # at scale 1 the margins (at most 0.5) vanish inside cross-entropy's own soft margin
    assert np.abs(flat - ce).max() < 0.1 < np.abs(ldam - ce).max()
    assert (ldam.argmax(axis=1) != ce.argmax(axis=1)).any() or \
        np.abs(ldam - ce).mean() > 10 * np.abs(flat - ce).mean()
