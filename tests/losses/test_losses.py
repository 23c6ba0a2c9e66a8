"""Every loss of sklimb.losses against its float64 reference, its gradients, its limits
and its errors: one parametrized suite over ``cases.CASES``.

The reference, gradient and error tests run on the compositions (the definitions of
the losses); ``test_compiled.py`` holds the compiled backend equal to them. Checks of
numerical behaviour at extreme logits, which differs between the routes, run on both.
"""

import copy
import pickle

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from sklimb import losses as L

from .cases import CASES, WEIGHTINGS, counts_for, pick_weights, random_case

REDUCTIONS = ["mean", "sum", "none"]
by_name = {case.name: case for case in CASES}


def values_and_grads(fn, logits, target, **kwargs):
    x = logits.clone().requires_grad_(True)
    value = fn(x, target, **kwargs)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value, grad


# ------------------------------------------------------------------ against the papers
@pytest.mark.usefixtures("composition")
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("n_classes", [2, 4])
def test_function_matches_reference(case, reduction, weighting, n_classes):
    logits, target, weight, sample_weight = random_case(n_samples=9, n_classes=n_classes)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    counts = counts_for(n_classes)
    value, grad = values_and_grads(case.function(counts), logits, target, weight=weight,
                                   sample_weight=sample_weight, reduction=reduction)
    expected, expected_grad = values_and_grads(
        lambda x, t: case.reference(x, t, counts, weight, sample_weight, reduction),
        logits, target)
    torch.testing.assert_close(value, expected, rtol=case.rtol, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=case.rtol, atol=1e-12)


@pytest.mark.usefixtures("composition")
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_matches_reference(case, reduction):
    logits, target, weight, sample_weight = random_case(n_samples=12, n_classes=3, seed=1)
    counts = counts_for(3)
    module = case.module(counts, weight=weight.tolist(), reduction=reduction).double()
    value, grad = values_and_grads(module, logits, target, sample_weight=sample_weight)
    expected, expected_grad = values_and_grads(
        lambda x, t: case.reference(x, t, counts, weight, sample_weight, reduction),
        logits, target)
    # per-class buffers are float32, like a network's parameters
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-6, atol=1e-9)


@pytest.mark.usefixtures("composition")
@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradcheck_and_gradgradcheck(case):
    logits, target, weight, sample_weight = random_case(n_samples=5, n_classes=3, seed=2)
    fn = case.function(counts_for(3))
    if "binned" in case.tags:  # keep every gradient norm away from a bin edge
        logits = logits.clamp(-2.5, 2.5)

    def loss(x, sw):
        return fn(x, target, weight=weight, sample_weight=sw)

    inputs = (logits.clone().requires_grad_(True), sample_weight.clone().requires_grad_(True))
    assert gradcheck(loss, inputs)
    assert gradgradcheck(loss, inputs)


# ------------------------------------------------------------------ limits and identities
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_limits_that_are_cross_entropy(reduction):
    logits, target, weight, sample_weight = random_case(n_samples=10, n_classes=3, seed=3)
    counts = counts_for(3)
    kwargs = dict(weight=weight, sample_weight=sample_weight, reduction=reduction)
    ce = values_and_grads(L.cross_entropy_loss, logits, target, **kwargs)
    same = [
        lambda x, t, **k: L.focal_loss(x, t, gamma=0.0, **k),
        lambda x, t, **k: L.class_balanced_loss(x, t, class_counts=counts, beta=0.0, **k),
        lambda x, t, **k: L.class_balanced_loss(x, t, class_counts=counts, beta=0.0,
                                                base="focal", gamma=0.0, **k),
        lambda x, t, **k: L.logit_adjusted_loss(x, t, class_counts=counts, tau=0.0, **k),
        lambda x, t, **k: L.logit_adjusted_loss(x, t, class_counts=[5, 5, 5], **k),
    ]
    for fn in same:
        for got, expected in zip(values_and_grads(fn, logits, target, **kwargs), ce, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_other_identities():
    logits, target, _, _ = random_case(n_samples=10, n_classes=3, seed=4)
    counts = counts_for(3)
    sigmoid = L.class_balanced_loss(logits, target, class_counts=counts, beta=0.0,
                                    base="sigmoid", reduction="none")
    # GHM-C with one bin weighs every logit alike: the one-vs-rest BCE averaged per class
    torch.testing.assert_close(L.ghm_c_loss(logits, target, bins=1, reduction="none"),
                               sigmoid / 3)
    torch.testing.assert_close(
        L.class_balanced_loss(logits, target, class_counts=counts, beta=0.0,
                              base="sigmoid_focal", gamma=0.0, reduction="none"), sigmoid)
    # LDAM with equal counts is cross-entropy of the scaled logits, the true one moved down
    equal = L.ldam_loss(logits, target, class_counts=[7, 7, 7], max_margin=0.3, scale=2.0,
                        reduction="none")
    onehot = torch.nn.functional.one_hot(target, 3)
    torch.testing.assert_close(
        equal, L.cross_entropy_loss(2.0 * (logits - 0.3 * onehot), target, reduction="none"))
    # a scalar RetinaNet alpha is the vector [1 - alpha, alpha]
    binary, binary_target = logits[:, :2], target % 2
    torch.testing.assert_close(L.focal_loss(binary, binary_target, alpha=0.25),
                               L.focal_loss(binary, binary_target, alpha=[0.75, 0.25]))


@pytest.mark.parametrize("case", [c for c in CASES if c.per_example], ids=str)
def test_class_weight_three_counts_an_example_three_times(case):
    logits, target, _, _ = random_case(n_samples=6, n_classes=3, seed=5)
    fn = case.function(counts_for(3))
    weighted = fn(logits, target, weight=torch.tensor([1.0, 3.0, 1.0], dtype=torch.float64))
    repeat = torch.cat([torch.arange(6)] + [torch.nonzero(target == 1)[:, 0]] * 2)
    torch.testing.assert_close(weighted, fn(logits[repeat], target[repeat]))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_mean_depends_on_weight_ratios_only_and_all_zero_weights_give_zero(case):
    logits, target, weight, _ = random_case(n_samples=8, n_classes=3, seed=6)
    fn = case.function(counts_for(3))
    torch.testing.assert_close(fn(logits, target, weight=weight),
                               fn(logits, target, weight=7.0 * weight))
    zero = fn(logits, target, sample_weight=torch.zeros(8, dtype=torch.float64))
    assert zero.item() == 0.0


@pytest.mark.parametrize("case", [c for c in CASES if c.shift_invariant], ids=str)
def test_softmax_losses_ignore_a_constant_added_to_a_row(case):
    logits, target, _, _ = random_case(n_samples=8, n_classes=3, seed=7)
    fn = case.function(counts_for(3))
    shifted = logits + torch.linspace(-50, 50, 8, dtype=torch.float64)[:, None]
    torch.testing.assert_close(fn(logits, target, reduction="none"),
                               fn(shifted, target, reduction="none"))


# ------------------------------------------------------------------ numerical stability
EXTREME = [[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0], [0.0, 0.0, 0.0], [1e4, 1e4, -1e4],
           [-5.0, 2.0, 1e4], [30.0, -2.0, 0.5], [1e4, -1e4, -1e4]]
EXTREME_TARGET = [0, 0, 1, 2, 2, 0, 1]
SATURATED = [[30.0, 0.0, -30.0], [0.0, 60.0, 5.0], [-30.0, 30.0, 0.0], [20.0, -20.0, 0.0],
             [8.0, 0.0, -3.0]]
SATURATED_TARGET = [0, 1, 2, 0, 0]
TOLERANCE = {torch.float64: {"rtol": 1e-7, "atol": 1e-12},
             torch.float32: {"rtol": 1e-4, "atol": 1e-6},
             torch.float16: {"rtol": 1e-2, "atol": 1e-3},
             torch.bfloat16: {"rtol": 2e-2, "atol": 1e-3}}


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_extreme_logits_give_finite_loss_and_gradient(case, dtype, route):
    logits = torch.tensor(EXTREME, dtype=dtype, requires_grad=True)
    sample_weight = torch.linspace(0.5, 2.0, len(EXTREME))
    value = case.function(counts_for(3))(logits, torch.tensor(EXTREME_TARGET),
                                         sample_weight=sample_weight)
    (grad,) = torch.autograd.grad(value, logits)
    assert value.dtype == torch.float32  # half precision is computed in float32
    assert grad.dtype == dtype
    assert torch.isfinite(value) and torch.isfinite(grad).all()


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16])
def test_saturated_logits_match_reference(case, dtype, route):
    counts, target = counts_for(3), torch.tensor(SATURATED_TARGET)
    logits = torch.tensor(SATURATED, dtype=dtype)
    value, grad = values_and_grads(case.function(counts), logits, target, reduction="none")
    expected, expected_grad = values_and_grads(
        lambda x, t: case.reference(x, t, counts, reduction="none"), logits.double(), target)
    torch.testing.assert_close(value.double(), expected, **TOLERANCE[dtype])
    torch.testing.assert_close(grad.double(), expected_grad, **TOLERANCE[dtype])


# ------------------------------------------------------------------ modules
@pytest.mark.parametrize("case", CASES, ids=str)
def test_module_buffers_move_save_and_pickle(case):
    module = case.module(counts_for(3), weight=[1.0, 2.0, 0.5])
    assert module.reduction == "mean" and "weight" in dict(module.named_buffers())
    logits, target, _, _ = random_case(n_samples=6, n_classes=3, seed=8)
    logits = logits.float()
    expected = module(logits, target)
    assert expected.ndim == 0  # skorch needs a scalar
    for other in (copy.deepcopy(module), pickle.loads(pickle.dumps(module)),
                  module.double().float()):
        torch.testing.assert_close(other(logits, target), expected)
    restored = case.module(counts_for(3), weight=[1.0, 1.0, 1.0])
    restored.load_state_dict(module.state_dict())
    torch.testing.assert_close(restored(logits, target), expected)
    moved = module.to("meta")
    assert all(buffer.device.type == "meta" for buffer in moved.buffers())


def test_a_subclass_that_overrides_forward_is_plain_pytorch():
    class Doubled(L.FocalLoss):
        def __init__(self):
            super().__init__(gamma=1.0)
            self.calls = 0

        def forward(self, logits, target, sample_weight=None):
            self.calls += 1
            return 2.0 * super().forward(logits, target, sample_weight)

    logits, target, _, _ = random_case(n_samples=5, n_classes=3)
    loss = Doubled()
    loss.gamma = 2.0  # an attribute set later is used as it is
    value = loss(logits, target)
    assert loss.calls == 1
    torch.testing.assert_close(value, 2.0 * L.focal_loss(logits, target, gamma=2.0))


def test_torch_compile_and_torch_func():
    logits, target, weight, _ = random_case(n_samples=6, n_classes=3, seed=9)
    loss = L.FocalLoss(weight=weight.tolist()).double()
    compiled = torch.compile(loss, backend="aot_eager", fullgraph=False)
    value, grad = values_and_grads(compiled, logits, target)
    expected, expected_grad = values_and_grads(loss, logits, target)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(grad, expected_grad)
    func_grad = torch.func.grad(lambda x: L.dice_loss(x, target))(logits)
    torch.testing.assert_close(func_grad, values_and_grads(L.dice_loss, logits, target)[1])
    per_row = torch.func.vmap(lambda x, t: L.focal_loss(x[None], t[None]))(logits, target)
    torch.testing.assert_close(per_row, L.focal_loss(logits, target, reduction="none"))


# ------------------------------------------------------------------ bad inputs
BAD_INPUTS = [
    ("target out of range", torch.zeros(4, 3), torch.tensor([0, 1, 3, 0]), {},
     r"target values must lie in \[0, 2\] for 3 classes; got values in \[0, 3\]"),
    ("negative target", torch.zeros(4, 3), torch.tensor([0, -1, 2, 0]), {},
     r"target values must lie in \[0, 2\]"),
    ("float target", torch.zeros(4, 3), torch.zeros(4), {}, "integer class indices"),
    ("target shape", torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), {},
     r"target must have shape \(4,\)"),
    ("one column", torch.zeros(4, 1), torch.zeros(4, dtype=torch.long), {},
     "at least 2 columns"),
    ("1-D logits", torch.zeros(4), torch.zeros(4, dtype=torch.long), {},
     r"shape \(n_samples, n_classes\)"),
    ("empty batch", torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), {}, "empty"),
    ("integer logits", torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long),
     {}, "floating tensor"),
    ("logits not a tensor", [[0.0, 1.0, 2.0]], torch.zeros(1, dtype=torch.long), {},
     "must be torch tensors"),
    ("device mismatch", torch.zeros(4, 3, device="meta"), torch.zeros(4, dtype=torch.long), {},
     "target is on cpu but logits are on meta"),
    ("sample_weight shape", torch.zeros(4, 3), torch.zeros(4, dtype=torch.long),
     {"sample_weight": torch.ones(3)}, r"sample_weight must have shape \(4,\)"),
    ("negative sample_weight", torch.zeros(4, 3), torch.zeros(4, dtype=torch.long),
     {"sample_weight": torch.tensor([1.0, -1.0, 1.0, 1.0])}, "finite and non-negative"),
    ("NaN sample_weight", torch.zeros(4, 3), torch.zeros(4, dtype=torch.long),
     {"sample_weight": torch.tensor([1.0, float("nan"), 1.0, 1.0])}, "finite and non-negative"),
    ("weight size", torch.zeros(4, 3), torch.zeros(4, dtype=torch.long),
     {"weight": torch.ones(4)}, "entries per class|one entry per class|shape"),
    ("reduction", torch.zeros(4, 3), torch.zeros(4, dtype=torch.long),
     {"reduction": "average"}, "reduction='average' is not supported"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("what, logits, target, kwargs, message", BAD_INPUTS,
                         ids=[bad[0] for bad in BAD_INPUTS])
def test_bad_inputs_raise_clear_errors(case, what, logits, target, kwargs, message, route):
    with pytest.raises(ValueError, match=message):
        case.function(counts_for(3))(logits, target, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_module_errors_name_the_problem(case):
    module = case.module(counts_for(3))
    with pytest.raises(ValueError, match="target values must lie"):
        module(torch.zeros(3, 3), torch.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match=r"shape|entries"):
        case.module(counts_for(3), weight=[1.0, 2.0])(torch.zeros(2, 3), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="weight is on cpu but logits are on meta"):
        case.module(counts_for(3), weight=[1.0, 2.0, 3.0])(
            torch.zeros(2, 3, device="meta"), torch.tensor([0, 1], device="meta"))


BAD_HYPERPARAMETERS = [
    (L.FocalLoss, {"gamma": -1.0}, r"gamma must lie in \[0.0, inf\)"),
    (L.FocalLoss, {"alpha": 1.5}, r"alpha must lie in \[0.0, 1.0\]"),
    (L.FocalLoss, {"alpha": [0.5, -0.1]}, "every entry of alpha must be >= 0"),
    (L.CrossEntropyLoss, {"label_smoothing": 1.5}, "label_smoothing must lie"),
    (L.CrossEntropyLoss, {"weight": [1.0, float("nan")]}, "weight must be finite"),
    (L.CrossEntropyLoss, {"weight": [[1.0, 2.0]]}, "one entry per class"),
    (L.CrossEntropyLoss, {"reduction": None}, "reduction=None is not supported"),
    (L.ClassBalancedLoss, {"class_counts": [3, 1], "beta": 1.0}, r"beta must lie in \[0.0, 1.0\)"),
    (L.ClassBalancedLoss, {"class_counts": [3, 1], "base": "hinge"}, "base='hinge'"),
    (L.ClassBalancedLoss, {}, "needs class_counts"),
    (L.ClassBalancedLoss, {"class_counts": [0, 0]}, "at least one sample"),
    (L.GHMCLoss, {"bins": 0}, "bins must be an integer >= 1"),
    (L.GHMCLoss, {"momentum": 1.0}, "momentum must lie"),
    (L.DiceLoss, {"smooth": 0.0}, r"smooth must lie in \(0.0, inf\)"),
    (L.DiceLoss, {"alpha": True}, "alpha must be a real number"),
    (L.LDAMLoss, {"class_counts": [3, 1], "scale": 0.0}, "scale must lie"),
    (L.LDAMLoss, {"class_counts": [3, 1], "max_margin": -1}, "max_margin must lie"),
    (L.LDAMLoss, {"class_counts": [3, -1]}, "every entry of class_counts must be >= 0"),
    (L.LogitAdjustedLoss, {"class_counts": [3, 1], "tau": -0.5}, "tau must lie"),
    (L.LogitAdjustedLoss, {}, "needs class_counts"),
]


@pytest.mark.parametrize("cls, kwargs, message", BAD_HYPERPARAMETERS,
                         ids=[f"{b[0].__name__}-{sorted(b[1])}" for b in BAD_HYPERPARAMETERS])
def test_bad_hyperparameters_raise_clear_errors(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_per_class_sizes_are_checked_against_the_logits():
    logits, target = torch.zeros(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="class_counts has 2 entries but logits have 3"):
        L.ldam_loss(logits, target, class_counts=[3, 1])
    with pytest.raises(ValueError, match="class_counts has 2 entries but logits have 3"):
        L.class_balanced_loss(logits, target, class_counts=[3, 1])
    with pytest.raises(ValueError, match=r"weight has shape .* but alpha has shape"):
        L.focal_loss(logits, target, alpha=[0.2, 0.3, 0.5], weight=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"scalar alpha=0\.25 .* 3 classes"):
        L.focal_loss(logits, target, alpha=0.25)


def test_get_loss_maps_names_and_passes_classes_through():
    assert L.get_loss("focal") is L.FocalLoss
    assert L.get_loss(L.DiceLoss) is L.DiceLoss
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        L.get_loss("hinge")
    assert sorted(L.LOSSES) == sorted(
        ["ce", "focal", "class_balanced", "ghm", "dice", "ldam", "logit_adjusted"])
    assert np.isclose(L.effective_number_weights([100, 10], beta=0.9).sum(), 2.0)


@pytest.mark.parametrize("call, message", [
    (lambda: L.focal_loss(torch.zeros(2, 2), torch.tensor([0, 1]), weight=["a", "b"]),
     "weight must be a sequence of numbers"),
    (lambda: L.focal_loss(torch.zeros(2, 2), torch.tensor([0, 1]), alpha=[0.5, 0.5],
                          weight=torch.ones(2, device="meta")),
     "weight is on meta but alpha is on cpu"),
    (lambda: L.class_balanced_loss(torch.zeros(2, 2), torch.tensor([0, 1]), class_counts=[3, 1],
                                   weight=[1.0, 2.0, 3.0]),
     r"weight has shape \(3,\) but class_counts has shape \(2,\)"),
    (lambda: L.GHMCLoss(momentum=0.5)(torch.zeros(2, 2, device="meta"),
                                      torch.tensor([0, 1], device="meta")),
     "running_density is on cpu but logits are on meta"),
    (lambda: L.effective_numbers([3, -1]), "class_counts must be a 1-D sequence of finite counts"),
])
def test_errors_of_per_class_values_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
