"""Weighted, label-smoothed cross-entropy against an independent float64 reference."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from sklimb.losses import CrossEntropyLoss, _compiled, cross_entropy_loss

from ._reference import (
    HALF_DTYPES,
    REDUCTIONS,
    SATURATED,
    SATURATED_TARGET,
    SATURATION_TOLERANCE,
    WEIGHTINGS,
    assert_finite_on_extreme_logits,
    assert_forward_backward,
    example_weights,
    pick_weights,
    random_case,
    reduce_reference,
)


# ---------------------------------------------------------------- reference
def ce_reference(logits, target, *, weight=None, sample_weight=None, label_smoothing=0.0,
                 reduction="mean"):
    """l = -(1-eps) log p_y - eps/C sum_c log p_c, times weight[y] * sample_weight."""
    x = logits.double()
    n_samples, n_classes = x.shape
    log_p = x - x.logsumexp(dim=1, keepdim=True)
    nll = -log_p[torch.arange(n_samples), target]
    loss = (1.0 - label_smoothing) * nll - label_smoothing / n_classes * log_p.sum(dim=1)
    return reduce_reference(loss, example_weights(target, weight, sample_weight), reduction)


# ---------------------------------------------------------------- values
def test_hand_computed_weighted_mean():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([0, 1])
    weight = torch.tensor([1.0, 3.0], dtype=torch.float64)
    expected = (math.log1p(math.exp(-2.0)) + 3.0 * math.log1p(math.exp(-1.0))) / 4.0
    loss = cross_entropy_loss(logits, target, weight=weight)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_hand_computed_label_smoothing():
    logits = torch.tensor([[2.0, 0.0]], dtype=torch.float64)
    log_p0 = -math.log1p(math.exp(-2.0))
    log_p1 = -2.0 + log_p0
    eps = 0.2
    expected = -(1 - eps) * log_p0 - eps / 2 * (log_p0 + log_p1)
    loss = cross_entropy_loss(logits, torch.tensor([0]), label_smoothing=eps)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3, 1.0])
def test_uniform_logits_give_log_n_classes(label_smoothing):
    logits = torch.zeros(5, 4, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 3, 3])
    loss = cross_entropy_loss(logits, target, label_smoothing=label_smoothing,
                              reduction="none")
    torch.testing.assert_close(loss, torch.full((5,), math.log(4.0), dtype=torch.float64))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_on_random_inputs(reduction, weighting, label_smoothing):
    logits, target, weight, sample_weight = random_case(seed=1)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)

    def loss(x):
        return cross_entropy_loss(x, target, weight=weight, sample_weight=sample_weight,
                                  label_smoothing=label_smoothing, reduction=reduction)

    def reference(x):
        return ce_reference(x, target, weight=weight, sample_weight=sample_weight,
                            label_smoothing=label_smoothing, reduction=reduction)

    assert_forward_backward(loss, reference, logits)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_on_hand_picked_inputs(reduction):
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, -5.0, 0.0], [-3.0, 2.0, 2.0],
                           [1e-3, 0.0, -1e-3], [12.0, 11.0, -40.0]], dtype=torch.float64)
    target = torch.tensor([2, 1, 0, 0, 1])
    weight = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    sample_weight = torch.tensor([1.0, 0.0, 3.0, 0.25, 1.5], dtype=torch.float64)
    for eps in (0.0, 0.2):
        assert_forward_backward(
            lambda x, eps=eps: cross_entropy_loss(
                x, target, weight=weight, sample_weight=sample_weight, label_smoothing=eps,
                reduction=reduction),
            lambda x, eps=eps: ce_reference(
                x, target, weight=weight, sample_weight=sample_weight, label_smoothing=eps,
                reduction=reduction),
            logits,
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_matches_reference(reduction):
    logits, target, _, sample_weight = random_case(seed=2)
    weight_list = [0.5, 1.0, 2.0, 4.0]  # exactly representable in float32
    module = CrossEntropyLoss(weight=weight_list, label_smoothing=0.15, reduction=reduction)
    assert_forward_backward(
        lambda x: module(x, target, sample_weight),
        lambda x: ce_reference(x, target, weight=torch.tensor(weight_list),
                               sample_weight=sample_weight, label_smoothing=0.15,
                               reduction=reduction),
        logits,
    )


# ---------------------------------------------------------------- conventions
def test_smoothing_weight_convention_differs_from_torch():
    """The target's class weight scales the whole smoothed loss; torch weights each term."""
    logits, target, _, _ = random_case(seed=3)
    weight = torch.tensor([0.2, 1.0, 3.0, 0.7], dtype=torch.float64)
    ours = cross_entropy_loss(logits, target, weight=weight, label_smoothing=0.3)
    torch_loss = F.cross_entropy(logits, target, weight=weight, label_smoothing=0.3)
    expected = ce_reference(logits, target, weight=weight, label_smoothing=0.3)
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-12)
    assert abs(ours.item() - torch_loss.item()) > 1e-3


def test_smoothing_convention_agrees_with_torch_for_uniform_weights():
    logits, target, _, _ = random_case(seed=4)
    weight = torch.full((4,), 2.5, dtype=torch.float64)
    ours = cross_entropy_loss(logits, target, weight=weight, label_smoothing=0.3)
    torch_loss = F.cross_entropy(logits, target, weight=weight, label_smoothing=0.3)
    torch.testing.assert_close(ours, torch_loss, rtol=1e-10, atol=1e-12)


def test_weight_counts_like_repeating_examples():
    """A class weight of 2 with smoothing equals duplicating the examples of that class."""
    logits = torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0], [3.0, 0.0, 0.0]],
                          dtype=torch.float64)
    target = torch.tensor([0, 1, 2])
    weight = torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64)
    weighted = cross_entropy_loss(logits, target, weight=weight, label_smoothing=0.4)
    repeated = cross_entropy_loss(logits[[0, 1, 1, 2]], target[[0, 1, 1, 2]],
                                  label_smoothing=0.4)
    torch.testing.assert_close(weighted, repeated, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- equivalences
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_uniform_weights_equal_torch_cross_entropy(reduction):
    logits, target, _, _ = random_case(seed=5)
    module = CrossEntropyLoss(weight=[1.0] * 4, reduction=reduction)
    assert_forward_backward(lambda x: module(x, target),
                            lambda x: F.cross_entropy(x, target, reduction=reduction), logits)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_label_smoothing_without_weights_equals_torch(reduction):
    logits, target, _, _ = random_case(seed=6)
    module = CrossEntropyLoss(label_smoothing=0.25, reduction=reduction)
    assert_forward_backward(
        lambda x: module(x, target),
        lambda x: F.cross_entropy(x, target, label_smoothing=0.25, reduction=reduction),
        logits,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_class_weights_without_smoothing_equal_torch(reduction):
    logits, target, weight, _ = random_case(seed=7)
    assert_forward_backward(
        lambda x: cross_entropy_loss(x, target, weight=weight, reduction=reduction),
        lambda x: F.cross_entropy(x, target, weight=weight, reduction=reduction),
        logits,
    )


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_functional(reduction, label_smoothing):
    logits, target, weight, sample_weight = random_case(n_samples=5, n_classes=3, seed=8)
    sample_weight = (sample_weight + 0.1).requires_grad_(True)
    assert gradcheck(
        lambda x, sw: cross_entropy_loss(x, target, weight=weight, sample_weight=sw,
                                         label_smoothing=label_smoothing, reduction=reduction),
        (logits.requires_grad_(True), sample_weight),
    )


def test_gradcheck_module():
    logits, target, _, sample_weight = random_case(n_samples=5, n_classes=3, seed=9)
    module = CrossEntropyLoss(weight=[0.3, 1.0, 2.0], label_smoothing=0.1)
    assert gradcheck(lambda x: module(x, target, sample_weight),
                     (logits.requires_grad_(True),))


# ---------------------------------------------------------------- stability
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_extreme_logits_give_finite_loss_and_gradient(dtype, label_smoothing):
    module = CrossEntropyLoss(weight=[1.0, 2.0, 0.5], label_smoothing=label_smoothing)
    assert_finite_on_extreme_logits(module, dtype)


@pytest.mark.parametrize("dtype", SATURATION_TOLERANCE)
def test_gradient_accurate_near_saturation(dtype):
    logits = torch.tensor(SATURATED, dtype=dtype)
    target = torch.tensor(SATURATED_TARGET)
    tol = SATURATION_TOLERANCE[dtype]
    assert_forward_backward(
        lambda x: cross_entropy_loss(x, target, label_smoothing=0.1),
        lambda x: ce_reference(x, target, label_smoothing=0.1),
        logits, **tol,
    )


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_label_smoothing_out_of_range_raises(value):
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match="label_smoothing"):
        cross_entropy_loss(logits, target, label_smoothing=value)
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=value)


def test_label_smoothing_must_be_a_number():
    with pytest.raises(ValueError, match=r"label_smoothing='0\.1'"):
        CrossEntropyLoss(label_smoothing="0.1")


# ---------------------------------------------------------------- routes
@pytest.mark.parametrize(("n_samples", "n_classes", "native_where_no_loop"), [
    (64, 3, True),      # small: PyTorch's cross-entropy, where no compiled loop runs
    (3000, 4, False),   # large, few classes: the transposed kernel is faster
    (500, 20, True),    # many classes: PyTorch's cross-entropy at any size
])
def test_route_of_plain_and_weighted_cross_entropy(n_samples, n_classes, native_where_no_loop,
                                                   backend, monkeypatch):
    from sklimb.losses import _compiled
    from sklimb.losses import cross_entropy as ce_module

    calls = []
    original = ce_module.shifted_cross_entropy

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(ce_module, "shifted_cross_entropy", counting)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(n_samples, n_classes, generator=gen, dtype=torch.float64)
    target = torch.randint(n_classes, (n_samples,), generator=gen)
    positive = torch.linspace(0.5, 2.0, n_classes, dtype=torch.float64)
    with_zero = positive.clone()
    with_zero[0] = 0.0
    looped = backend == "compiled" and _compiled.compiled_for(
        ce_module.softmax_ce_kernel, logits) is not ce_module.softmax_ce_kernel
    native = native_where_no_loop and not looped
    for loss, expected in ((CrossEntropyLoss(), native),
                           (CrossEntropyLoss(weight=positive), native),
                           (CrossEntropyLoss(weight=with_zero), False),
                           (CrossEntropyLoss(label_smoothing=0.1), False)):
        calls.clear()
        x = logits.clone().requires_grad_(True)
        value = loss(x, target)
        value.backward()
        assert bool(calls) == expected, loss
        weight = None if loss.weight is None else loss.weight.double()
        reference = F.cross_entropy(logits, target, weight=weight,
                                    label_smoothing=loss.label_smoothing)
        if weight is None or bool((weight > 0).all()):
            torch.testing.assert_close(value.detach(), reference, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- large batches, many classes
# above the compiled loops' size limit with more than TRANSPOSE_MAX_CLASSES classes, the
# kernel's gradient runs in the loops of _loops (shifted_rows, softmax_loss_rows) around
# PyTorch's softmax where numba is installed (the "compiled" backend), in PyTorch otherwise
MANY_CLASSES_SHAPE = (500, 24)  # 12000 logits, above the 8192 of the loops at 24 classes


def _count_row_loops(monkeypatch):
    calls = []
    module = _compiled.loops()
    if module is not None:
        rows = module.softmax_loss_rows

        def counting(*args):
            calls.append(args[0].shape)
            return rows(*args)

        monkeypatch.setattr(module, "softmax_loss_rows", counting)
    return calls


def _with_extreme_rows(logits, target, dtype):
    """Random rows, and rows where p_t is 1 to the last bit, underflows to 0 or is a
    subnormal number in ``dtype``."""
    logits, target = logits.clone(), target.clone()
    huge = 1e4
    logits[0] = -huge
    logits[0, target[0]] = huge  # p_t = 1
    logits[1] = 0.0
    logits[1, (target[1] + 1) % logits.shape[1]] = huge  # p_t = exp(-1e4): underflows
    # p_t just below the smallest normal number of the dtype
    logits[2] = 0.0
    logits[2, target[2]] = np.log(torch.finfo(dtype).tiny) - 3.0
    return logits.to(dtype), target


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_large_batches_with_many_classes_match_reference(backend, reduction, weighting,
                                                         label_smoothing, dtype, monkeypatch):
    calls = _count_row_loops(monkeypatch)
    logits, target, weight, sample_weight = random_case(*MANY_CLASSES_SHAPE, seed=3)
    logits, target = _with_extreme_rows(logits, target, dtype)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"weight": weight, "sample_weight": sample_weight,
              "label_smoothing": label_smoothing, "reduction": reduction}
    tolerance = {"rtol": 1e-4, "atol": 1e-6} if dtype == torch.float32 else \
        {"rtol": 1e-9, "atol": 1e-12}
    assert_forward_backward(lambda x: cross_entropy_loss(x, target, **kwargs),
                            lambda x: ce_reference(x, target, **kwargs), logits, **tolerance)
    # plain cross-entropy takes PyTorch's own at this size (the functional form passes class
    # weights to the kernels as example weights)
    native = label_smoothing == 0.0 and weighting == "none"
    assert calls == ([] if backend == "torch" or native else [MANY_CLASSES_SHAPE])


def test_large_batches_with_many_classes_propagate_nan(backend):
    logits, target, _, _ = random_case(*MANY_CLASSES_SHAPE, seed=4)
    logits = logits.float()
    logits[5, 3] = float("nan")
    x = logits.requires_grad_()
    value = cross_entropy_loss(x, target, label_smoothing=0.1, reduction="none")
    value.sum().backward()
    assert torch.isnan(value[5]) and torch.isfinite(value[torch.arange(len(value)) != 5]).all()
    assert torch.isnan(x.grad[5]).all() and torch.isfinite(x.grad[:5]).all()
