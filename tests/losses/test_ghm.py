"""GHM-C loss against an independent float64 reference, including the EMA state."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from sklimb.losses import GHMCLoss, ghm_c_loss

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


# ---------------------------------------------------------------- reference
def bce(x, y):
    return -(y * F.logsigmoid(x) + (1.0 - y) * F.logsigmoid(-x))


class GHMReference:
    """GHM-C as in the paper; ``momentum > 0`` keeps an EMA of bin densities.

    ``rho <- m * rho + (1 - m) * count / M`` (the first update of an all-zero
    state sets ``rho = count / M``); weights are ``1 / (rho[bin] * n_nonempty)``,
    which is ``M / (count * n_nonempty)`` without momentum.
    """

    def __init__(self, bins, momentum=0.0):
        self.bins, self.momentum = bins, momentum
        self.rho = np.zeros(bins)

    def __call__(self, logits, target, *, weight=None, sample_weight=None, reduction="mean",
                 update=True):
        x = logits.double()
        y = F.one_hot(target, x.shape[1]).double()
        with torch.no_grad():
            g = (torch.sigmoid(x) - y).abs().numpy()
        index = np.minimum(np.floor(g * self.bins).astype(int), self.bins - 1)
        count = np.bincount(index.ravel(), minlength=self.bins).astype(float)
        n_nonempty = int((count > 0).sum())
        density = count / index.size
        if self.momentum > 0.0:
            if self.rho.sum() > 0:
                density = self.momentum * self.rho + (1.0 - self.momentum) * density
            if update:
                self.rho = density.copy()
        beta = torch.as_tensor(1.0 / (density[index] * n_nonempty))
        per_example = (beta * bce(x, y)).mean(dim=1)
        return reduce_reference(per_example, example_weights(target, weight, sample_weight),
                                reduction)


def bin_centred_case(bins, n_samples=6, n_classes=3, seed=0):
    """Logits whose gradient norms sit at bin centres (+- 0.1 bin), far from bin edges."""
    gen = torch.Generator().manual_seed(seed)
    target = torch.randint(n_classes, (n_samples,), generator=gen)
    k = torch.randint(bins, (n_samples, n_classes), generator=gen).double()
    jitter = 0.2 * torch.rand(n_samples, n_classes, generator=gen, dtype=torch.float64) - 0.1
    g = (k + 0.5 + jitter) / bins
    y = F.one_hot(target, n_classes).double()
    logits = torch.where(y > 0, torch.logit(1.0 - g), torch.logit(g))
    return logits, target


# ---------------------------------------------------------------- values
def test_hand_computed_value():
    """g: four logits in bin 0, two in bin 5; M=6, two non-empty bins."""
    logits = torch.tensor([[4.0, -4.0], [0.0, 0.0], [3.0, -3.0]], dtype=torch.float64)
    target = torch.tensor([0, 1, 0])

    def softplus(v):
        return math.log1p(math.exp(v))

    beta_0, beta_5 = 6 / (4 * 2), 6 / (2 * 2)
    expected = (beta_0 * (2 * softplus(-4.0) + 2 * softplus(-3.0))
                + beta_5 * 2 * math.log(2.0)) / 6
    loss = ghm_c_loss(logits, target, bins=10)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    assert loss.item() == pytest.approx(0.3633, abs=1e-4)


def test_last_bin_holds_gradient_norm_one():
    """g == 1 (a saturated wrong logit) goes to the last bin, not past it."""
    logits = torch.tensor([[-800.0, 800.0], [0.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([0, 0])
    loss = ghm_c_loss(logits, target, bins=4, reduction="none")
    expected = GHMReference(4)(logits, target, reduction="none")
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("bins", [1, 3, 10, 30])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_on_random_inputs(reduction, weighting, bins):
    logits, target, weight, sample_weight = random_case(seed=1)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"weight": weight, "sample_weight": sample_weight, "reduction": reduction}
    assert_forward_backward(lambda x: ghm_c_loss(x, target, bins=bins, **kwargs),
                            lambda x: GHMReference(bins)(x, target, **kwargs), logits)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_reference_on_hand_picked_inputs(reduction):
    logits = torch.tensor([[0.0, 0.0, 0.0], [5.0, -5.0, 0.0], [-3.0, 2.0, 2.0],
                           [0.3, 0.0, -0.3], [12.0, 11.0, -40.0]], dtype=torch.float64)
    target = torch.tensor([2, 1, 0, 0, 1])
    sample_weight = torch.tensor([1.0, 0.0, 3.0, 0.25, 1.5], dtype=torch.float64)
    weight = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    kwargs = {"weight": weight, "sample_weight": sample_weight, "reduction": reduction}
    assert_forward_backward(lambda x: ghm_c_loss(x, target, bins=7, **kwargs),
                            lambda x: GHMReference(7)(x, target, **kwargs), logits)


def test_harmonizing_weights_down_weight_crowded_bins():
    """Many easy logits in one bin: each gets a weight below 1, the rare hard ones above."""
    logits = torch.tensor([[6.0, -6.0]] * 7 + [[-2.0, 2.0]], dtype=torch.float64)
    target = torch.zeros(8, dtype=torch.long)
    per_example = ghm_c_loss(logits, target, bins=10, reduction="none")
    plain = F.binary_cross_entropy_with_logits(
        logits, F.one_hot(target, 2).double(), reduction="none").mean(dim=1)
    assert (per_example[:7] < plain[:7]).all()
    assert per_example[7] > plain[7]


# ---------------------------------------------------------------- equivalences
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_one_bin_is_mean_binary_cross_entropy(reduction):
    logits, target, _, _ = random_case(seed=2)

    def reference(x):
        y = F.one_hot(target, x.shape[1]).to(x.dtype)
        per_logit = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        if reduction == "mean":
            return F.binary_cross_entropy_with_logits(x, y)
        return per_logit.mean(dim=1) if reduction == "none" else per_logit.mean(dim=1).sum()

    assert_forward_backward(lambda x: ghm_c_loss(x, target, bins=1, reduction=reduction),
                            reference, logits)
    module = GHMCLoss(bins=1, momentum=0.9, reduction=reduction)
    for _ in range(2):  # the EMA of a single bin is always 1
        assert_forward_backward(lambda x, m=module: m(x, target), reference, logits)


# ---------------------------------------------------------------- EMA state
@pytest.mark.parametrize("momentum", [0.5, 0.75])
def test_running_density_follows_ema_reference_in_train_mode(momentum):
    module = GHMCLoss(bins=6, momentum=momentum, weight=[1.0, 2.0, 0.5])
    reference = GHMReference(6, momentum)
    for seed in range(4):
        n_samples = 1 if seed == 3 else 10  # end with a tiny last batch
        logits, target, _, sample_weight = random_case(n_samples, 3, seed=10 + seed)
        loss = module(logits, target, sample_weight)
        expected = reference(logits, target, weight=[1.0, 2.0, 0.5],
                             sample_weight=sample_weight)
        torch.testing.assert_close(loss, expected, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(module.running_density.numpy(), reference.rho, rtol=1e-6)
        assert torch.isfinite(loss)


def test_first_update_sets_density_to_batch_histogram():
    module = GHMCLoss(bins=5, momentum=0.9)
    logits, target, _, _ = random_case(seed=3)
    module(logits, target)
    g = (torch.sigmoid(logits) - F.one_hot(target, 4)).abs()
    index = (g * 5).long().clamp(max=4)
    expected = torch.bincount(index.ravel(), minlength=5) / index.numel()
    torch.testing.assert_close(module.running_density, expected.float())
    assert module.running_density.sum().item() == pytest.approx(1.0)


def test_running_density_is_frozen_in_eval_mode():
    module = GHMCLoss(bins=6, momentum=0.75)
    reference = GHMReference(6, 0.75)
    logits, target, _, _ = random_case(seed=4)
    module(logits, target)
    reference(logits, target)
    before = module.running_density.clone()
    module.eval()
    for seed in (5, 6):
        logits, target, _, _ = random_case(seed=seed)
        loss = module(logits, target)
        torch.testing.assert_close(module.running_density, before, rtol=0, atol=0)
        # the weights still blend the stored EMA with the batch, without storing it
        torch.testing.assert_close(loss, reference(logits, target, update=False), rtol=1e-6,
                                   atol=1e-9)
    module.train()
    module(logits, target)
    assert not torch.equal(module.running_density, before)


def test_zero_momentum_ignores_running_density():
    module = GHMCLoss(bins=6, momentum=0.0)
    logits, target, _, _ = random_case(seed=7)
    torch.testing.assert_close(module(logits, target), GHMReference(6)(logits, target),
                               rtol=1e-12, atol=1e-12)
    assert module.running_density.sum() == 0


def test_functional_update_flag():
    logits, target, _, _ = random_case(seed=8)
    state = torch.zeros(8, dtype=torch.float64)
    ghm_c_loss(logits, target, bins=8, momentum=0.5, running_density=state, update=False)
    assert state.sum() == 0
    ghm_c_loss(logits, target, bins=8, momentum=0.5, running_density=state, update=True)
    assert state.sum().item() == pytest.approx(1.0)


def test_running_density_of_wrong_shape_raises():
    logits, target, _, _ = random_case()
    with pytest.raises(ValueError, match=r"running_density must have shape \(10,\)"):
        ghm_c_loss(logits, target, bins=10, momentum=0.5, running_density=torch.zeros(9))


def test_tiny_last_batch_keeps_the_scale_of_the_weights():
    module = GHMCLoss(bins=10, momentum=0.75)
    for seed in range(3):
        logits, target, _, _ = random_case(64, 3, seed=20 + seed)
        module(logits, target)
    logits, target, _, _ = random_case(1, 3, seed=30)
    loss = module(logits, target)
    plain = F.binary_cross_entropy_with_logits(logits, F.one_hot(target, 3).double())
    assert torch.isfinite(loss)
    assert 0.01 < loss.item() / plain.item() < 100.0


# ---------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("bins", [1, 4, 10])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_functional(reduction, bins):
    logits, target = bin_centred_case(bins, seed=bins)
    gen = torch.Generator().manual_seed(0)
    weight = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    sample_weight = (0.1 + torch.rand(6, generator=gen, dtype=torch.float64)).requires_grad_()
    assert gradcheck(
        lambda x, sw: ghm_c_loss(x, target, bins=bins, weight=weight, sample_weight=sw,
                                 reduction=reduction),
        (logits.requires_grad_(True), sample_weight),
    )


def test_gradcheck_functional_with_frozen_running_density():
    logits, target = bin_centred_case(5, seed=1)
    state = torch.full((5,), 0.2, dtype=torch.float64)
    assert gradcheck(
        lambda x: ghm_c_loss(x, target, bins=5, momentum=0.5, running_density=state,
                             update=False),
        (logits.requires_grad_(True),),
    )


def test_gradcheck_module():
    logits, target = bin_centred_case(10, seed=2)
    module = GHMCLoss(bins=10, momentum=0.75, weight=[1.0, 2.0, 0.5])
    module(logits, target)  # populate the EMA, then freeze it for gradcheck
    module.eval()
    sample_weight = torch.linspace(0.5, 1.5, 6, dtype=torch.float64)
    assert gradcheck(lambda x: module(x, target, sample_weight), (logits.requires_grad_(True),))


# ---------------------------------------------------------------- stability
@pytest.mark.parametrize("momentum", [0.0, 0.75])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_extreme_logits_give_finite_loss_and_gradient(dtype, momentum):
    module = GHMCLoss(bins=10, momentum=momentum, weight=[1.0, 2.0, 0.5])
    for _ in range(2):  # with momentum, the second call uses the density of the first
        assert_finite_on_extreme_logits(module, dtype)


@pytest.mark.parametrize("dtype", SATURATION_TOLERANCE)
def test_accurate_near_saturation(dtype):
    # gradient norms here sit well inside their bins in every precision
    logits = torch.tensor([[30.0, 0.5, -30.0], [0.5, 60.0, 5.0], [-30.0, 30.0, 0.5],
                           [20.0, -20.0, 0.5]], dtype=dtype)
    target = torch.tensor([0, 1, 2, 0])
    tol = SATURATION_TOLERANCE[dtype]
    assert_forward_backward(lambda x: ghm_c_loss(x, target, bins=10),
                            lambda x: GHMReference(10)(x, target), logits, **tol)


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("bins", [0, -1, 2.5, 10.0, "10", True, None])
def test_invalid_bins_raise(bins):
    logits, target, _, _ = random_case()
    pattern = rf"bins must be an integer >= 1; got bins={bins!r}"
    with pytest.raises(ValueError, match=pattern):
        ghm_c_loss(logits, target, bins=bins)
    with pytest.raises(ValueError, match=pattern):
        GHMCLoss(bins=bins)


def test_numpy_integer_bins_accepted():
    assert GHMCLoss(bins=np.int64(7)).running_density.shape == (7,)


def test_bins_changed_after_construction_raise_instead_of_reading_past_the_state():
    """The loops read and write ``bins`` entries of the state in place: a module whose
    ``bins`` no longer matches its buffer must refuse, on every backend."""
    logits, target, _, _ = random_case()
    loss = GHMCLoss(bins=10)
    loss.bins = 20
    with pytest.raises(ValueError, match=r"running_density has shape \(10,\) but bins=20"):
        loss(logits, target)
    loss.running_density = torch.zeros(loss.bins)
    assert torch.isfinite(loss(logits, target))


@pytest.mark.parametrize("momentum", [1.0, -0.1, 1.5, float("nan")])
def test_momentum_outside_unit_interval_raises(momentum):
    logits, target, _, _ = random_case()
    pattern = rf"momentum.*\[0\.0, 1\.0\).*momentum={momentum!r}"
    with pytest.raises(ValueError, match=pattern):
        ghm_c_loss(logits, target, momentum=momentum)
    with pytest.raises(ValueError, match=pattern):
        GHMCLoss(momentum=momentum)


# ---------------------------------------------------------------- large batches
# above the compiled loops' size limit: PyTorch's softplus and sigmoid, then the binning
# and weighting in one compiled loop where numba is installed (the "compiled" backend),
# the PyTorch kernel otherwise
LARGE_SHAPES = [(3000, 3), (400, 24)]  # a (C, n) working copy, and an (n, C) one


def _count_weighing_loops(monkeypatch):
    from sklimb.losses import _compiled

    calls = []
    module = _compiled.loops()
    if module is not None:
        weigh = module.ghm_weigh

        def counting(*args):
            calls.append(args[4])  # the layout
            return weigh(*args)

        monkeypatch.setattr(module, "ghm_weigh", counting)
    return calls


@pytest.mark.parametrize("shape", LARGE_SHAPES)
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_large_batches_match_reference(backend, shape, weighting, reduction, monkeypatch):
    calls = _count_weighing_loops(monkeypatch)
    logits, target, weight, sample_weight = random_case(*shape, seed=7)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"weight": weight, "sample_weight": sample_weight, "reduction": reduction}
    assert_forward_backward(lambda x: ghm_c_loss(x, target, bins=10, **kwargs),
                            lambda x: GHMReference(10)(x, target, **kwargs), logits)
    assert calls == ([] if backend == "torch" else [0 if shape[1] <= 16 else 1])


@pytest.mark.parametrize("shape", LARGE_SHAPES)
@pytest.mark.parametrize("state_dtype", [torch.float32, torch.float64])
def test_large_batches_follow_the_ema_reference(backend, shape, state_dtype, monkeypatch):
    calls = _count_weighing_loops(monkeypatch)
    loss = GHMCLoss(bins=8, momentum=0.6).to(state_dtype)
    reference = GHMReference(8, momentum=0.6)
    rtol = 1e-6 if state_dtype == torch.float32 else 1e-10  # the state's own precision
    for seed in range(3):  # later calls read the state the earlier ones wrote
        logits, target, _, sample_weight = random_case(*shape, seed=seed)
        assert_forward_backward(
            lambda x, t=target, w=sample_weight: loss(x, t, sample_weight=w),
            lambda x, t=target, w=sample_weight: reference(x, t, sample_weight=w), logits,
            rtol=rtol)
        np.testing.assert_allclose(loss.running_density.double().numpy(), reference.rho,
                                   rtol=rtol)
    assert len(calls) == (0 if backend == "torch" else 3)


@pytest.mark.parametrize("backend", ["compiled"], indirect=True)
@pytest.mark.parametrize("shape", LARGE_SHAPES)
def test_large_float32_batches_agree_across_backends(backend, shape, monkeypatch):
    """float32 logits whose norms sit away from the bin edges (where a float32 and a float64
    product may round to different bins): the loop and the PyTorch kernel agree."""
    from sklimb.losses import _compiled

    logits, target = bin_centred_case(10, *shape, seed=3)
    logits = logits.float()
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_compiled, "ENABLED", enabled)
        x = logits.clone().requires_grad_()
        value = ghm_c_loss(x, target, bins=10)
        value.backward()
        results.append((value.detach(), x.grad))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
    with torch.no_grad():  # no gradient asked for: the same value
        torch.testing.assert_close(ghm_c_loss(logits, target, bins=10), results[1][0])
