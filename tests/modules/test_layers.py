"""The CPU dropout of sklimb's networks behaves as ``torch.nn.Dropout``."""

import math

import pytest
import torch
from torch import nn

from sklimb.modules import MLP
from sklimb.modules._layers import Dropout


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5, 0.9])
def test_drop_rate_and_scale(p):
    torch.manual_seed(0)
    n = 400_000
    out = Dropout(p)(torch.ones(n))
    dropped = (out == 0).float().mean().item()
    # within 5 binomial standard deviations of p
    assert abs(dropped - p) < 5 * math.sqrt(p * (1 - p) / n)
    kept = out[out != 0]
    assert torch.allclose(kept, torch.full_like(kept, 1.0 / (1.0 - p)), rtol=1e-4)
    assert abs(out.mean().item() - 1.0) < 0.02  # the expectation is kept


def test_mask_differs_by_position_and_call():
    torch.manual_seed(0)
    layer = Dropout(0.5)
    first, second = layer(torch.ones(64, 100)), layer(torch.ones(64, 100))
    assert not torch.equal(first, second)
    # every column and every row sees drops: no lane of the random words is stuck
    assert ((first == 0).float().mean(0) > 0).all()
    assert ((first == 0).float().mean(1) > 0).all()


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 5)])
def test_gradient_is_the_mask(shape):
    torch.manual_seed(1)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    out = Dropout(0.3)(x)
    out.sum().backward()
    expected = torch.where(out != 0, 1.0 / (1.0 - 0.3), 0.0).to(torch.float64)
    assert torch.allclose(x.grad, expected)
    assert out.shape == x.shape


def test_eval_mode_and_zero_probability_are_identity():
    x = torch.randn(4, 6)
    layer = Dropout(0.5).eval()
    assert layer(x) is x
    assert Dropout(0.0).train()(x) is x


def test_seed_makes_it_reproducible():
    x = torch.randn(32, 16)
    torch.manual_seed(3)
    first = Dropout(0.2)(x)
    torch.manual_seed(3)
    assert torch.equal(first, Dropout(0.2)(x))


def test_is_an_nn_dropout_in_the_mlp():
    mlp = MLP(n_features=4, n_classes=2, hidden_layer_sizes=(8, 8), dropout=0.25)
    layers = [layer for layer in mlp.layers if isinstance(layer, nn.Dropout)]
    assert [type(layer) for layer in layers] == [Dropout, Dropout]
    assert [layer.p for layer in layers] == [0.25, 0.25]


def test_mlp_default_has_no_dropout():
    mlp = MLP(n_features=4, n_classes=2)
    assert not [layer for layer in mlp.layers if isinstance(layer, nn.Dropout)]


def test_inplace_falls_back_to_torch():
    torch.manual_seed(0)
    x = torch.ones(1000)
    out = Dropout(0.5, inplace=True)(x)
    assert out is x and set(out.unique().tolist()) <= {0.0, 2.0}
