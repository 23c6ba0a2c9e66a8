"""Error paths that each say what is wrong and how to fix it."""

import numpy as np
import pytest
import torch

from sklimb import ImbalancedNetClassifier
from sklimb.modules import MLP
from sklimb.strategies import make_sampler


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return rng.randn(60, 3).astype(np.float32), np.repeat([0, 1, 2], [40, 14, 6])


class WeightNotKept(torch.nn.Module):
    """A user loss that accepts ``weight`` but does not keep it as an attribute."""

    def __init__(self, weight=None):
        super().__init__()
        self.class_weights = weight

    def forward(self, logits, target):
        return torch.nn.functional.cross_entropy(logits, target, weight=self.class_weights)


def test_train_split_is_refused_with_the_alternative(data):
    X, y = data
    with pytest.raises(ValueError, match=r"train_split=0.2 is not used.*early_stopping=True"):
        ImbalancedNetClassifier(train_split=0.2, max_epochs=1).fit(X, y)


def test_deferred_reweighting_needs_a_weighted_loss(data):
    X, y = data
    clf = ImbalancedNetClassifier(loss=WeightNotKept, class_weight="balanced", max_epochs=2,
                                  class_weight_start=1)
    with pytest.raises(ValueError, match="class_weight_start needs a loss that keeps"):
        clf.fit(X, y)


def test_initialize_before_fit_asks_for_fit_or_the_sizes():
    with pytest.raises(ValueError, match=r"call fit\(\) first, or pass module__n_features"):
        ImbalancedNetClassifier().initialize()


def test_early_stopping_scorer_failure_is_explained(data):
    X, y = data
    y = y.copy()
    y[-1] = 3  # a class with a single sample never reaches the validation split
    with pytest.raises(ValueError, match=r"early stopping could not compute.*label-based"):
        ImbalancedNetClassifier(early_stopping=True, scoring="roc_auc_ovr",
                                max_epochs=2).fit(X, y)


@pytest.mark.parametrize("kwargs, match", [
    ({"activation": "swish"}, "module__activation='swish' is not supported"),
    ({"norm": "group"}, "module__norm='group' is not supported"),
    ({"dropout": 1.0}, r"module__dropout must lie in \[0, 1\)"),
    ({"hidden_layer_sizes": (8, 0)}, "module__hidden_layer_sizes must be a sequence of "
                                     "positive integers"),
])
def test_mlp_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(n_features=3, n_classes=2, **kwargs)


def test_unknown_sampler_name():
    with pytest.raises(ValueError,
                       match=r"sampler='tomek' is not supported; use one of \['over', 'under'"):
        make_sampler("tomek")
