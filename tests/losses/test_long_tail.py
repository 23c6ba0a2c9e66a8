"""LDAM and logit-adjusted losses against independent float64 references."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from sklimb.losses import (
    LDAMLoss,
    LogitAdjustedLoss,
    ldam_loss,
    ldam_margins,
    log_priors,
    logit_adjusted_loss,
)
from sklimb.losses import cross_entropy as ce_module

from . import _reference
from ._reference import (
    HALF_DTYPES,
    REDUCTIONS,
    WEIGHTINGS,
    assert_finite_on_extreme_logits,
    assert_forward_backward,
    example_weights,
    pick_weights,
    random_case,
    reduce_reference,
)

# float32 and half precision are compared with a float64 reference on the same values;
# float64 allows for the margins and log priors being stored in float32
SATURATION_TOLERANCE = {
    torch.float64: {"rtol": 1e-6, "atol": 1e-10},
    torch.float32: {"rtol": 1e-4, "atol": 1e-6},
    torch.float16: {"rtol": 1e-2, "atol": 1e-3},
    torch.bfloat16: {"rtol": 1e-2, "atol": 1e-3},
}
COUNTS = [500, 120, 30, 4]

SATURATED = [*_reference.SATURATED, [0.4, 0.0, 0.1]]
SATURATED_TARGET = [*_reference.SATURATED_TARGET, 2]




@pytest.fixture(autouse=True, params=["native", "kernel"])
def route(request, monkeypatch):
    """Every test runs on both routes to a shifted cross-entropy: PyTorch's own operations
    (small batches) and the fused kernel (large ones), by moving the size threshold."""
    if request.param == "kernel":
        monkeypatch.setattr(ce_module, "NATIVE_MAX_ELEMENTS", -1)
    return request.param


# ---------------------------------------------------------------- reference
def nll_reference(z, target):
    return z.logsumexp(dim=1) - z[torch.arange(z.shape[0]), target]


def margins_reference(counts, max_margin):
    n = np.maximum(np.asarray(counts, dtype=float), 1.0)
    return max_margin * (n.min() / n) ** 0.25


def ldam_reference(logits, target, *, class_counts, max_margin=0.5, scale=1.0, weight=None,
                   sample_weight=None, reduction="mean"):
    """CE(scale * (x - m_y * onehot)), m_c = max_margin * (min n / n_c)^(1/4)."""
    x = logits.double()
    margins = torch.as_tensor(margins_reference(class_counts, max_margin))
    shifted = scale * (x - margins[target].unsqueeze(1) * F.one_hot(target, x.shape[1]))
    return reduce_reference(nll_reference(shifted, target),
                            example_weights(target, weight, sample_weight), reduction)


def logit_adjusted_reference(logits, target, *, class_counts, tau=1.0, weight=None,
                             sample_weight=None, reduction="mean"):
    """CE(x + tau * log(n_c / sum n))."""
    n = np.maximum(np.asarray(class_counts, dtype=float), 1.0)
    shifted = logits.double() + tau * torch.as_tensor(np.log(n / n.sum()))
    return reduce_reference(nll_reference(shifted, target),
                            example_weights(target, weight, sample_weight), reduction)


# ---------------------------------------------------------------- margins and priors
def test_ldam_margins_hand_computed():
    torch.testing.assert_close(ldam_margins([10000, 1], max_margin=0.5),
                               torch.tensor([0.05, 0.5]))
    torch.testing.assert_close(ldam_margins([16, 1, 81]),
                               torch.tensor([0.25, 0.5, 0.5 / 3.0]))


@pytest.mark.parametrize("max_margin", [0.1, 0.5, 2.0])
def test_ldam_margins_match_reference(max_margin):
    margins = ldam_margins(COUNTS, max_margin=max_margin)
    assert margins.dtype == torch.float32
    np.testing.assert_allclose(margins.numpy(), margins_reference(COUNTS, max_margin),
                               rtol=1e-6)
    assert margins.max().item() == pytest.approx(max_margin)


def test_equal_counts_give_equal_margins():
    torch.testing.assert_close(ldam_margins([7, 7, 7], max_margin=0.3), torch.full((3,), 0.3))


def test_empty_class_treated_as_one_sample():
    torch.testing.assert_close(ldam_margins([100, 0, 5]), ldam_margins([100, 1, 5]))
    torch.testing.assert_close(log_priors([3, 0, 1]), log_priors([3, 1, 1]))


def test_log_priors_hand_computed():
    torch.testing.assert_close(log_priors([3, 1]),
                               torch.tensor([math.log(0.75), math.log(0.25)]))
    assert torch.exp(log_priors(COUNTS)).sum().item() == pytest.approx(1.0, rel=1e-6)


# ---------------------------------------------------------------- LDAM values
@pytest.mark.parametrize("scale", [1.0, 5.0])
def test_ldam_hand_computed_value(scale):
    # zero logits, margins (0.5 / 100**0.25, 0.5): l = log(1 + e^{s m}) per example
    margins = [0.5 / 100**0.25, 0.5]
    expected = np.mean([math.log(1 + math.exp(scale * m)) for m in margins])
    loss = ldam_loss(torch.zeros(2, 2, dtype=torch.float64), torch.tensor([0, 1]),
                     class_counts=[100, 1], scale=scale)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    if scale == 1.0:
        assert loss.item() == pytest.approx(0.8747, abs=1e-4)


def test_ldam_default_scale_is_five():
    assert LDAMLoss(class_counts=[5, 1]).scale == 5.0
    logits, target = torch.zeros(2, 2, dtype=torch.float64), torch.tensor([0, 1])
    torch.testing.assert_close(ldam_loss(logits, target, class_counts=[100, 1]),
                               ldam_loss(logits, target, class_counts=[100, 1], scale=5.0))


@pytest.mark.parametrize(("max_margin", "scale"), [(0.5, 1.0), (1.0, 2.5), (0.2, 30.0)])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ldam_matches_reference_on_random_inputs(reduction, weighting, max_margin, scale):
    logits, target, weight, sample_weight = random_case(seed=1)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"class_counts": COUNTS, "max_margin": max_margin, "scale": scale,
              "weight": weight, "sample_weight": sample_weight, "reduction": reduction}
    # margins pass through float32
    assert_forward_backward(lambda x: ldam_loss(x, target, **kwargs),
                            lambda x: ldam_reference(x, target, **kwargs), logits,
                            rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("weight", [None, "positive"])
@pytest.mark.parametrize("loss", ["ldam", "logit_adjusted"])
def test_many_classes_match_reference_on_every_route(loss, weight, route, backend,
                                                       monkeypatch):
    """Above TRANSPOSE_MAX_CLASSES classes a large batch takes the native route for biases
    and the kernel for LDAM's scaled margins (with the "kernel" route fixture every batch
    counts as large), a small one the native route for both; the compiled loop, where it
    runs, takes every batch this small."""
    calls = _count_native(monkeypatch)
    n_classes = 20
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(40, n_classes, dtype=torch.float64, generator=gen) * 3
    target = torch.randint(0, n_classes, (40,), generator=gen)
    counts = [int(c) for c in torch.randint(1, 300, (n_classes,), generator=gen)]
    kwargs = {"class_counts": counts,
              "weight": None if weight is None else [0.5 + 0.1 * c for c in range(n_classes)]}
    if loss == "ldam":
        functional, reference = ldam_loss, ldam_reference
        kwargs["scale"] = 5.0
    else:
        functional, reference = logit_adjusted_loss, logit_adjusted_reference
    assert_forward_backward(lambda x: functional(x, target, **kwargs),
                            lambda x: reference(x, target, **kwargs), logits,
                            rtol=1e-6, atol=1e-9)
    assert bool(calls) == (backend == "torch" and (loss == "logit_adjusted" or route == "native"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ldam_matches_reference_on_hand_picked_inputs(reduction):
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, -5.0, 0.0], [-3.0, 2.0, 2.0],
                           [1e-3, 0.0, -1e-3], [12.0, 11.0, -40.0], [25.0, 0.0, 1.0]],
                          dtype=torch.float64)
    target = torch.tensor([2, 1, 0, 0, 1, 0])
    sample_weight = torch.tensor([1.0, 0.0, 3.0, 0.25, 1.5, 1.0], dtype=torch.float64)
    kwargs = {"class_counts": [81, 16, 1], "max_margin": 1.0, "scale": 2.0,
              "weight": [0.5, 2.0, 1.0], "sample_weight": sample_weight,
              "reduction": reduction}
    assert_forward_backward(lambda x: ldam_loss(x, target, **kwargs),
                            lambda x: ldam_reference(x, target, **kwargs), logits,
                            rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ldam_module_matches_reference(reduction):
    logits, target, _, sample_weight = random_case(seed=2)
    module = LDAMLoss(class_counts=COUNTS, max_margin=0.8, scale=3.0, weight=[2.0, 1.0, 0.5, 4.0],
                      reduction=reduction)
    assert_forward_backward(
        lambda x: module(x, target, sample_weight),
        lambda x: ldam_reference(x, target, class_counts=COUNTS, max_margin=0.8, scale=3.0,
                                 weight=[2.0, 1.0, 0.5, 4.0], sample_weight=sample_weight,
                                 reduction=reduction),
        logits, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ldam_with_equal_counts_is_cross_entropy_of_shifted_logits(reduction):
    logits, target, _, _ = random_case(seed=3)
    module = LDAMLoss(class_counts=[50, 50, 50, 50], max_margin=0.75, scale=1.0,
                      reduction=reduction)
    torch.testing.assert_close(module.margins, torch.full((4,), 0.75))

    def reference(x):
        return F.cross_entropy(x - 0.75 * F.one_hot(target, 4).to(x.dtype), target,
                               reduction=reduction)

    assert_forward_backward(lambda x: module(x, target), reference, logits)


def test_ldam_penalises_rare_classes_more():
    logits = torch.zeros(2, 2, dtype=torch.float64)
    per_example = ldam_loss(logits, torch.tensor([0, 1]), class_counts=[1000, 10],
                            reduction="none")
    assert per_example[1] > per_example[0] > math.log(2.0)


# ---------------------------------------------------------------- logit adjustment
def test_logit_adjusted_hand_computed_value():
    # zero logits, priors (3/4, 1/4): l_0 = -log(3/4), l_1 = -log(1/4)
    loss = logit_adjusted_loss(torch.zeros(2, 2, dtype=torch.float64), torch.tensor([0, 1]),
                               class_counts=[3, 1])
    expected = (-math.log(0.75) - math.log(0.25)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_logit_adjusted_matches_reference_on_random_inputs(reduction, weighting, tau):
    logits, target, weight, sample_weight = random_case(seed=4)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"class_counts": COUNTS, "tau": tau, "weight": weight,
              "sample_weight": sample_weight, "reduction": reduction}
    assert_forward_backward(lambda x: logit_adjusted_loss(x, target, **kwargs),
                            lambda x: logit_adjusted_reference(x, target, **kwargs), logits,
                            rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_logit_adjusted_module_matches_reference(reduction):
    logits, target, _, sample_weight = random_case(seed=5)
    module = LogitAdjustedLoss(class_counts=COUNTS, tau=1.5, weight=[2.0, 1.0, 0.5, 4.0],
                               reduction=reduction)
    assert_forward_backward(
        lambda x: module(x, target, sample_weight),
        lambda x: logit_adjusted_reference(x, target, class_counts=COUNTS, tau=1.5,
                                           weight=[2.0, 1.0, 0.5, 4.0],
                                           sample_weight=sample_weight, reduction=reduction),
        logits, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_tau_zero_is_cross_entropy(reduction):
    logits, target, _, _ = random_case(seed=6)
    assert_forward_backward(
        lambda x: logit_adjusted_loss(x, target, class_counts=COUNTS, tau=0.0,
                                      reduction=reduction),
        lambda x: F.cross_entropy(x, target, reduction=reduction), logits)
    module = LogitAdjustedLoss(class_counts=COUNTS, tau=0.0, reduction=reduction)
    assert_forward_backward(lambda x: module(x, target),
                            lambda x: F.cross_entropy(x, target, reduction=reduction), logits)


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_gradcheck_ldam_functional(scale, reduction):
    logits, target, weight, sample_weight = random_case(n_samples=6, n_classes=3, seed=7)
    sample_weight = (sample_weight + 0.1).requires_grad_(True)
    assert gradcheck(
        lambda x, sw: ldam_loss(x, target, class_counts=[30, 5, 1], max_margin=0.7,
                                scale=scale, weight=weight, sample_weight=sw,
                                reduction=reduction),
        (logits.requires_grad_(True), sample_weight),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("tau", [0.0, 1.0])
def test_gradcheck_logit_adjusted_functional(tau, reduction):
    logits, target, weight, sample_weight = random_case(n_samples=6, n_classes=3, seed=8)
    sample_weight = (sample_weight + 0.1).requires_grad_(True)
    assert gradcheck(
        lambda x, sw: logit_adjusted_loss(x, target, class_counts=[30, 5, 1], tau=tau,
                                          weight=weight, sample_weight=sw,
                                          reduction=reduction),
        (logits.requires_grad_(True), sample_weight),
    )


@pytest.mark.parametrize("module", [
    LDAMLoss(class_counts=[30, 5, 1], scale=2.0, weight=[1.0, 2.0, 0.5]),
    LogitAdjustedLoss(class_counts=[30, 5, 1], tau=1.0, weight=[1.0, 2.0, 0.5]),
], ids=["ldam", "logit_adjusted"])
def test_gradcheck_modules(module):
    logits, target, _, sample_weight = random_case(n_samples=6, n_classes=3, seed=9)
    assert gradcheck(lambda x: module(x, target, sample_weight), (logits.requires_grad_(True),))


# ---------------------------------------------------------------- stability
LONG_TAIL_MODULES = [
    ("ldam", lambda: LDAMLoss(class_counts=[100, 10, 1], weight=[1.0, 2.0, 0.5])),
    ("ldam_scaled", lambda: LDAMLoss(class_counts=[100, 10, 1], max_margin=1.0, scale=30.0)),
    ("logit_adjusted", lambda: LogitAdjustedLoss(class_counts=[100, 10, 1], tau=2.0,
                                                 weight=[1.0, 2.0, 0.5])),
]


@pytest.mark.parametrize(("name", "make"), LONG_TAIL_MODULES, ids=[m[0] for m in LONG_TAIL_MODULES])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_extreme_logits_give_finite_loss_and_gradient(dtype, name, make):
    assert_finite_on_extreme_logits(make(), dtype)


@pytest.mark.parametrize("scale", [1.0, 30.0])
@pytest.mark.parametrize("dtype", SATURATION_TOLERANCE)
def test_ldam_accurate_near_saturation(dtype, scale):
    logits = torch.tensor(SATURATED, dtype=dtype)
    target = torch.tensor(SATURATED_TARGET)
    kwargs = {"class_counts": [100, 10, 1], "max_margin": 1.0, "scale": scale}
    tol = SATURATION_TOLERANCE[dtype]
    if scale != 1.0:  # the loss grows with the scale; compare relative to it
        tol = {"rtol": tol["rtol"], "atol": tol["atol"] * scale}
    assert_forward_backward(lambda x: ldam_loss(x, target, **kwargs),
                            lambda x: ldam_reference(x, target, **kwargs), logits, **tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ldam_paper_setting_is_accurate(dtype):
    """s=30 on cosine logits in [-1, 1] (Cao et al.): the loss of confident examples is tiny
    and non-negative; the margin shift s*m=15 must not cancel catastrophically."""
    logits = torch.tensor([[1.0, -1.0, -1.0], [0.9, -0.5, 0.2], [-1.0, 1.0, -1.0],
                           [0.6, 0.5, 0.0], [0.2, 0.1, -0.3]], dtype=dtype)
    target = torch.tensor([0, 0, 1, 0, 2])
    kwargs = {"class_counts": [1, 1, 1], "max_margin": 0.5, "scale": 30.0,
              "reduction": "none"}
    per_example = ldam_loss(logits, target, **kwargs)
    assert (per_example >= -10 * torch.finfo(dtype).eps).all()  # >= 0 up to rounding
    assert_forward_backward(lambda x: ldam_loss(x, target, **kwargs),
                            lambda x: ldam_reference(x, target, **kwargs), logits,
                            **SATURATION_TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", SATURATION_TOLERANCE)
def test_logit_adjusted_accurate_near_saturation(dtype):
    logits = torch.tensor(SATURATED, dtype=dtype)
    target = torch.tensor(SATURATED_TARGET)
    kwargs = {"class_counts": [100, 10, 1], "tau": 1.0}
    assert_forward_backward(lambda x: logit_adjusted_loss(x, target, **kwargs),
                            lambda x: logit_adjusted_reference(x, target, **kwargs), logits,
                            **SATURATION_TOLERANCE[dtype])


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("cls", [LDAMLoss, LogitAdjustedLoss])
def test_missing_class_counts_raises(cls):
    with pytest.raises(ValueError, match="class_counts"):
        cls()


@pytest.mark.parametrize("loss", [ldam_loss, logit_adjusted_loss])
def test_functional_none_class_counts_raises_value_error(loss):
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match="class_counts"):
        loss(logits, target, class_counts=None)


@pytest.mark.parametrize("max_margin", [0.0, -0.5, float("inf")])
def test_non_positive_max_margin_raises(max_margin):
    logits, target, _, _ = random_case()
    pattern = rf"max_margin.*max_margin={max_margin!r}"
    with pytest.raises(ValueError, match=pattern):
        ldam_margins(COUNTS, max_margin=max_margin)
    with pytest.raises(ValueError, match=pattern):
        ldam_loss(logits, target, class_counts=COUNTS, max_margin=max_margin)
    with pytest.raises(ValueError, match=pattern):
        LDAMLoss(class_counts=COUNTS, max_margin=max_margin)


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_non_positive_scale_raises(scale):
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match=rf"scale={scale!r}"):
        ldam_loss(logits, target, class_counts=COUNTS, scale=scale)
    with pytest.raises(ValueError, match=rf"scale={scale!r}"):
        LDAMLoss(class_counts=COUNTS, scale=scale)


@pytest.mark.parametrize("tau", [-1.0, -1e-9, float("nan")])
def test_negative_tau_raises(tau):
    logits, target, _, _ = random_case()
    pattern = rf"tau.*tau={tau!r}"
    with pytest.raises(ValueError, match=pattern):
        logit_adjusted_loss(logits, target, class_counts=COUNTS, tau=tau)
    with pytest.raises(ValueError, match=pattern):
        LogitAdjustedLoss(class_counts=COUNTS, tau=tau)


@pytest.mark.parametrize("counts", [[10, -1, 3, 4], [10, float("nan"), 3, 4], [0, 0, 0, 0]])
@pytest.mark.parametrize("cls", [LDAMLoss, LogitAdjustedLoss])
def test_invalid_class_counts_raise(cls, counts):
    with pytest.raises(ValueError, match="class_counts"):
        cls(class_counts=counts)


@pytest.mark.parametrize("loss", [ldam_loss, logit_adjusted_loss])
def test_class_counts_of_wrong_length_raise(loss):
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match="class_counts has 3 entries but logits have 4"):
        loss(logits, target, class_counts=[10, 5, 1])


@pytest.mark.parametrize("cls", [LDAMLoss, LogitAdjustedLoss])
def test_module_class_counts_of_wrong_length_raise(cls):
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match="class_counts has 3 entries but logits have 4"):
        cls(class_counts=[10, 5, 1])(logits, target)


# ---------------------------------------------------------------- routes
def _count_native(monkeypatch):
    calls = []
    original = ce_module.shifted_cross_entropy

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(ce_module, "shifted_cross_entropy", counting)
    return calls


@pytest.mark.parametrize("loss", [ldam_loss, logit_adjusted_loss])
def test_route_follows_batch_size_and_weights(loss, route, backend, monkeypatch):
    calls = _count_native(monkeypatch)
    logits, target = torch.randn(64, 4), torch.randint(0, 4, (64,))
    # the compiled loop, where it runs, is cheaper than either route
    expected = 2 if route == "native" and backend == "torch" else 0
    loss(logits, target, class_counts=COUNTS)
    loss(logits, target, class_counts=COUNTS, weight=[1.0, 2.0, 3.0, 4.0])
    assert len(calls) == expected
    # sample weights, and a class weight of 0, keep the kernel on either route
    loss(logits, target, class_counts=COUNTS, sample_weight=torch.ones(64))
    loss(logits, target, class_counts=COUNTS, weight=[1.0, 0.0, 3.0, 4.0])
    assert len(calls) == expected


@pytest.mark.parametrize("loss", [ldam_loss, logit_adjusted_loss])
def test_batch_of_zero_weight_examples_gives_zero(loss):
    """Only class 1 in the batch, and class 1 weighs 0: the weighted mean is 0, not 0/0."""
    logits = torch.randn(8, 3, requires_grad=True)
    value = loss(logits, torch.ones(8, dtype=torch.long), class_counts=[5, 3, 1],
                 weight=[1.0, 0.0, 1.0])
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros_like(logits))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("loss", ["ldam", "logit_adjusted"])
def test_large_batches_with_many_classes_match_reference(backend, route, loss, reduction,
                                                         weighting, dtype):
    """Above the loops' size limit with many classes, the kernel (LDAM; the logit-adjusted
    loss where sample weights keep it off the native route) computes its gradient in
    compiled loops around PyTorch's softmax where numba is installed."""
    n_classes = 24
    logits, target, weight, sample_weight = random_case(500, n_classes, seed=5)
    logits[0] = -1e4
    logits[0, target[0]] = 1e4  # p_t = 1
    logits[1, (target[1] + 1) % n_classes] = 1e4  # p_t underflows to 0
    logits = logits.to(dtype)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    counts = [int(c) for c in torch.randint(1, 300, (n_classes,),
                                            generator=torch.Generator().manual_seed(5))]
    kwargs = {"class_counts": counts, "weight": weight, "sample_weight": sample_weight,
              "reduction": reduction}
    if loss == "ldam":
        functional, reference = ldam_loss, ldam_reference
        kwargs["scale"] = 5.0
    else:
        functional, reference = logit_adjusted_loss, logit_adjusted_reference
        kwargs["tau"] = 1.5
    assert_forward_backward(lambda x: functional(x, target, **kwargs),
                            lambda x: reference(x, target, **kwargs), logits,
                            **SATURATION_TOLERANCE[dtype])
