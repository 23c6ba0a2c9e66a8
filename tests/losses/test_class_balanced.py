"""Class-balanced loss and effective-number weights against float64 references."""

import math
from decimal import Decimal, getcontext

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from sklimb.losses import ClassBalancedLoss, class_balanced_loss, effective_number_weights

from ._reference import (
    HALF_DTYPES,
    REDUCTIONS,
    SATURATED,
    SATURATED_TARGET,
    SATURATION_TOLERANCE,
    WEIGHTINGS,
    assert_finite_on_extreme_logits,
    assert_forward_backward,
    pick_weights,
    random_case,
    reduce_reference,
)

BASES = ["softmax", "focal", "sigmoid", "sigmoid_focal"]
COUNTS = [500, 120, 30, 4]


# ---------------------------------------------------------------- reference
def cb_weights_reference(counts, beta):
    """(1-beta)/(1-beta^n_c) normalised to sum to C, with Decimal arithmetic."""
    getcontext().prec = 60
    beta = Decimal(repr(beta))
    raw = [(1 - beta) / (1 - beta ** max(int(n), 1)) if beta != 0 else Decimal(1)
           for n in counts]
    total = sum(raw)
    return np.array([float(len(raw) * r / total) for r in raw])


def base_loss_reference(logits, target, base, gamma):
    """Per-example base loss (softmax CE, softmax focal, summed sigmoid BCE / focal)."""
    x = logits.double()
    n_samples, n_classes = x.shape
    rows = torch.arange(n_samples)
    if base in ("softmax", "focal"):
        log_z = x.logsumexp(dim=1)
        log_pt = x[rows, target] - log_z
        if base == "softmax":
            return -log_pt
        others = x.masked_fill(F.one_hot(target, n_classes).bool(), -math.inf)
        log_one_minus_pt = others.logsumexp(dim=1) - log_z
        return -torch.exp(gamma * log_one_minus_pt) * log_pt
    y = F.one_hot(target, n_classes).double()
    bce = -(y * F.logsigmoid(x) + (1.0 - y) * F.logsigmoid(-x))
    if base == "sigmoid":
        return bce.sum(dim=1)
    # 1 - p_t of a sigmoid logit: sigmoid(x) for a negative, sigmoid(-x) for the positive
    log_one_minus_pt = F.logsigmoid(x * (1.0 - 2.0 * y))
    return (torch.exp(gamma * log_one_minus_pt) * bce).sum(dim=1)


def cb_reference(logits, target, *, class_counts, beta, base, gamma=2.0, weight=None,
                 sample_weight=None, reduction="mean"):
    w = torch.as_tensor(cb_weights_reference(class_counts, beta))[target]
    if weight is not None:
        w = w * torch.as_tensor(weight, dtype=torch.float64)[target]
    if sample_weight is not None:
        w = w * sample_weight.double()
    return reduce_reference(base_loss_reference(logits, target, base, gamma), w, reduction)


# ---------------------------------------------------------------- weights
def test_effective_number_weights_hand_computed():
    raw = np.array([0.1 / (1 - 0.9**100), 0.1 / (1 - 0.9**10)])
    expected = 2 * raw / raw.sum()
    np.testing.assert_allclose(effective_number_weights([100, 10], beta=0.9), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(effective_number_weights([100, 10], beta=0.9),
                               [0.7889, 1.2111], atol=1e-4)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.99, 0.999, 0.9999, 0.999999, 1 - 1e-12])
@pytest.mark.parametrize("counts", [[5000, 300, 7], [1, 1, 2, 1_000_000], [3, 3]])
def test_effective_number_weights_match_high_precision_reference(counts, beta):
    weights = effective_number_weights(counts, beta=beta)
    assert weights.dtype == np.float64
    assert weights.sum() == pytest.approx(len(counts), rel=1e-12)
    np.testing.assert_allclose(weights, cb_weights_reference(counts, beta), rtol=1e-9)


def test_beta_zero_gives_uniform_weights():
    np.testing.assert_array_equal(effective_number_weights([1000, 3, 50], beta=0.0),
                                  np.ones(3))


def test_beta_near_one_approaches_inverse_frequency():
    counts = np.array([1000.0, 10.0, 1.0])
    inverse = (1 / counts) * 3 / (1 / counts).sum()
    np.testing.assert_allclose(effective_number_weights(counts, beta=1 - 1e-9), inverse,
                               rtol=1e-5)


def test_empty_class_weighted_like_one_sample():
    np.testing.assert_allclose(effective_number_weights([100, 0, 7], beta=0.99),
                               effective_number_weights([100, 1, 7], beta=0.99))


def test_module_stores_weights_in_class_weight_buffer():
    module = ClassBalancedLoss(class_counts=COUNTS, beta=0.99)
    assert module.class_weight.dtype == torch.float32
    np.testing.assert_allclose(module.class_weight.numpy(),
                               cb_weights_reference(COUNTS, 0.99), rtol=1e-6)
    torch.testing.assert_close(module.class_counts, torch.tensor(COUNTS, dtype=torch.float32))


def test_rare_classes_get_larger_weights():
    weights = effective_number_weights(COUNTS, beta=0.999)
    assert np.all(np.diff(weights) > 0)


# ---------------------------------------------------------------- values
def test_hand_computed_value():
    # uniform logits: every base loss is the same for each example, so the
    # weighted mean equals the unweighted loss
    logits, target = torch.zeros(3, 2, dtype=torch.float64), torch.tensor([0, 0, 1])
    loss = class_balanced_loss(logits, target, class_counts=[90, 10])
    assert loss.item() == pytest.approx(math.log(2.0), rel=1e-12)
    loss = class_balanced_loss(logits, target, class_counts=[90, 10], base="sigmoid")
    assert loss.item() == pytest.approx(2 * math.log(2.0), rel=1e-12)
    loss = class_balanced_loss(logits, target, class_counts=[90, 10], base="sigmoid_focal",
                               gamma=1.0)
    assert loss.item() == pytest.approx(math.log(2.0), rel=1e-12)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_on_random_inputs(reduction, weighting, base):
    logits, target, weight, sample_weight = random_case(seed=1)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"class_counts": COUNTS, "beta": 0.999, "base": base, "gamma": 1.5,
              "weight": weight, "sample_weight": sample_weight, "reduction": reduction}
    # the class-balanced weights pass through float32
    assert_forward_backward(lambda x: class_balanced_loss(x, target, **kwargs),
                            lambda x: cb_reference(x, target, **kwargs), logits,
                            rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("base", BASES)
def test_matches_reference_on_hand_picked_inputs(base, gamma):
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, -5.0, 0.0], [-3.0, 2.0, 2.0],
                           [1e-3, 0.0, -1e-3], [12.0, 11.0, -40.0]], dtype=torch.float64)
    target = torch.tensor([2, 1, 0, 0, 1])
    sample_weight = torch.tensor([1.0, 0.0, 3.0, 0.25, 1.5], dtype=torch.float64)
    kwargs = {"class_counts": [40, 8, 2], "beta": 0.9, "base": base, "gamma": gamma,
              "sample_weight": sample_weight}
    assert_forward_backward(lambda x: class_balanced_loss(x, target, **kwargs),
                            lambda x: cb_reference(x, target, **kwargs), logits,
                            rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_matches_reference(reduction, base):
    logits, target, _, sample_weight = random_case(seed=2)
    weight = [2.0, 1.0, 0.5, 4.0]
    module = ClassBalancedLoss(class_counts=COUNTS, beta=0.99, base=base, gamma=0.7,
                               weight=weight, reduction=reduction)
    assert_forward_backward(
        lambda x: module(x, target, sample_weight),
        lambda x: cb_reference(x, target, class_counts=COUNTS, beta=0.99, base=base,
                               gamma=0.7, weight=weight, sample_weight=sample_weight,
                               reduction=reduction),
        logits, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- equivalences
def plain_base(base, gamma, reduction):
    """The unweighted base loss, built from torch's own losses where there is one."""
    def loss(x, target):
        if base == "softmax":
            return F.cross_entropy(x, target, reduction=reduction)
        y = F.one_hot(target, x.shape[1]).to(x.dtype)
        if base == "sigmoid":
            per_example = F.binary_cross_entropy_with_logits(x, y, reduction="none").sum(1)
        else:
            per_example = base_loss_reference(x, target, base, gamma)
        return reduce_reference(per_example, None, reduction)
    return loss


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_beta_zero_is_the_base_loss(reduction, base):
    logits, target, _, _ = random_case(seed=3)
    reference = plain_base(base, 2.0, reduction)
    assert_forward_backward(
        lambda x: class_balanced_loss(x, target, class_counts=COUNTS, beta=0.0, base=base,
                                      gamma=2.0, reduction=reduction),
        lambda x: reference(x, target), logits)
    module = ClassBalancedLoss(class_counts=COUNTS, beta=0.0, base=base, gamma=2.0,
                               reduction=reduction)
    assert_forward_backward(lambda x: module(x, target), lambda x: reference(x, target),
                            logits)


@pytest.mark.parametrize(("focal_base", "plain"), [("focal", "softmax"),
                                                   ("sigmoid_focal", "sigmoid")])
def test_focal_bases_with_gamma_zero_are_plain_bases(focal_base, plain):
    logits, target, _, sample_weight = random_case(seed=4)
    kwargs = {"class_counts": COUNTS, "beta": 0.99, "sample_weight": sample_weight}
    assert_forward_backward(
        lambda x: class_balanced_loss(x, target, base=focal_base, gamma=0.0, **kwargs),
        lambda x: class_balanced_loss(x, target, base=plain, **kwargs), logits)


@pytest.mark.parametrize("base", BASES)
def test_weight_multiplies_class_balanced_weights(base):
    logits, target, weight, _ = random_case(seed=5)
    cb = torch.as_tensor(effective_number_weights(COUNTS, beta=0.99))
    assert_forward_backward(
        lambda x: class_balanced_loss(x, target, class_counts=COUNTS, beta=0.99, base=base,
                                      weight=weight),
        lambda x: class_balanced_loss(x, target, class_counts=[1] * 4, beta=0.0, base=base,
                                      weight=weight * cb),
        logits, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize(("base", "gamma"), [("softmax", 2.0), ("focal", 0.5), ("focal", 2.0),
                                             ("sigmoid", 2.0), ("sigmoid_focal", 0.3),
                                             ("sigmoid_focal", 2.0)])
def test_gradcheck_functional(base, gamma):
    logits, target, weight, sample_weight = random_case(n_samples=6, n_classes=3, seed=6)
    sample_weight = (sample_weight + 0.1).requires_grad_(True)
    assert gradcheck(
        lambda x, sw: class_balanced_loss(x, target, class_counts=[30, 5, 1], beta=0.9,
                                          base=base, gamma=gamma, weight=weight,
                                          sample_weight=sw),
        (logits.requires_grad_(True), sample_weight),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("base", BASES)
def test_gradcheck_module(base, reduction):
    logits, target, _, sample_weight = random_case(n_samples=6, n_classes=3, seed=7)
    module = ClassBalancedLoss(class_counts=[30, 5, 1], beta=0.9, base=base, gamma=0.6,
                               weight=[1.0, 2.0, 0.5], reduction=reduction)
    assert gradcheck(lambda x: module(x, target, sample_weight), (logits.requires_grad_(True),))


# ---------------------------------------------------------------- stability
BASE_GAMMAS = [("softmax", 2.0), ("sigmoid", 2.0)] + [
    (base, gamma) for base in ("focal", "sigmoid_focal") for gamma in (0.2, 0.5, 2.0)]


@pytest.mark.parametrize(("base", "gamma"), BASE_GAMMAS)
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_extreme_logits_give_finite_loss_and_gradient(dtype, base, gamma):
    module = ClassBalancedLoss(class_counts=[100, 10, 1], beta=0.999, base=base, gamma=gamma,
                               weight=[1.0, 2.0, 0.5])
    assert_finite_on_extreme_logits(module, dtype)


@pytest.mark.parametrize("gamma", [0.2, 2.0])
@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("dtype", SATURATION_TOLERANCE)
def test_gradient_accurate_near_saturation(dtype, base, gamma):
    logits = torch.tensor(SATURATED, dtype=dtype)
    target = torch.tensor(SATURATED_TARGET)
    tol = SATURATION_TOLERANCE[dtype]
    kwargs = {"class_counts": [100, 10, 1], "beta": 0.99, "base": base, "gamma": gamma}
    assert_forward_backward(lambda x: class_balanced_loss(x, target, **kwargs),
                            lambda x: cb_reference(x, target, **kwargs), logits, **tol)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("beta", [1.0, -0.1, 1.5, float("nan")])
def test_beta_outside_unit_interval_raises(beta):
    logits, target, _, _ = random_case()
    pattern = rf"beta.*\[0\.0, 1\.0\).*beta={beta!r}"
    with pytest.raises(ValueError, match=pattern):
        effective_number_weights(COUNTS, beta=beta)
    with pytest.raises(ValueError, match=pattern):
        class_balanced_loss(logits, target, class_counts=COUNTS, beta=beta)
    with pytest.raises(ValueError, match=pattern):
        ClassBalancedLoss(class_counts=COUNTS, beta=beta)


@pytest.mark.parametrize("gamma", [-1.0, float("inf")])
def test_invalid_gamma_raises(gamma):
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match="gamma"):
        class_balanced_loss(logits, target, class_counts=COUNTS, base="focal", gamma=gamma)
    with pytest.raises(ValueError, match="gamma"):
        ClassBalancedLoss(class_counts=COUNTS, base="focal", gamma=gamma)


@pytest.mark.parametrize("base", ["nope", "Softmax", None, 1])
def test_unknown_base_raises(base):
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match=rf"base={base!r}"):
        class_balanced_loss(logits, target, class_counts=COUNTS, base=base)
    with pytest.raises(ValueError, match=rf"base={base!r}"):
        ClassBalancedLoss(class_counts=COUNTS, base=base)


def test_missing_class_counts_raises():
    with pytest.raises(ValueError, match="class_counts"):
        ClassBalancedLoss()
    with pytest.raises(ValueError, match="class_counts"):
        ClassBalancedLoss(class_counts=None, beta=0.9)


def test_functional_none_class_counts_raises_value_error():
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match="class_counts"):
        class_balanced_loss(logits, target, class_counts=None)


@pytest.mark.parametrize("counts", [[10, -1, 3, 4], [10, float("nan"), 3, 4], [0, 0, 0, 0],
                                    [[1, 2], [3, 4]], [5]])
def test_invalid_class_counts_raise(counts):
    with pytest.raises(ValueError, match="class_counts"):
        ClassBalancedLoss(class_counts=counts)


def test_class_counts_of_wrong_length_raise():
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match="class_counts has 3 entries but logits have 4"):
        class_balanced_loss(logits, target, class_counts=[10, 5, 1])
    with pytest.raises(ValueError, match="class_counts has 3 entries but logits have 4"):
        ClassBalancedLoss(class_counts=[10, 5, 1], base="sigmoid")(logits, target)


def test_module_weight_changes_are_seen_after_the_product_is_cached():
    """The product of the class-balanced and the user's weights is kept between calls; a
    buffer changed in place, or replaced, must still change the loss."""
    logits, target = torch.randn(40, 3, dtype=torch.float64), torch.randint(0, 3, (40,))
    counts = [50, 10, 4]

    def expected(weight):
        return class_balanced_loss(logits, target, class_counts=counts, weight=weight)

    loss = ClassBalancedLoss(counts, weight=[1.0, 2.0, 3.0])
    torch.testing.assert_close(loss(logits, target), expected([1.0, 2.0, 3.0]))
    with torch.no_grad():
        loss.weight[1] = 0.5  # in place
    torch.testing.assert_close(loss(logits, target), expected([1.0, 0.5, 3.0]))
    loss.weight = torch.tensor([3.0, 1.0, 1.0])  # replaced
    torch.testing.assert_close(loss(logits, target), expected([3.0, 1.0, 1.0]))
    with torch.no_grad():
        loss.class_weight.mul_(2.0)  # the class-balanced weights, in place
    torch.testing.assert_close(loss(logits, target),
                               2.0 * expected([3.0, 1.0, 1.0]) / 2.0)  # mean: scale cancels
    loss.reduction = "sum"
    torch.testing.assert_close(
        loss(logits, target),
        2.0 * class_balanced_loss(logits, target, class_counts=counts, weight=[3.0, 1.0, 1.0],
                                  reduction="sum"))



# ---------------------------------------------------------------- large batches, many classes
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("base", ["sigmoid", "sigmoid_focal", "softmax", "focal"])
def test_large_batches_with_many_classes_match_reference(backend, base, reduction, weighting,
                                                         dtype):
    """Above the compiled loops' size limit with many classes; the one-vs-rest bases compute
    their true entries, losses and gradient in a compiled loop after PyTorch's softplus and
    sigmoid where numba is installed. Saturated true logits on both sides included."""
    n_classes = 24
    logits, target, weight, sample_weight = random_case(500, n_classes, seed=11)
    logits[0, target[0]] = 40.0  # sigmoid(-x_t) = 4e-18: only exact if computed from -x_t
    logits[1, target[1]] = -40.0
    logits[2, target[2]] = 1e4
    logits = logits.to(dtype)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    counts = [int(c) for c in torch.randint(1, 300, (n_classes,),
                                            generator=torch.Generator().manual_seed(11))]
    kwargs = {"class_counts": counts, "beta": 0.99, "base": base, "gamma": 1.5,
              "weight": weight, "sample_weight": sample_weight, "reduction": reduction}
    assert_forward_backward(lambda x: class_balanced_loss(x, target, **kwargs),
                            lambda x: cb_reference(x, target, **kwargs), logits,
                            **SATURATION_TOLERANCE[dtype])
