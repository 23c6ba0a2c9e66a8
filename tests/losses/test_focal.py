"""Softmax focal loss against an independent float64 reference."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from sklimb.losses import FocalLoss, focal_loss

from . import _reference
from ._reference import (
    HALF_DTYPES,
    REDUCTIONS,
    SATURATION_TOLERANCE,
    assert_finite_on_extreme_logits,
    assert_forward_backward,
    reduce_reference,
)

# the focal loss also weights by ``alpha``; "all" passes alpha, weight and sample_weight
WEIGHTINGS = ["none", "alpha", "class", "sample", "all"]
GAMMAS = [0.0, 0.2, 0.5, 1.0, 2.0, 3.5]

SATURATED = [*_reference.SATURATED, [15.0, 14.0, 0.0]]
SATURATED_TARGET = [*_reference.SATURATED_TARGET, 0]


# ---------------------------------------------------------------- reference
def focal_reference(logits, target, *, gamma, alpha=None, weight=None, sample_weight=None,
                    reduction="mean"):
    """-(1-p_t)^gamma log p_t, weighted by alpha[y] * weight[y] * sample_weight.

    ``log(1 - p_t)`` is the log-sum-exp of the other logits minus that of all
    logits, so the float64 reference (and its autograd gradient) stays exact
    when ``p_t`` rounds to 1.
    """
    x = logits.double()
    n_samples, n_classes = x.shape
    is_target = F.one_hot(target, n_classes).bool()
    log_z = x.logsumexp(dim=1)
    log_pt = x[torch.arange(n_samples), target] - log_z
    log_one_minus_pt = x.masked_fill(is_target, -math.inf).logsumexp(dim=1) - log_z
    loss = -torch.exp(gamma * log_one_minus_pt) * log_pt
    w = torch.ones(n_samples, dtype=torch.float64)
    for per_class in (alpha, weight):
        if per_class is not None:
            w = w * torch.as_tensor(per_class, dtype=torch.float64)[target]
    if sample_weight is not None:
        w = w * sample_weight.double()
    unweighted = alpha is None and weight is None and sample_weight is None
    return reduce_reference(loss, None if unweighted else w, reduction)


def random_case(n_samples=9, n_classes=4, seed=0):
    """``_reference.random_case`` plus a per-class ``alpha``.

    Not built on it: ``alpha`` is drawn before ``weight``, which changes the random stream.
    """
    gen = torch.Generator().manual_seed(seed)
    logits = 3.0 * torch.randn(n_samples, n_classes, generator=gen, dtype=torch.float64)
    target = torch.randint(n_classes, (n_samples,), generator=gen)
    alpha = 0.1 + torch.rand(n_classes, generator=gen, dtype=torch.float64)
    weight = 0.1 + 2.0 * torch.rand(n_classes, generator=gen, dtype=torch.float64)
    sample_weight = 2.0 * torch.rand(n_samples, generator=gen, dtype=torch.float64)
    return logits, target, alpha, weight, sample_weight


def pick(weighting, alpha, weight, sample_weight):
    return {
        "alpha": alpha if weighting in ("alpha", "all") else None,
        "weight": weight if weighting in ("class", "all") else None,
        "sample_weight": sample_weight if weighting in ("sample", "all") else None,
    }


# ---------------------------------------------------------------- values
def test_hand_computed_value():
    logits = torch.tensor([[3.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    p0 = 1.0 / (1.0 + math.exp(-3.0))
    p1 = 1.0 / (1.0 + math.exp(-0.5))
    expected = ((1 - p0) ** 2 * -math.log(p0) + (1 - p1) ** 2 * -math.log(p1)) / 2
    loss = focal_loss(logits, torch.tensor([0, 1]), gamma=2.0)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_uniform_logits(gamma):
    loss = focal_loss(torch.zeros(3, 4, dtype=torch.float64), torch.tensor([0, 3, 1]),
                      gamma=gamma, reduction="none")
    expected = 0.75**gamma * math.log(4.0)
    torch.testing.assert_close(loss, torch.full((3,), expected, dtype=torch.float64))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_on_random_inputs(reduction, weighting, gamma):
    logits, target, alpha, weight, sample_weight = random_case(seed=1)
    kwargs = pick(weighting, alpha, weight, sample_weight)
    assert_forward_backward(
        lambda x: focal_loss(x, target, gamma=gamma, reduction=reduction, **kwargs),
        lambda x: focal_reference(x, target, gamma=gamma, reduction=reduction, **kwargs),
        logits,
    )


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_on_hand_picked_inputs(reduction, gamma):
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, -5.0, 0.0], [-3.0, 2.0, 2.0],
                           [1e-3, 0.0, -1e-3], [12.0, 11.0, -40.0], [25.0, 0.0, 1.0]],
                          dtype=torch.float64)
    target = torch.tensor([2, 1, 0, 0, 1, 0])
    alpha = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)
    sample_weight = torch.tensor([1.0, 0.0, 3.0, 0.25, 1.5, 1.0], dtype=torch.float64)
    assert_forward_backward(
        lambda x: focal_loss(x, target, gamma=gamma, alpha=alpha, sample_weight=sample_weight,
                             reduction=reduction),
        lambda x: focal_reference(x, target, gamma=gamma, alpha=alpha,
                                  sample_weight=sample_weight, reduction=reduction),
        logits,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_matches_reference(reduction):
    logits, target, _, _, sample_weight = random_case(seed=2)
    alpha, weight = [0.25, 0.5, 0.75, 1.0], [2.0, 1.0, 0.5, 4.0]
    module = FocalLoss(gamma=1.5, alpha=alpha, weight=weight, reduction=reduction)
    assert_forward_backward(
        lambda x: module(x, target, sample_weight),
        lambda x: focal_reference(x, target, gamma=1.5, alpha=alpha, weight=weight,
                                  sample_weight=sample_weight, reduction=reduction),
        logits,
    )


# ---------------------------------------------------------------- alpha
@pytest.mark.parametrize("alpha", [0.25, 0.9, np.float64(0.4), np.array(0.6)])
def test_scalar_alpha_weights_the_positive_class(alpha):
    logits, target, _, _, _ = random_case(n_classes=2, seed=3)
    a = float(alpha)
    expected = focal_reference(logits, target, gamma=2.0, alpha=[1.0 - a, a])
    torch.testing.assert_close(focal_loss(logits, target, gamma=2.0, alpha=alpha), expected,
                               rtol=1e-10, atol=1e-12)
    module = FocalLoss(gamma=2.0, alpha=alpha)
    torch.testing.assert_close(module(logits, target), expected, rtol=1e-6, atol=1e-7)


def test_scalar_alpha_is_not_a_constant_factor():
    """alpha=0.25 must not single out class 0 nor rescale every example alike."""
    logits, target, _, _, _ = random_case(n_classes=2, seed=4)
    target = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 1])
    with_alpha = focal_loss(logits, target, alpha=0.25, reduction="none")
    without = focal_loss(logits, target, reduction="none")
    torch.testing.assert_close(with_alpha[target == 1], 0.25 * without[target == 1])
    torch.testing.assert_close(with_alpha[target == 0], 0.75 * without[target == 0])


@pytest.mark.parametrize("alpha", [0.25, np.float64(0.25), torch.tensor(0.25)])
def test_scalar_alpha_with_more_than_two_classes_raises(alpha):
    logits, target, _, _, _ = random_case(seed=5)
    with pytest.raises(ValueError, match="alpha"):
        focal_loss(logits, target, alpha=alpha)
    if not isinstance(alpha, torch.Tensor):
        module = FocalLoss(alpha=alpha)
        with pytest.raises(ValueError, match="alpha"):
            module(logits, target)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_scalar_alpha_out_of_range_raises(alpha):
    logits, target, _, _, _ = random_case(n_classes=2)
    with pytest.raises(ValueError, match="alpha"):
        focal_loss(logits, target, alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        FocalLoss(alpha=alpha)


@pytest.mark.parametrize("alpha", [[0.5, -0.5, 1.0, 1.0], [0.5, float("nan"), 1.0, 1.0]])
def test_negative_or_nan_alpha_vector_raises(alpha):
    logits, target, _, _, _ = random_case()
    with pytest.raises(ValueError, match="alpha"):
        focal_loss(logits, target, alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        FocalLoss(alpha=alpha)


def test_alpha_vector_of_wrong_length_raises():
    logits, target, _, _, _ = random_case()
    with pytest.raises(ValueError, match=r"alpha has 3 entries but logits have 4 classes"):
        focal_loss(logits, target, alpha=[0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match=r"alpha has 3 entries"):
        FocalLoss(alpha=[0.2, 0.3, 0.5])(logits, target)


@pytest.mark.parametrize("alpha", [None, [0.1, 0.2, 0.3, 0.4]])
def test_module_weight_of_wrong_length_raises_with_or_without_alpha(alpha):
    """The size of ``weight`` is checked before it meets ``alpha`` (where the product would
    fail with a broadcasting error), and without ``alpha`` with or without sample weights."""
    logits, target, _, _, _ = random_case()
    loss = FocalLoss(weight=[1.0, 2.0, 3.0], alpha=alpha)
    for sample_weight in (None, torch.ones(logits.shape[0], dtype=logits.dtype)):
        with pytest.raises(ValueError, match=r"weight has 3 entries but logits have 4 classes"):
            loss(logits, target, sample_weight)


# ---------------------------------------------------------------- equivalences
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gamma_zero_without_alpha_is_cross_entropy(reduction):
    logits, target, _, _, _ = random_case(seed=6)
    assert_forward_backward(
        lambda x: focal_loss(x, target, gamma=0.0, reduction=reduction),
        lambda x: F.cross_entropy(x, target, reduction=reduction), logits)
    module = FocalLoss(gamma=0.0, reduction=reduction)
    assert_forward_backward(lambda x: module(x, target),
                            lambda x: F.cross_entropy(x, target, reduction=reduction), logits)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gamma_zero_with_alpha_is_weighted_cross_entropy(reduction):
    logits, target, alpha, weight, _ = random_case(seed=7)
    assert_forward_backward(
        lambda x: focal_loss(x, target, gamma=0.0, alpha=alpha, reduction=reduction),
        lambda x: F.cross_entropy(x, target, weight=alpha, reduction=reduction), logits)
    assert_forward_backward(
        lambda x: focal_loss(x, target, gamma=0.0, alpha=alpha, weight=weight,
                             reduction=reduction),
        lambda x: F.cross_entropy(x, target, weight=alpha * weight, reduction=reduction),
        logits)


def test_focusing_down_weights_easy_examples():
    logits = torch.tensor([[4.0, 0.0], [0.0, 0.1]], dtype=torch.float64)
    target = torch.tensor([0, 0])
    ce = F.cross_entropy(logits, target, reduction="none")
    ratio = focal_loss(logits, target, gamma=2.0, reduction="none") / ce
    assert ratio[0] < 0.001 < 0.2 < ratio[1] < 1.0


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("gamma", GAMMAS)
def test_gradcheck_functional(gamma):
    logits, target, alpha, weight, sample_weight = random_case(n_samples=6, n_classes=3,
                                                               seed=8)
    sample_weight = (sample_weight + 0.1).requires_grad_(True)
    assert gradcheck(
        lambda x, sw: focal_loss(x, target, gamma=gamma, alpha=alpha, weight=weight,
                                 sample_weight=sw),
        (logits.requires_grad_(True), sample_weight),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma", [0.3, 2.0])
def test_gradcheck_module(gamma, reduction):
    logits, target, _, _, sample_weight = random_case(n_samples=6, n_classes=3, seed=9)
    module = FocalLoss(gamma=gamma, alpha=[0.2, 0.5, 0.3], weight=[1.0, 2.0, 3.0],
                       reduction=reduction)
    assert gradcheck(lambda x: module(x, target, sample_weight), (logits.requires_grad_(True),))


@pytest.mark.parametrize("gamma", [0.2, 0.5, 0.9])
def test_gradcheck_near_confident_predictions_with_small_gamma(gamma):
    """For gamma < 1 the derivative of (1-p_t)^gamma blows up as p_t -> 1."""
    logits = torch.tensor([[9.0, 0.0, -1.0], [0.5, 8.0, 0.0], [0.0, 0.0, 7.5]],
                          dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 1, 2])
    assert gradcheck(lambda x: focal_loss(x, target, gamma=gamma), (logits,))


# ---------------------------------------------------------------- stability
@pytest.mark.parametrize("gamma", [0.0, 0.2, 0.5, 2.0])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_extreme_logits_give_finite_loss_and_gradient(dtype, gamma):
    module = FocalLoss(gamma=gamma, alpha=[0.25, 0.5, 0.25], weight=[1.0, 2.0, 0.5])
    assert_finite_on_extreme_logits(module, dtype)


@pytest.mark.parametrize("gamma", [0.2, 0.5, 2.0])
@pytest.mark.parametrize("dtype", SATURATION_TOLERANCE)
def test_gradient_accurate_near_saturation(dtype, gamma):
    logits = torch.tensor(SATURATED, dtype=dtype)
    target = torch.tensor(SATURATED_TARGET)
    tol = SATURATION_TOLERANCE[dtype]
    assert_forward_backward(lambda x: focal_loss(x, target, gamma=gamma),
                            lambda x: focal_reference(x, target, gamma=gamma), logits, **tol)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("gamma", [-1.0, -1e-9, float("inf"), float("nan")])
def test_invalid_gamma_raises(gamma):
    logits, target, _, _, _ = random_case()
    with pytest.raises(ValueError, match="gamma"):
        focal_loss(logits, target, gamma=gamma)
    with pytest.raises(ValueError, match="gamma"):
        FocalLoss(gamma=gamma)


def test_negative_gamma_message_names_value():
    with pytest.raises(ValueError, match=r"gamma=-1\.0"):
        FocalLoss(gamma=-1)
    with pytest.raises(ValueError, match="gamma='2'"):
        FocalLoss(gamma="2")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_large_batches_with_many_classes_match_reference(gamma, reduction, dtype):
    """Above the compiled loops' size limit with many classes: compiled passes around
    PyTorch's softmax where numba is installed. Rows with p_t = 1 to the last bit, p_t close
    to 1 (the series of log p_t / u) and p_t underflowed included."""
    n_classes = 24
    gen = torch.Generator().manual_seed(13)
    logits = 3.0 * torch.randn(500, n_classes, generator=gen, dtype=torch.float64)
    target = torch.randint(n_classes, (500,), generator=gen)
    logits[0] = -1e4
    logits[0, target[0]] = 1e4
    logits[1, target[1]] = 25.0  # u ~ 1e-10: below SERIES_BELOW
    logits[2, (target[2] + 1) % n_classes] = 1e4
    alpha = torch.linspace(0.2, 1.0, n_classes).tolist()
    weight = torch.linspace(1.0, 2.0, n_classes).tolist()
    sample_weight = torch.rand(500, generator=gen, dtype=torch.float64)
    kwargs = {"gamma": gamma, "alpha": alpha, "weight": weight, "sample_weight": sample_weight,
              "reduction": reduction}
    assert_forward_backward(lambda x: focal_loss(x, target, **kwargs),
                            lambda x: focal_reference(x, target, **kwargs), logits.to(dtype),
                            **SATURATION_TOLERANCE[dtype])
