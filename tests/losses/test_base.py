"""Contract shared by every loss: input validation, reduction, buffers and the registry."""

import copy
import pickle

import numpy as np
import pytest
import torch
from torch import nn

from sklimb.losses import (
    LOSSES,
    ClassBalancedLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GHMCLoss,
    ImbalanceLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    class_balanced_loss,
    cross_entropy_loss,
    dice_loss,
    effective_number_weights,
    focal_loss,
    get_loss,
    ghm_c_loss,
    ldam_loss,
    logit_adjusted_loss,
)

from ._reference import REDUCTIONS, WEIGHTINGS, pick_weights

COUNTS = [50, 10, 2]

# name -> (functional form, its keyword arguments) for three classes
FUNCTIONALS = {
    "ce": (cross_entropy_loss, {"label_smoothing": 0.1}),
    "ce_unsmoothed": (cross_entropy_loss, {}),
    "focal": (focal_loss, {"gamma": 2.0, "alpha": [0.2, 0.3, 0.5]}),
    "class_balanced": (class_balanced_loss, {"class_counts": COUNTS, "beta": 0.99}),
    "class_balanced_sigmoid": (class_balanced_loss, {"class_counts": COUNTS,
                                                     "base": "sigmoid_focal"}),
    "ghm": (ghm_c_loss, {"bins": 5}),
    "dice": (dice_loss, {"alpha": 0.5}),
    "ldam": (ldam_loss, {"class_counts": COUNTS, "scale": 2.0}),
    "logit_adjusted": (logit_adjusted_loss, {"class_counts": COUNTS}),
}
# name -> (module class, constructor arguments) for three classes
MODULES = {
    "ce": (CrossEntropyLoss, {"label_smoothing": 0.1}),
    "focal": (FocalLoss, {"alpha": [0.2, 0.3, 0.5]}),
    "class_balanced": (ClassBalancedLoss, {"class_counts": COUNTS, "base": "focal"}),
    "ghm": (GHMCLoss, {"bins": 5, "momentum": 0.75}),
    "dice": (DiceLoss, {"alpha": 0.5}),
    "ldam": (LDAMLoss, {"class_counts": COUNTS}),
    "logit_adjusted": (LogitAdjustedLoss, {"class_counts": COUNTS}),
}
# buffers every module registers (besides ``weight``, which is given below)
BUFFERS = {
    "ce": [],
    "focal": ["alpha"],
    "class_balanced": ["class_counts", "class_weight"],
    "ghm": ["running_density"],
    "dice": [],
    "ldam": ["class_counts", "margins"],
    "logit_adjusted": ["class_counts", "log_prior"],
}
WEIGHT = [1.0, 2.0, 0.5]


def base_name(name):
    """The module name for a FUNCTIONALS key (``class_balanced_sigmoid`` -> ``class_balanced``)."""
    return {"ce_unsmoothed": "ce", "class_balanced_sigmoid": "class_balanced"}.get(name, name)


def functional(name, **overrides):
    fn, kwargs = FUNCTIONALS[name]

    def loss(logits, target, **extra):
        return fn(logits, target, **{**kwargs, **overrides, **extra})

    return loss


def module(name, **overrides):
    cls, kwargs = MODULES[name]
    return cls(**{**kwargs, **overrides})


def case(n_samples=8, n_classes=3, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    logits = 2.0 * torch.randn(n_samples, n_classes, generator=gen, dtype=dtype)
    target = torch.arange(n_samples) % n_classes
    sample_weight = 0.1 + torch.rand(n_samples, generator=gen, dtype=dtype)
    return logits, target, sample_weight


# ---------------------------------------------------------------- input validation
@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("bad_target", [[0, 1, 3, 0], [0, -1, 2, 1]])
def test_targets_out_of_range_raise(name, bad_target):
    logits, _, _ = case(4)
    target = torch.tensor(bad_target)
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 2\] for 3 classes"):
        functional(name)(logits, target)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        module(base_name(name))(logits, target)


@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool])
def test_non_integer_targets_raise(name, dtype):
    logits, target, _ = case(4)
    with pytest.raises(ValueError, match=rf"integer class indices; got dtype {dtype}"):
        functional(name)(logits, target.to(dtype))


@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_other_integer_targets_are_accepted(name, dtype):
    logits, target, _ = case(4)
    expected = functional(name)(logits, target)
    torch.testing.assert_close(functional(name)(logits, target.to(dtype)), expected)


@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("shape", [(6,), (2, 3, 2)])
def test_logits_of_wrong_rank_raise(name, shape):
    logits = torch.zeros(shape, dtype=torch.float64)
    target = torch.zeros(shape[0], dtype=torch.long)
    with pytest.raises(ValueError, match=r"logits must have shape \(n_samples, n_classes\)"):
        functional(name)(logits, target)


@pytest.mark.parametrize("name", ["ce", "focal", "ghm", "dice"])
def test_single_column_logits_raise(name):
    with pytest.raises(ValueError, match="at least 2 columns"):
        functional(name)(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 columns"):
        module(name)(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))


@pytest.mark.parametrize("name", FUNCTIONALS)
def test_empty_batch_raises(name):
    with pytest.raises(ValueError, match="empty"):
        functional(name)(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("n_target", [3, 5])
def test_mismatched_target_length_raises(name, n_target):
    logits, _, _ = case(4)
    pattern = rf"target must have shape \(4,\).*got shape \({n_target},\)"
    with pytest.raises(ValueError, match=pattern):
        functional(name)(logits, torch.zeros(n_target, dtype=torch.long))


@pytest.mark.parametrize("name", FUNCTIONALS)
def test_two_dimensional_target_raises(name):
    logits, _, _ = case(4)
    with pytest.raises(ValueError, match=r"target must have shape \(4,\)"):
        functional(name)(logits, torch.zeros(4, 1, dtype=torch.long))


@pytest.mark.parametrize("name", FUNCTIONALS)
def test_non_tensor_inputs_raise(name):
    logits, target, _ = case(4)
    with pytest.raises(ValueError, match="torch tensors"):
        functional(name)(logits.numpy(), target)
    with pytest.raises(ValueError, match="torch tensors"):
        functional(name)(logits, target.tolist())


@pytest.mark.parametrize("name", FUNCTIONALS)
def test_integer_logits_raise(name):
    _, target, _ = case(4)
    with pytest.raises(ValueError, match="floating"):
        functional(name)(torch.zeros(4, 3, dtype=torch.long), target)


# ---------------------------------------------------------------- weight validation
@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("as_tensor", [False, True])
def test_weight_of_wrong_length_raises(name, as_tensor):
    logits, target, _ = case(4)
    weight = [1.0, 1.0, 1.0, 1.0]
    weight = torch.tensor(weight) if as_tensor else weight
    with pytest.raises(ValueError, match="weight has 4 entries but logits have 3 classes"):
        functional(name)(logits, target, weight=weight)
    with pytest.raises(ValueError, match="weight has 4 entries"):
        module(base_name(name), weight=weight)(logits, target)


@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_weight_raises_in_modules(name, as_tensor, bad):
    weight = [1.0, bad, 1.0]
    weight = torch.tensor(weight) if as_tensor else weight
    with pytest.raises(ValueError, match="weight"):
        module(base_name(name), weight=weight)


@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_weight_list_raises(name, bad):
    logits, target, _ = case(4)
    with pytest.raises(ValueError, match="weight"):
        functional(name)(logits, target, weight=[1.0, bad, 1.0])


@pytest.mark.parametrize("name", FUNCTIONALS)
def test_negative_or_non_finite_weight_tensor_raises(name):
    """A (CPU) tensor passed to the functional form is validated like a list."""
    logits, target, _ = case(4)
    for bad in (-1.0, float("nan"), float("inf")):
        weight = torch.tensor([1.0, bad, 1.0], dtype=torch.float64)
        with pytest.raises(ValueError, match="weight"):
            functional(name)(logits, target, weight=weight)


@pytest.mark.parametrize("weight", [[[1.0, 2.0, 3.0]], [1.0], "abc", 2.0])
def test_malformed_weight_raises(weight):
    with pytest.raises(ValueError, match="weight"):
        FocalLoss(weight=weight)


@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("sample_weight", [[1.0, 1.0, 1.0], [[1.0, 1.0, 1.0, 1.0]],
                                           [1.0, 1.0, 1.0, 1.0, 1.0]])
def test_sample_weight_of_wrong_shape_raises(name, sample_weight):
    logits, target, _ = case(4)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        functional(name)(logits, target, sample_weight=torch.tensor(sample_weight))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(4,\)"):
        module(base_name(name))(logits, target, torch.tensor(sample_weight))


@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf")])
def test_negative_or_non_finite_sample_weight_raises(name, bad):
    logits, target, _ = case(4)
    sample_weight = torch.tensor([1.0, bad, 1.0, 1.0])
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        functional(name)(logits, target, sample_weight=sample_weight)
    with pytest.raises(ValueError, match="sample_weight must be finite and non-negative"):
        module(base_name(name))(logits, target, sample_weight)


@pytest.mark.parametrize("name", FUNCTIONALS)
def test_sample_weight_as_list_or_array_is_accepted(name):
    logits, target, sample_weight = case(4)
    expected = functional(name)(logits, target, sample_weight=sample_weight)
    for converted in (sample_weight.tolist(), sample_weight.numpy()):
        torch.testing.assert_close(
            functional(name)(logits, target, sample_weight=converted), expected)


# ---------------------------------------------------------------- reduction
@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("reduction", ["avg", "MEAN", None, 1])
def test_unknown_reduction_raises(name, reduction):
    logits, target, _ = case(4)
    with pytest.raises(ValueError, match=rf"reduction={reduction!r} is not supported"):
        functional(name)(logits, target, reduction=reduction)
    with pytest.raises(ValueError, match=rf"reduction={reduction!r}"):
        module(base_name(name), reduction=reduction)


@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
def test_reductions_are_consistent(name, weighting):
    logits, target, sample_weight = case(9, seed=1)
    weight = torch.tensor(WEIGHT, dtype=torch.float64)
    picked_weight, picked_sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"weight": picked_weight, "sample_weight": picked_sample_weight}
    loss = functional(name)
    none = loss(logits, target, reduction="none", **kwargs)
    total = loss(logits, target, reduction="sum", **kwargs)
    mean = loss(logits, target, reduction="mean", **kwargs)
    assert none.shape == (9,)
    assert total.shape == mean.shape == ()
    torch.testing.assert_close(total, none.sum())
    # w_i = weight[y_i] * sample_weight_i (focal's alpha included, measured from the
    # unweighted per-example losses)
    unweighted = loss(logits, target, reduction="none")
    w = torch.ones(9, dtype=torch.float64)
    if kwargs["weight"] is not None:
        w = w * weight[target]
    if kwargs["sample_weight"] is not None:
        w = w * sample_weight
    torch.testing.assert_close(none, w * unweighted)
    if name == "focal":
        w = w * torch.tensor(FUNCTIONALS["focal"][1]["alpha"], dtype=torch.float64)[target]
    if name.startswith("class_balanced"):
        cb = effective_number_weights(COUNTS, FUNCTIONALS[name][1].get("beta", 0.999))
        w = w * torch.tensor(cb, dtype=torch.float32).double()[target]
    expected_mean = none.sum() / w.sum()
    torch.testing.assert_close(mean, expected_mean)


@pytest.mark.parametrize("name", [n for n in FUNCTIONALS
                                  if n == "ce" or n.startswith(("ghm", "dice", "ldam", "logit"))])
def test_unweighted_mean_is_plain_mean(name):
    logits, target, _ = case(9, seed=2)
    loss = functional(name)
    torch.testing.assert_close(loss(logits, target), loss(logits, target, reduction="none").mean())


@pytest.mark.parametrize("name", FUNCTIONALS)
def test_all_zero_example_weights_give_zero_mean(name):
    """sum(w l) / sum(w) with every w_i = 0 is defined as 0, not 0/0."""
    logits, target, _ = case(6, seed=3)
    target = torch.zeros(6, dtype=torch.long)
    for kwargs in ({"sample_weight": torch.zeros(6, dtype=torch.float64)},
                   {"weight": torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)}):
        loss = functional(name)(logits, target, **kwargs)
        assert torch.isfinite(loss)
        assert loss.item() == 0.0


@pytest.mark.parametrize("name", [*MODULES, "plain ce"])
def test_modules_give_zero_for_a_batch_of_zero_weight_classes(name):
    """A class weighted 0 (the module's ``weight`` buffer, no sample weights) and a batch of
    only that class: 0 with a zero gradient, not PyTorch's 0/0 (each module has its own
    fast routes for class weights; plain CE takes PyTorch's weighted cross-entropy where it
    can)."""
    cls, kwargs = MODULES[name] if name in MODULES else (CrossEntropyLoss, {})
    loss = cls(weight=[0.0, 1.0, 1.0], **kwargs)
    logits = torch.randn(6, 3, requires_grad=True)
    value = loss(logits, torch.zeros(6, dtype=torch.long))
    value.backward()
    assert value.item() == 0.0
    assert torch.equal(logits.grad, torch.zeros(6, 3))


@pytest.mark.parametrize("name", MODULES)
def test_default_reduction_is_a_scalar_mean(name):
    cls, kwargs = MODULES[name]
    loss = cls(**kwargs)
    assert loss.reduction == "mean"
    logits, target, _ = case(5, seed=4)
    assert loss(logits, target).shape == ()


@pytest.mark.parametrize("name", MODULES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_module_equals_functional(name, reduction):
    logits, target, sample_weight = case(7, seed=5)
    cls, kwargs = MODULES[name]
    if name == "ghm":
        kwargs = {**kwargs, "momentum": 0.0}
    loss_module = cls(weight=WEIGHT, reduction=reduction, **kwargs)
    fn = {"ce": cross_entropy_loss, "focal": focal_loss, "class_balanced": class_balanced_loss,
          "ghm": ghm_c_loss, "dice": dice_loss, "ldam": ldam_loss,
          "logit_adjusted": logit_adjusted_loss}[name]
    expected = fn(logits, target, weight=WEIGHT, sample_weight=sample_weight,
                  reduction=reduction, **kwargs)
    torch.testing.assert_close(loss_module(logits, target, sample_weight), expected)


# ---------------------------------------------------------------- half precision
@pytest.mark.parametrize("name", FUNCTIONALS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_matches_float32_on_the_same_values(name, dtype):
    logits, target, sample_weight = case(8, seed=6, dtype=torch.float32)
    half = logits.to(dtype)
    loss = functional(name)(half, target, sample_weight=sample_weight)
    expected = functional(name)(half.float(), target, sample_weight=sample_weight)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss.float(), expected, rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- buffers
@pytest.mark.parametrize("name", MODULES)
def test_tensors_are_registered_buffers(name):
    loss = module(name, weight=WEIGHT)
    expected = {"weight", *BUFFERS[name]}
    assert expected <= set(loss.state_dict())
    assert expected <= {key for key, _ in loss.named_buffers()}
    assert list(loss.parameters()) == []


@pytest.mark.parametrize("name", MODULES)
def test_buffers_follow_dtype_and_device_moves(name):
    loss = module(name, weight=WEIGHT)
    buffers = {"weight", *BUFFERS[name]}
    converted = loss.to(torch.float64)
    assert all(getattr(converted, b).dtype == torch.float64 for b in buffers)
    loss = module(name, weight=WEIGHT).double()
    assert all(getattr(loss, b).dtype == torch.float64 for b in buffers)
    meta = module(name, weight=WEIGHT).to("meta")
    assert all(getattr(meta, b).device.type == "meta" for b in buffers)


@pytest.mark.parametrize("name", MODULES)
def test_double_module_matches_float_module(name):
    logits, target, sample_weight = case(8, seed=7)
    single = module(name, weight=WEIGHT).eval()
    double = module(name, weight=WEIGHT).double().eval()
    out = double(logits, target, sample_weight)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, single(logits, target, sample_weight), rtol=1e-6,
                               atol=1e-8)
    out32 = single(logits.float(), target, sample_weight.float())
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", MODULES)
def test_load_state_dict_restores_buffers(name):
    source = module(name, weight=WEIGHT)
    logits, target, _ = case(8, seed=8)
    source(logits, target)  # GHM: move the running density away from zero
    target_module = module(name, weight=[3.0, 3.0, 3.0])
    target_module.load_state_dict(source.state_dict())
    source.eval()
    target_module.eval()
    torch.testing.assert_close(target_module(logits, target), source(logits, target))


@pytest.mark.parametrize("name", MODULES)
def test_pickle_round_trip_gives_identical_outputs(name):
    loss = module(name, weight=WEIGHT)
    logits, target, sample_weight = case(8, seed=9)
    loss(logits, target)  # GHM: some state
    restored = pickle.loads(pickle.dumps(loss))
    assert type(restored) is type(loss)
    assert repr(restored) == repr(loss)
    for key, value in loss.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value)
    for _ in range(2):  # GHM: both copies update their state the same way
        torch.testing.assert_close(restored(logits, target, sample_weight),
                                   loss(logits, target, sample_weight), rtol=0, atol=0)


@pytest.mark.parametrize("name", MODULES)
def test_deepcopy_is_independent(name):
    loss = module(name, weight=WEIGHT)
    clone = copy.deepcopy(loss)
    logits, target, _ = case(8, seed=10)
    torch.testing.assert_close(clone(logits, target), loss(logits, target), rtol=0, atol=0)
    for key, value in clone.state_dict().items():
        assert value.data_ptr() != loss.state_dict()[key].data_ptr()


@pytest.mark.parametrize("name", MODULES)
def test_single_sample_batch_gives_finite_loss(name):
    loss = module(name, weight=WEIGHT)
    for n_samples, seed in ((32, 11), (32, 12), (1, 13)):
        logits, target, sample_weight = case(n_samples, seed=seed)
        logits.requires_grad_(True)
        out = loss(logits, target, sample_weight)
        (grad,) = torch.autograd.grad(out, logits)
        assert torch.isfinite(out)
        assert torch.isfinite(grad).all()


@pytest.mark.parametrize("name", MODULES)
def test_repr_shows_hyperparameters(name):
    text = repr(module(name))
    assert type(module(name)).__name__ in text
    assert "reduction='mean'" in text


# ---------------------------------------------------------------- registry
EXPECTED_NAMES = {
    "ce": CrossEntropyLoss,
    "focal": FocalLoss,
    "class_balanced": ClassBalancedLoss,
    "ghm": GHMCLoss,
    "dice": DiceLoss,
    "ldam": LDAMLoss,
    "logit_adjusted": LogitAdjustedLoss,
}


@pytest.mark.parametrize(("name", "cls"), EXPECTED_NAMES.items())
def test_get_loss_returns_registered_classes(name, cls):
    assert get_loss(name) is cls
    assert issubclass(cls, ImbalanceLoss)
    assert issubclass(cls, nn.Module)


def test_registry_holds_exactly_the_documented_names():
    assert LOSSES == EXPECTED_NAMES


@pytest.mark.parametrize("cls", [*EXPECTED_NAMES.values(), nn.CrossEntropyLoss, nn.MSELoss])
def test_get_loss_passes_classes_through(cls):
    assert get_loss(cls) is cls


@pytest.mark.parametrize("name", ["nope", "Focal", "", "cross_entropy"])
def test_get_loss_unknown_name_raises(name):
    with pytest.raises(ValueError, match=rf"unknown loss {name!r}"):
        get_loss(name)


@pytest.mark.parametrize("value", [None, 3, FocalLoss(), np.array(["focal"])])
def test_get_loss_rejects_non_names(value):
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss(value)


@pytest.mark.parametrize(("name", "cls"), EXPECTED_NAMES.items())
def test_requires_class_counts_flag(name, cls):
    needs_counts = name in ("class_balanced", "ldam", "logit_adjusted")
    assert cls.requires_class_counts is needs_counts
    if needs_counts:
        with pytest.raises(ValueError, match="class_counts"):
            cls()
    else:
        assert cls()(torch.zeros(2, 3), torch.tensor([0, 2])).shape == ()
