"""Property-based tests (hypothesis) shared by every loss."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sklimb.losses import (
    class_balanced_loss,
    cross_entropy_loss,
    dice_loss,
    effective_number_weights,
    focal_loss,
    ghm_c_loss,
    ldam_loss,
    logit_adjusted_loss,
)


def _counts(n_classes):
    return [3 ** (n_classes - c) for c in range(n_classes)]


# name -> builder of a loss callable for ``n_classes`` classes
LOSSES = {
    "ce": lambda c: lambda *a, **k: cross_entropy_loss(*a, **k),
    "ce_smoothed": lambda c: lambda *a, **k: cross_entropy_loss(*a, label_smoothing=0.2, **k),
    "focal": lambda c: lambda *a, **k: focal_loss(*a, gamma=2.0, **k),
    "focal_small_gamma": lambda c: lambda *a, **k: focal_loss(*a, gamma=0.3, **k),
    "cb_softmax": lambda c: lambda *a, **k: class_balanced_loss(
        *a, class_counts=_counts(c), beta=0.99, **k),
    "cb_focal": lambda c: lambda *a, **k: class_balanced_loss(
        *a, class_counts=_counts(c), base="focal", gamma=0.5, **k),
    "cb_sigmoid": lambda c: lambda *a, **k: class_balanced_loss(
        *a, class_counts=_counts(c), base="sigmoid", **k),
    "cb_sigmoid_focal": lambda c: lambda *a, **k: class_balanced_loss(
        *a, class_counts=_counts(c), base="sigmoid_focal", gamma=1.5, **k),
    "ghm": lambda c: lambda *a, **k: ghm_c_loss(*a, bins=10, **k),
    "dice": lambda c: lambda *a, **k: dice_loss(*a, alpha=1.0, **k),
    "dice_small_alpha": lambda c: lambda *a, **k: dice_loss(*a, alpha=0.3, **k),
    "ldam": lambda c: lambda *a, **k: ldam_loss(*a, class_counts=_counts(c), scale=2.0, **k),
    "logit_adjusted": lambda c: lambda *a, **k: logit_adjusted_loss(
        *a, class_counts=_counts(c), tau=1.0, **k),
}
CB_BETA = {"cb_softmax": 0.99, "cb_focal": 0.999, "cb_sigmoid": 0.999,
           "cb_sigmoid_focal": 0.999}
# losses of the softmax of the logits, hence unchanged by adding a constant to a row
SHIFT_INVARIANT = [name for name in LOSSES if not name.startswith(("cb_sigmoid", "ghm"))]
# losses whose per-example value does not depend on the rest of the batch
PER_EXAMPLE = [name for name in LOSSES if name != "ghm"]

# class weights of the class-balanced losses are combined in float32
TOL = {"rtol": 1e-6, "atol": 1e-12}
logit_values = st.floats(-40.0, 40.0, allow_nan=False, allow_subnormal=False)
weight_values = st.floats(0.0, 4.0, allow_nan=False, allow_subnormal=False)


@st.composite
def batches(draw, weighted=True, logit_elements=logit_values):
    n_samples = draw(st.integers(1, 16))
    n_classes = draw(st.integers(2, 6))
    logits = draw(hnp.arrays(np.float64, (n_samples, n_classes), elements=logit_elements))
    target = draw(hnp.arrays(np.int64, n_samples, elements=st.integers(0, n_classes - 1)))
    weight = sample_weight = None
    if weighted and draw(st.booleans()):
        weight = torch.as_tensor(draw(hnp.arrays(np.float64, n_classes,
                                                 elements=weight_values)))
    if weighted and draw(st.booleans()):
        sample_weight = torch.as_tensor(draw(hnp.arrays(np.float64, n_samples,
                                                        elements=weight_values)))
    return torch.as_tensor(logits), torch.as_tensor(target), weight, sample_weight


def user_weights(target, weight, sample_weight):
    """w_i = weight[y_i] * sample_weight_i."""
    w = torch.ones(target.shape[0], dtype=torch.float64)
    if weight is not None:
        w = w * weight[target]
    if sample_weight is not None:
        w = w * sample_weight
    return w


def total_weights(name, logits, target, weight, sample_weight):
    """The weights of the weighted mean: class-balanced losses add their own class weights."""
    w = user_weights(target, weight, sample_weight)
    if name.startswith("cb_"):
        cb = effective_number_weights(_counts(logits.shape[1]), CB_BETA[name])
        w = w * torch.tensor(cb, dtype=torch.float32).double()[target]
    return w


@pytest.mark.parametrize("name", LOSSES)
@given(batch=batches())
def test_finite_non_negative_with_finite_gradient(name, batch):
    logits, target, weight, sample_weight = batch
    loss = LOSSES[name](logits.shape[1])
    x = logits.clone().requires_grad_(True)
    per_example = loss(x, target, weight=weight, sample_weight=sample_weight,
                       reduction="none")
    assert per_example.shape == target.shape
    assert torch.isfinite(per_example).all()
    assert (per_example >= -1e-12).all(), per_example  # >= 0 up to float64 rounding
    total = loss(x, target, weight=weight, sample_weight=sample_weight, reduction="sum")
    (grad,) = torch.autograd.grad(total, x)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("name", LOSSES)
@given(batch=batches())
def test_reductions_agree(name, batch):
    logits, target, weight, sample_weight = batch
    loss = LOSSES[name](logits.shape[1])
    kwargs = {"weight": weight, "sample_weight": sample_weight}
    per_example = loss(logits, target, reduction="none", **kwargs)
    total = loss(logits, target, reduction="sum", **kwargs)
    mean = loss(logits, target, reduction="mean", **kwargs)
    torch.testing.assert_close(total, per_example.sum(), **TOL)
    if weight is None and sample_weight is None and not name.startswith("cb_"):
        torch.testing.assert_close(mean, per_example.mean(), **TOL)
    # none is w_i * l_i, with l_i the loss without user weights
    unweighted = loss(logits, target, reduction="none")
    torch.testing.assert_close(per_example, user_weights(target, weight, sample_weight)
                               * unweighted, **TOL)
    w = total_weights(name, logits, target, weight, sample_weight)
    assume(w.sum() > 1e-3)
    torch.testing.assert_close(mean, per_example.sum() / w.sum(), **TOL)


@pytest.mark.parametrize("name", LOSSES)
@given(batch=batches(), scale=st.floats(0.01, 100.0))
def test_mean_is_invariant_to_rescaling_sample_weights(name, batch, scale):
    logits, target, weight, sample_weight = batch
    assume(sample_weight is not None)
    assume(user_weights(target, weight, sample_weight).sum() > 1e-3)
    loss = LOSSES[name](logits.shape[1])
    torch.testing.assert_close(
        loss(logits, target, weight=weight, sample_weight=scale * sample_weight),
        loss(logits, target, weight=weight, sample_weight=sample_weight),
        **TOL)


@pytest.mark.parametrize("name", SHIFT_INVARIANT)
@given(batch=batches(weighted=False), data=st.data())
def test_softmax_losses_ignore_a_constant_added_to_a_row(name, batch, data):
    logits, target, _, _ = batch
    shift = torch.as_tensor(data.draw(hnp.arrays(np.float64, (logits.shape[0], 1),
                                                 elements=st.floats(-20.0, 20.0))))
    loss = LOSSES[name](logits.shape[1])
    torch.testing.assert_close(loss(logits + shift, target, reduction="none"),
                               loss(logits, target, reduction="none"), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", LOSSES)
@given(batch=batches(), data=st.data())
def test_permuting_the_batch_permutes_per_example_losses(name, batch, data):
    logits, target, weight, sample_weight = batch
    order = torch.as_tensor(data.draw(st.permutations(range(logits.shape[0]))))
    loss = LOSSES[name](logits.shape[1])
    permuted_sw = None if sample_weight is None else sample_weight[order]
    torch.testing.assert_close(
        loss(logits[order], target[order], weight=weight, sample_weight=permuted_sw,
             reduction="none"),
        loss(logits, target, weight=weight, sample_weight=sample_weight,
             reduction="none")[order],
        rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", PER_EXAMPLE)
@given(batch=batches(weighted=False), data=st.data())
def test_integer_sample_weights_equal_repeating_examples(name, batch, data):
    logits, target, _, _ = batch
    repeats = torch.as_tensor(data.draw(hnp.arrays(np.int64, logits.shape[0],
                                                   elements=st.integers(0, 3))))
    assume(repeats.sum() > 0)
    loss = LOSSES[name](logits.shape[1])
    weighted = loss(logits, target, sample_weight=repeats.double())
    repeated = loss(logits.repeat_interleave(repeats, dim=0),
                    target.repeat_interleave(repeats))
    torch.testing.assert_close(weighted, repeated, **TOL)


@pytest.mark.parametrize("name", LOSSES)
@given(batch=batches(weighted=False, logit_elements=st.sampled_from(
    [-1e4, -60.0, -30.0, -1.0, 0.0, 0.5, 20.0, 60.0, 1e4])))
def test_extreme_float32_logits_give_finite_loss_and_gradient(name, batch):
    logits, target, _, _ = batch
    x = logits.float().requires_grad_(True)
    loss = LOSSES[name](logits.shape[1])(x, target)
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(loss)
    assert loss >= -1e-6  # >= 0 up to float32 rounding
    assert torch.isfinite(grad).all()
    assert grad.abs().max() <= 100.0  # every loss here has a bounded slope in the logits
