"""Self-adjusting dice loss against an independent float64 reference."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from sklimb.losses import DiceLoss, dice_loss

from . import _reference
from ._reference import (
    HALF_DTYPES,
    REDUCTIONS,
    SATURATION_TOLERANCE,
    WEIGHTINGS,
    assert_finite_on_extreme_logits,
    assert_forward_backward,
    example_weights,
    pick_weights,
    random_case,
    reduce_reference,
)

ALPHAS = [0.0, 0.3, 1.0, 2.5]

# plus two rows confident on the true class
EXTREME = [*_reference.EXTREME, [20.0, 0.0, -20.0], [0.0, 40.0, 1.0]]
EXTREME_TARGET = [*_reference.EXTREME_TARGET, 0, 1]
SATURATED = [*_reference.SATURATED, [15.0, 14.0, 0.0]]
SATURATED_TARGET = [*_reference.SATURATED_TARGET, 0]


# ---------------------------------------------------------------- reference
def dice_reference(logits, target, *, alpha, smooth=1.0, weight=None, sample_weight=None,
                   reduction="mean"):
    """1 - (2 q_t + s) / (q_t + 1 + s) with q_t = (1-p_t)^alpha p_t of the true class.

    ``log(1 - p_c)`` is the log-sum-exp of the other logits minus that of all
    logits, so the float64 reference (and its autograd gradient) stays exact
    when ``p_c`` rounds to 1.
    """
    x = logits.double()
    n_samples, n_classes = x.shape
    log_z = x.logsumexp(dim=1, keepdim=True)
    log_p = x - log_z
    eye = torch.eye(n_classes, dtype=torch.bool)
    others = x.unsqueeze(1).expand(n_samples, n_classes, n_classes).masked_fill(eye, -math.inf)
    log_one_minus_p = others.logsumexp(dim=2) - log_z
    q = torch.exp(alpha * log_one_minus_p + log_p)
    y = F.one_hot(target, n_classes).double()
    dsc = 1.0 - (2.0 * q * y + smooth) / (q + y + smooth)
    return reduce_reference(dsc.gather(1, target.unsqueeze(1)).squeeze(1),
                            example_weights(target, weight, sample_weight), reduction)


def soft_dice_reference(logits, target, smooth=1.0):
    """Plain soft dice of the true class (alpha = 0), straight from the probabilities."""
    p_t = torch.softmax(logits, dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
    return 1.0 - (2.0 * p_t + smooth) / (p_t + 1.0 + smooth)


# ---------------------------------------------------------------- values
def test_hand_computed_uniform_logits():
    # p_t = 1/2, smooth 1: DSC = 1 - 2 / 2.5 for every example
    loss = DiceLoss(alpha=0.0)(torch.zeros(2, 2), torch.tensor([0, 1]))
    assert loss.item() == pytest.approx(0.2, rel=1e-6)
    # alpha = 1: q_t = (1 - 1/2) * 1/2 = 1/4
    loss = dice_loss(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([0]), alpha=1.0)
    assert loss.item() == pytest.approx(1 - 1.5 / 2.25, rel=1e-12)


def test_hand_computed_value():
    p = 1.0 / (1.0 + math.exp(-2.0))
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    loss = dice_loss(logits, torch.tensor([0, 1]), alpha=0.0)
    assert loss.item() == pytest.approx(1 - (2 * p + 1) / (p + 2), rel=1e-12)
    assert loss.item() == pytest.approx(0.0414, abs=1e-4)


def test_training_does_not_collapse_onto_a_wrong_class():
    # gradient descent on free logits of a 5-class problem, from uniform
    # probabilities, must make the true class the most probable one
    logits = torch.zeros(50, 5, dtype=torch.float64, requires_grad=True)
    target = torch.arange(50) % 5
    optimizer = torch.optim.SGD([logits], lr=5.0)
    for _ in range(200):
        optimizer.zero_grad()
        dice_loss(logits, target, alpha=0.1).backward()
        optimizer.step()
    assert (logits.argmax(dim=1) == target).all()


@pytest.mark.parametrize("smooth", [1.0, 0.1])
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_on_random_inputs(reduction, weighting, alpha, smooth):
    logits, target, weight, sample_weight = random_case(seed=1)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"alpha": alpha, "smooth": smooth, "weight": weight,
              "sample_weight": sample_weight, "reduction": reduction}
    assert_forward_backward(lambda x: dice_loss(x, target, **kwargs),
                            lambda x: dice_reference(x, target, **kwargs), logits)


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_on_hand_picked_inputs(reduction, alpha):
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, -5.0, 0.0], [-3.0, 2.0, 2.0],
                           [1e-3, 0.0, -1e-3], [12.0, 11.0, -40.0], [25.0, 0.0, 1.0]],
                          dtype=torch.float64)
    target = torch.tensor([2, 1, 0, 0, 1, 0])
    weight = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    sample_weight = torch.tensor([1.0, 0.0, 3.0, 0.25, 1.5, 1.0], dtype=torch.float64)
    kwargs = {"alpha": alpha, "weight": weight, "sample_weight": sample_weight,
              "reduction": reduction}
    assert_forward_backward(lambda x: dice_loss(x, target, **kwargs),
                            lambda x: dice_reference(x, target, **kwargs), logits)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_matches_reference(reduction):
    logits, target, _, sample_weight = random_case(seed=2)
    weight = [2.0, 1.0, 0.5, 4.0]
    module = DiceLoss(alpha=0.6, smooth=0.5, weight=weight, reduction=reduction)
    assert_forward_backward(
        lambda x: module(x, target, sample_weight),
        lambda x: dice_reference(x, target, alpha=0.6, smooth=0.5, weight=weight,
                                 sample_weight=sample_weight, reduction=reduction),
        logits)


# ---------------------------------------------------------------- equivalences
@pytest.mark.parametrize("smooth", [1.0, 0.01])
def test_alpha_zero_is_plain_soft_dice(smooth):
    logits, target, _, _ = random_case(seed=3)
    assert_forward_backward(
        lambda x: dice_loss(x, target, alpha=0.0, smooth=smooth, reduction="none"),
        lambda x: soft_dice_reference(x, target, smooth), logits)
    module = DiceLoss(alpha=0.0, smooth=smooth)
    assert_forward_backward(lambda x: module(x, target),
                            lambda x: soft_dice_reference(x, target, smooth).mean(), logits)


def test_self_adjustment_down_weights_confident_examples():
    logits = torch.tensor([[6.0, 0.0], [0.5, 0.0]], dtype=torch.float64)
    target = torch.tensor([0, 0])
    plain = dice_loss(logits, target, alpha=0.0, reduction="none")
    adjusted = dice_loss(logits, target, alpha=1.0, reduction="none")
    # the confident example's true-class term is pushed towards the loss of p = 0
    assert adjusted[0] > plain[0]
    assert torch.all(adjusted >= 0)


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_functional(reduction, alpha):
    logits, target, weight, sample_weight = random_case(n_samples=6, n_classes=3, seed=4)
    sample_weight = (sample_weight + 0.1).requires_grad_(True)
    assert gradcheck(
        lambda x, sw: dice_loss(x, target, alpha=alpha, smooth=0.7, weight=weight,
                                sample_weight=sw, reduction=reduction),
        (logits.requires_grad_(True), sample_weight),
    )


@pytest.mark.parametrize("alpha", ALPHAS)
def test_gradcheck_module(alpha):
    logits, target, _, sample_weight = random_case(n_samples=6, n_classes=3, seed=5)
    module = DiceLoss(alpha=alpha, weight=[1.0, 2.0, 0.5])
    assert gradcheck(lambda x: module(x, target, sample_weight), (logits.requires_grad_(True),))


@pytest.mark.parametrize("alpha", [0.3, 0.7])
def test_gradcheck_near_confident_predictions_with_small_alpha(alpha):
    """For alpha < 1 the derivative of (1-p)^alpha blows up as p -> 1."""
    logits = torch.tensor([[9.0, 0.0, -1.0], [0.5, 8.0, 0.0], [0.0, 0.0, 7.5]],
                          dtype=torch.float64, requires_grad=True)
    target = torch.tensor([0, 1, 2])
    assert gradcheck(lambda x: dice_loss(x, target, alpha=alpha), (logits,))


# ---------------------------------------------------------------- stability
@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_extreme_logits_give_finite_loss_and_gradient(dtype, alpha):
    module = DiceLoss(alpha=alpha, weight=[1.0, 2.0, 0.5])
    grad = assert_finite_on_extreme_logits(module, dtype, EXTREME, EXTREME_TARGET)
    # every term of the loss has a bounded slope in the logits: |dDSC/dx| <= 2/smooth
    assert grad.abs().max() <= 10.0


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("dtype", SATURATION_TOLERANCE)
def test_gradient_accurate_near_saturation(dtype, alpha):
    logits = torch.tensor(SATURATED, dtype=dtype)
    target = torch.tensor(SATURATED_TARGET)
    tol = SATURATION_TOLERANCE[dtype]
    assert_forward_backward(lambda x: dice_loss(x, target, alpha=alpha),
                            lambda x: dice_reference(x, target, alpha=alpha), logits, **tol)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("smooth", [0.0, -1.0, float("inf"), float("nan")])
def test_non_positive_smooth_raises(smooth):
    logits, target, _, _ = random_case()
    pattern = rf"smooth.*smooth={smooth!r}"
    with pytest.raises(ValueError, match=pattern):
        dice_loss(logits, target, smooth=smooth)
    with pytest.raises(ValueError, match=pattern):
        DiceLoss(smooth=smooth)


@pytest.mark.parametrize("alpha", [-0.5, -1e-9, float("inf")])
def test_negative_alpha_raises(alpha):
    logits, target, _, _ = random_case()
    pattern = rf"alpha.*alpha={alpha!r}"
    with pytest.raises(ValueError, match=pattern):
        dice_loss(logits, target, alpha=alpha)
    with pytest.raises(ValueError, match=pattern):
        DiceLoss(alpha=alpha)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_large_batches_with_many_classes_match_reference(alpha, reduction, weighting, dtype):
    """Above the compiled loops' size limit with many classes: compiled passes around
    PyTorch's softmax where numba is installed; saturated rows on both sides included."""
    n_classes = 24
    logits, target, weight, sample_weight = random_case(500, n_classes, seed=17)
    logits[0] = -1e4
    logits[0, target[0]] = 1e4
    logits[1, (target[1] + 1) % n_classes] = 1e4
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"alpha": alpha, "smooth": 0.5, "weight": weight, "sample_weight": sample_weight,
              "reduction": reduction}
    assert_forward_backward(lambda x: dice_loss(x, target, **kwargs),
                            lambda x: dice_reference(x, target, **kwargs), logits.to(dtype),
                            **SATURATION_TOLERANCE[dtype])
