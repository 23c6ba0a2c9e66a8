"""skorch's extension points on ImbalancedNetClassifier, used as users use them.

Training goes through skorch's ``train_step`` -> ``train_step_single`` ->
``get_loss``, so any ``torch.optim`` optimiser (LBFGS's closure included),
subclass overrides and per-batch callbacks work.
"""

import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.datasets import make_classification
from skorch.callbacks import Callback
from skorch.helper import SliceDict

from sklimb import ImbalancedNetClassifier
from sklimb._schedules import lr_factor

SMALL = dict(module__hidden_layer_sizes=(16,), max_epochs=4, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=160, n_features=6, n_informative=4,
                               weights=[0.8], random_state=0)
    return X.astype(np.float32), y


def n_train_batches(net):
    return int(sum(net.history[:, "train_batch_count"]))


# ------------------------------------------------------------------ optimisers
def test_lbfgs_trains_through_skorchs_closure(data):
    X, y = data
    calls = []

    class CountingLBFGS(torch.optim.LBFGS):
        def step(self, closure):
            def counted():
                calls.append(1)
                return closure()
            return super().step(counted)

    clf = ImbalancedNetClassifier(optimizer=CountingLBFGS, lr=0.5, optimizer__max_iter=5,
                                  ema_decay=None, lr_schedule="constant",
                                  **{**SMALL, "batch_size": -1}).fit(X, y)
    assert len(calls) > n_train_batches(clf)  # LBFGS evaluates the closure several times
    losses = clf.history[:, "train_loss"]
    assert losses[-1] < losses[0]
    assert (clf.predict(X) == y).mean() > 0.85


def test_sgd_with_momentum_keeps_its_state(data):
    X, y = data
    clf = ImbalancedNetClassifier(optimizer=torch.optim.SGD, lr=0.05,
                                  optimizer__momentum=0.9, **SMALL).fit(X, y)
    state = clf.optimizer_.state
    assert state and all("momentum_buffer" in s for s in state.values())
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.9
    assert clf.history[-1, "train_loss"] < clf.history[0, "train_loss"]


class SignSGD(torch.optim.Optimizer):
    """A user's optimiser: a step of ``lr`` against the sign of each gradient."""

    def __init__(self, params, lr=1e-2):
        super().__init__(params, {"lr": lr})
        self.n_steps = 0

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    parameter.add_(parameter.grad.sign(), alpha=-group["lr"])
        self.n_steps += 1
        return loss


def test_a_user_optimiser_class_takes_every_step(data):
    X, y = data
    clf = ImbalancedNetClassifier(optimizer=SignSGD, lr=1e-2, **SMALL).fit(X, y)
    assert clf.optimizer_.n_steps == n_train_batches(clf) == 4 * 5
    assert "weight_decay" not in clf.optimizer_.param_groups[0]  # it declares none
    assert clf.history[-1, "train_loss"] < clf.history[0, "train_loss"]


# ------------------------------------------------------------------ overrides and callbacks
def test_a_train_step_single_override_runs_for_every_batch(data):
    X, y = data

    class L1Net(ImbalancedNetClassifier):
        def train_step_single(self, batch, **fit_params):
            self.__dict__.setdefault("calls_", 0)
            self.calls_ += 1
            step = super().train_step_single(batch, **fit_params)
            penalty = sum(p.abs().sum() for p in self.module_.parameters())
            (1e-3 * penalty).backward()
            return step

    clf = L1Net(**SMALL).fit(X, y)
    assert clf.calls_ == n_train_batches(clf) == 20


def test_a_get_loss_override_is_the_training_loss(data):
    X, y = data

    class DoubledLoss(ImbalancedNetClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            return 2.0 * super().get_loss(y_pred, y_true, X=X, training=training)

    plain = ImbalancedNetClassifier(**{**SMALL, "max_epochs": 1, "lr": 1e-12}).fit(X, y)
    doubled = DoubledLoss(**{**SMALL, "max_epochs": 1, "lr": 1e-12}).fit(X, y)
    assert_allclose(doubled.history[0, "train_loss"], 2 * plain.history[0, "train_loss"],
                    rtol=1e-5)


class BatchRecorder(Callback):
    def initialize(self):
        self.training_batches_, self.grads_, self.lrs_ = 0, 0, []
        return self

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.training_batches_ += 1
            assert "loss" in kwargs and "y_pred" in kwargs
            self.lrs_.append(net.optimizer_.param_groups[0]["lr"])

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.grads_ += 1
        assert all(p.grad is not None for _, p in named_parameters)


def test_a_batch_callback_is_called_every_batch(data):
    X, y = data
    recorder = BatchRecorder()
    clf = ImbalancedNetClassifier(callbacks=[("recorder", recorder)], **SMALL).fit(X, y)
    assert recorder.training_batches_ == recorder.grads_ == n_train_batches(clf) == 20


def test_the_learning_rate_schedule_is_a_callback_on_lambda_lr(data):
    X, y = data
    recorder = BatchRecorder()
    clf = ImbalancedNetClassifier(lr=0.01, lr_schedule="cosine",
                                  callbacks=[("recorder", recorder)], **SMALL).fit(X, y)
    steps = n_train_batches(clf)
    assert_allclose(recorder.lrs_, [0.01 * lr_factor("cosine", t, steps)
                                    for t in range(1, steps + 1)], atol=1e-12)
    assert clf.optimizer_.param_groups[0]["lr"] == 0.01  # back at its base rate
    assert isinstance(dict(clf.callbacks_)["lr_schedule"].lr_scheduler_,
                      torch.optim.lr_scheduler.LambdaLR)
    recorder.initialize()
    clf.set_params(lr=0.02).partial_fit(X, y)  # a new schedule from the new base rate
    assert recorder.lrs_[0] == pytest.approx(0.02 * lr_factor("cosine", 1, steps))


def test_the_weight_average_is_the_ema_of_the_weights_after_every_step(data):
    X, y = data

    class Weights(Callback):
        def initialize(self):
            self.seen_ = []
            return self

        def on_train_begin(self, net, **kwargs):
            self.seen_ = [[p.detach().clone() for p in net.module_.parameters()]]

        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                self.seen_.append([p.detach().clone() for p in net.module_.parameters()])

    weights = Weights()
    clf = ImbalancedNetClassifier(ema_decay=0.9, callbacks=[("weights", weights)],
                                  **SMALL).fit(X, y)
    average = [p.clone() for p in weights.seen_[0]]  # the weights before the first step
    for n, step in enumerate(weights.seen_[1:], start=1):
        decay = min(0.9, (1 + n) / (10 + n))
        average = [a * decay + w * (1 - decay) for a, w in zip(average, step, strict=True)]
    for fitted, expected in zip(clf.module_.parameters(), average, strict=True):
        assert_allclose(fitted.detach().numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert not torch.equal(next(clf.module_.parameters()), weights.seen_[-1][0])


# ------------------------------------------------------------------ inputs skorch allows
@pytest.mark.parametrize("make_X", [lambda X: SliceDict(a=X[:, :3], b=X[:, 3:]),
                                    lambda X: {"a": X[:, :3], "b": X[:, 3:]}])
def test_dict_inputs_get_a_clear_error(data, make_X):
    X, y = data
    with pytest.raises(TypeError, match=r"one numeric feature matrix.*numpy.hstack"):
        ImbalancedNetClassifier(**SMALL).fit(make_X(X), y)


def test_accelerate_mixin_trains_and_predicts(data):
    pytest.importorskip("accelerate", reason="accelerate is not installed (pip install "
                                             "accelerate) and AccelerateMixin needs it")
    from accelerate import Accelerator
    from skorch.hf import AccelerateMixin

    class AcceleratedNet(AccelerateMixin, ImbalancedNetClassifier):
        pass

    X, y = data
    clf = AcceleratedNet(accelerator=Accelerator(cpu=True), **SMALL).fit(X, y)
    assert n_train_batches(clf) == 20
    assert clf.predict_proba(X).shape == (len(X), 2)
    assert (clf.predict(X) == y).mean() > 0.8


# ------------------------------------------------------------------ parameters and state
def test_fitting_adds_no_parameters_and_clones_equal(data):
    X, y = data
    net = ImbalancedNetClassifier(loss="focal", loss__gamma=1.0, **SMALL)
    before = net.get_params()
    net.fit(X, y)
    after = net.get_params()
    assert set(before) == set(after)
    assert not [key for key in after if key.startswith("_")]
    shallow = {key: value for key, value in clone(net).get_params(deep=False).items()
               if key != "callbacks"}
    expected = {key: value for key, value in clone(ImbalancedNetClassifier(
        loss="focal", loss__gamma=1.0, **SMALL)).get_params(deep=False).items()
        if key != "callbacks"}
    assert shallow.keys() == expected.keys()
    assert all(shallow[key] is expected[key] or shallow[key] == expected[key]
               for key in shallow)


def test_fitted_estimators_pickle_and_clone(data):
    X, y = data
    clf = ImbalancedNetClassifier(module="ensemble_mlp", module__n_members=2, loss="dice",
                                  **{**SMALL, "module__hidden_layer_sizes": (8,)}).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    assert_allclose(restored.predict_proba(X), clf.predict_proba(X))
    assert restored.history[-1, "train_loss"] == clf.history[-1, "train_loss"]
    refit = clone(clf).fit(X, y)
    assert_allclose(refit.predict_proba(X), clf.predict_proba(X), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ sample weights
@pytest.mark.parametrize("input_transform", ["standard", "robust", "piecewise_linear"])
def test_zero_weights_give_the_model_that_dropping_the_rows_gives(data, input_transform):
    X, y = data
    X = X.copy()
    X[::5] *= 30.0  # the zero-weighted rows would shift the transform's statistics
    weights = np.ones(len(y))
    weights[::5] = 0.0
    keep = weights > 0
    params = dict(loss="ce", class_weight=None, batch_size=-1, input_transform=input_transform,
                  module__hidden_layer_sizes=(16,), max_epochs=15, random_state=0)
    weighted = ImbalancedNetClassifier(**params).fit(X, y, sample_weight=weights)
    dropped = ImbalancedNetClassifier(**params).fit(X[keep], y[keep])
    plain = ImbalancedNetClassifier(**params).fit(X, y)
    assert_allclose(weighted.predict_proba(X), dropped.predict_proba(X), rtol=1e-4, atol=1e-5)
    assert not np.allclose(plain.predict_proba(X), dropped.predict_proba(X), atol=1e-3)
    assert weighted.class_counts_.tolist() == np.bincount(y[keep]).tolist()


def test_a_transform_without_sample_weight_is_fitted_on_the_weighted_rows(data):
    from sklearn.preprocessing import QuantileTransformer

    X, y = data
    weights = np.where(np.arange(len(y)) % 4 == 0, 0.0, 1.0)
    params = dict(input_transform=QuantileTransformer(n_quantiles=20), **SMALL)
    fitted = ImbalancedNetClassifier(**params).fit(X, y, sample_weight=weights)
    assert fitted.input_transform_.n_quantiles_ == 20
    assert_allclose(fitted.input_transform_.quantiles_,
                    QuantileTransformer(n_quantiles=20).fit(X[weights > 0]).quantiles_)
    with pytest.warns(UserWarning, match=r"QuantileTransformer\(\) takes no sample_weight; it "
                                         r"is fitted on the rows of positive weight"):
        ImbalancedNetClassifier(**params).fit(X, y, sample_weight=weights * (1 + y))


def test_a_module_sized_from_the_data_needs_fit_first():
    with pytest.raises(ValueError, match=r"sizes the module from the data; call fit\(\) first, "
                                         r"or pass module__n_features"):
        ImbalancedNetClassifier(**SMALL).initialize()


def test_all_zero_sample_weights_are_rejected(data):
    X, y = data
    with pytest.raises(ValueError, match="sample_weight is zero for every sample; at least one "
                                         "sample needs a positive weight"):
        ImbalancedNetClassifier(**SMALL).fit(X, y, sample_weight=np.zeros(len(y)))
