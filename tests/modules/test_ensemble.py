"""EnsembleMLP and EnsembleLinear: member shapes, independence, and the estimator's averaging."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from torch import nn

from sklimb import ImbalancedNetClassifier
from sklimb.modules import MODULES, EnsembleLinear, EnsembleMLP, get_module


def test_ensemble_linear_applies_each_member_its_own_weights():
    torch.manual_seed(0)
    layer = EnsembleLinear(4, 3, n_members=5)
    x = torch.randn(7, 5, 4)
    out = layer(x)
    assert out.shape == (7, 5, 3)
    for j in range(5):
        expected = x[:, j] @ layer.weight[j] + layer.bias[j]
        torch.testing.assert_close(out[:, j], expected)


def test_ensemble_linear_initialises_members_like_nn_linear():
    torch.manual_seed(0)
    layer = EnsembleLinear(64, 8, n_members=16)
    bound = 1 / np.sqrt(64)
    assert layer.weight.abs().max() <= bound and layer.bias.abs().max() <= bound
    assert not torch.allclose(layer.weight[0], layer.weight[1])


def test_ensemble_mlp_returns_one_set_of_logits_per_member():
    torch.manual_seed(0)
    net = EnsembleMLP(n_features=6, n_classes=3, n_members=4, hidden_layer_sizes=(16, 8))
    out = net(torch.randn(10, 6))
    assert out.shape == (10, 4, 3)


def test_members_differ_from_the_start_and_share_the_hidden_layers():
    torch.manual_seed(0)
    net = EnsembleMLP(n_features=6, n_classes=3, n_members=4, hidden_layer_sizes=(16,))
    net.eval()
    out = net(torch.randn(10, 6))
    for j in range(1, 4):
        assert not torch.allclose(out[:, 0], out[:, j])
    # the input scaling holds random signs, and only it and the heads are per member
    assert set(net.scaling.detach().unique().tolist()) <= {-1.0, 1.0}
    per_member = [name for name, p in net.named_parameters() if p.shape[0] == 4]
    assert per_member == ["scaling", "head.weight", "head.bias"]
    assert sum(isinstance(m, nn.Linear) for m in net.modules()) == 1  # one shared layer


def test_dropout_draws_separate_masks_per_member():
    torch.manual_seed(0)
    net = EnsembleMLP(n_features=3, n_classes=2, n_members=8, hidden_layer_sizes=(64,),
                      dropout=0.5)
    net.train()
    hidden = net.hidden(torch.ones(1, 1, 3).expand(1, 8, 3) * net.scaling.detach())
    zeros = (hidden == 0).squeeze(0)
    assert not all(torch.equal(zeros[0], zeros[j]) for j in range(1, 8))


@pytest.mark.parametrize("kwargs, match", [
    ({"n_members": 0}, "module__n_members must be an integer >= 1"),
    ({"hidden_layer_sizes": ()}, "needs at least one hidden layer"),
    ({"dropout": 1.5}, r"module__dropout must lie in \[0, 1\)"),
    ({"activation": "swish"}, "module__activation='swish' is not supported"),
])
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EnsembleMLP(n_features=3, n_classes=2, **kwargs)


def test_registry_names_the_networks():
    assert set(MODULES) == {"mlp", "ensemble_mlp"}
    assert get_module("ensemble_mlp") is EnsembleMLP
    assert get_module(EnsembleMLP) is EnsembleMLP
    with pytest.raises(ValueError, match="unknown module 'tabx'"):
        get_module("tabx")


# ------------------------------------------------------------- in the estimator
def data():
    X, y = make_classification(200, n_features=5, n_informative=3, n_redundant=0,
                               weights=[0.8], random_state=0)
    return X.astype(np.float32), y


def test_prediction_is_the_mean_of_the_member_probabilities():
    X, y = data()
    clf = ImbalancedNetClassifier(module="ensemble_mlp", module__n_members=4,
                                  module__hidden_layer_sizes=(16,), max_epochs=5,
                                  random_state=0).fit(X, y)
    clf.module_.eval()
    with torch.no_grad():
        members = clf.module_(torch.as_tensor(clf.input_transform_.transform(X)))
    expected = torch.softmax(members.double(), dim=2).mean(dim=1).numpy()
    assert_allclose(clf.predict_proba(X), expected, rtol=1e-5, atol=1e-6)
    # the members' own predictions differ: they are an ensemble, not copies
    member_proba = torch.softmax(members, dim=2).numpy()
    assert np.abs(member_proba[:, 0] - member_proba[:, 1]).max() > 1e-3


def test_training_loss_is_the_mean_of_the_per_member_losses():
    X, y = data()
    clf = ImbalancedNetClassifier(module="ensemble_mlp", module__n_members=3,
                                  module__hidden_layer_sizes=(8,), max_epochs=1,
                                  class_weight="balanced", random_state=0).fit(X, y)
    logits = torch.randn(5, 3, 2)
    target = torch.tensor([0, 1, 0, 0, 1])
    sample_weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 1.0])
    loss = clf.get_loss(logits, (target, sample_weight), training=True)
    per_member = [clf.criterion_(logits[:, j], target, sample_weight=sample_weight)
                  for j in range(3)]
    torch.testing.assert_close(loss, torch.stack(per_member).mean())
