"""The compiled backend (``sklimb.losses._compiled``) against the compositions.

One shared test holds every loop equal to its loss's composition, for every loss,
reduction and weighting, edge rows included; the rest checks the guard that decides
when a loop runs, and the autograd node around it.
"""

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from sklimb import losses as L
from sklimb.losses import _compiled

from .cases import CASES, WEIGHTINGS, counts_for, pick_weights, random_case

pytestmark = pytest.mark.skipif(_compiled.numba is None, reason="numba is not installed")

# saturated and tied rows, a row of ties, extreme and zero logits
EDGE_ROWS = [[30.0, 0.0, -30.0], [0.0, 60.0, 5.0], [2.0, 2.0, 2.0], [1e4, -1e4, 0.0],
             [-1e4, 1e4, 1e4], [0.0, 0.0, 0.0], [-88.0, 88.0, 0.0]]


def loop_calls(monkeypatch):
    """Count the calls of :func:`_compiled.run`."""
    calls = []
    original = _compiled.run
    monkeypatch.setattr(_compiled, "run", lambda *a, **k: calls.append(a[0]) or original(*a, **k))
    return calls


def on_both_routes(fn, logits, target, monkeypatch, **kwargs):
    """``[(value, grad) compiled, (value, grad) composition]`` of ``fn``."""
    results = []
    for enabled in (True, False):
        monkeypatch.setattr(_compiled, "ENABLED", enabled)
        x = logits.clone().requires_grad_(True)
        value = fn(x, target, **kwargs)
        (grad,) = torch.autograd.grad(value.sum(), x)
        results.append((value, grad))
    return results


@pytest.mark.parametrize("case", [case for case in CASES if case.loop], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighting", WEIGHTINGS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_every_loop_equals_its_composition(case, reduction, weighting, dtype, n_classes,
                                           monkeypatch):
    logits, target, weight, sample_weight = random_case(n_samples=40, n_classes=n_classes,
                                                        seed=n_classes)
    if n_classes == 3 and dtype == torch.float64:  # float32 keeps 3 digits of a logit of 1e4
        logits[: len(EDGE_ROWS)] = torch.tensor(EDGE_ROWS, dtype=torch.float64)
    weight, sample_weight = pick_weights(weighting, weight, sample_weight)
    kwargs = {"reduction": reduction,
              "weight": None if weight is None else weight.to(dtype),
              "sample_weight": None if sample_weight is None else sample_weight.to(dtype)}
    calls = loop_calls(monkeypatch)
    (value, grad), (expected, expected_grad) = on_both_routes(
        case.function(counts_for(n_classes)), logits.to(dtype), target, monkeypatch, **kwargs)
    assert calls == [case.loop]  # the first route ran the loop, the second did not
    tolerance = {"rtol": 2e-5, "atol": 1e-6} if dtype == torch.float32 else \
        {"rtol": 1e-9, "atol": 1e-12}
    assert value.dtype == expected.dtype == dtype and grad.dtype == dtype
    torch.testing.assert_close(value, expected, **tolerance)
    torch.testing.assert_close(grad, expected_grad, **tolerance)


@pytest.mark.parametrize("training", [True, False])
def test_ghm_state_is_updated_alike_on_both_routes(training, monkeypatch):
    states = []
    for enabled in (True, False):
        monkeypatch.setattr(_compiled, "ENABLED", enabled)
        loss = L.GHMCLoss(momentum=0.6).train(training)
        values = []
        for seed in range(3):
            logits, target, _, _ = random_case(n_samples=20, n_classes=3, seed=seed)
            values.append(loss(logits.float(), target))
        states.append((torch.stack(values), loss.running_density.clone()))
    torch.testing.assert_close(states[0][0], states[1][0], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(states[0][1], states[1][1], rtol=1e-6, atol=1e-8)
    assert (states[0][1].sum() > 0) == training  # evaluation leaves the state alone


@pytest.mark.parametrize("what, make", [
    ("float16 promoted", lambda x: (x.half(), {})),
    ("float64", lambda x: (x.double(), {})),
    ("non-contiguous", lambda x: (x.t().contiguous().t(), {})),
])
def test_the_guard_lets_plain_cpu_batches_through(what, make, monkeypatch):
    calls = loop_calls(monkeypatch)
    logits, target, _, _ = random_case(n_samples=8, n_classes=3)
    x, kwargs = make(logits.float())
    L.focal_loss(x.requires_grad_(True), target, **kwargs).backward()
    assert calls == ["focal_loop"]


def test_the_guard_sends_other_calls_to_the_composition(monkeypatch):
    calls = loop_calls(monkeypatch)
    logits, target, _, sample_weight = random_case(n_samples=8, n_classes=3)
    logits = logits.float()
    too_many = torch.zeros(_compiled.MAX_ELEMENTS // 2 + 1, 2)
    L.focal_loss(too_many, torch.zeros(len(too_many), dtype=torch.long))
    learnt = sample_weight.float().requires_grad_(True)
    L.focal_loss(logits, target, sample_weight=learnt).backward()
    assert learnt.grad is not None and learnt.grad.abs().sum() > 0
    torch.func.grad(lambda x: L.focal_loss(x, target))(logits)
    torch.compile(L.focal_loss, backend="aot_eager")(logits, target)
    assert calls == []
    monkeypatch.setattr(_compiled, "ENABLED", False)
    L.focal_loss(logits, target)
    assert calls == []


def test_a_negated_view_gives_the_loss_of_the_negated_logits(monkeypatch):
    """A view with the negative bit shares the memory of ``x``: a loop handed that memory
    would compute the loss of ``x``, not of ``-x``."""
    calls = loop_calls(monkeypatch)
    logits, target, _, _ = random_case(n_samples=8, n_classes=3)
    logits = logits.float()
    negated = torch._neg_view(logits)
    assert negated.is_neg()
    torch.testing.assert_close(L.focal_loss(negated, target), L.focal_loss(-logits, target))
    assert calls == ["focal_loop"]  # only the plain -logits took the loop


def test_second_derivatives_through_the_loop_are_those_of_the_composition(monkeypatch):
    calls = loop_calls(monkeypatch)
    logits, target, weight, _ = random_case(n_samples=5, n_classes=3, seed=2)
    for fn in (L.focal_loss, L.dice_loss):
        x = logits.clone().requires_grad_(True)
        assert gradcheck(lambda x, fn=fn: fn(x, target, weight=weight), (x,))
        assert gradgradcheck(lambda x, fn=fn: fn(x, target, weight=weight), (x,))
    assert calls  # the checks went through the loops
    loss = L.GHMCLoss(momentum=0.5).double()
    x = logits.clone().requires_grad_(True)
    value = loss(x, target)
    state = loss.running_density.clone()
    (grad,) = torch.autograd.grad(value, x, create_graph=True)
    (second,) = torch.autograd.grad(grad.sum(), x)
    torch.testing.assert_close(loss.running_density, state)  # the state moved once
    monkeypatch.setattr(_compiled, "ENABLED", False)
    reference = L.GHMCLoss(momentum=0.5).double()
    x = logits.clone().requires_grad_(True)
    (grad_ref,) = torch.autograd.grad(reference(x, target), x, create_graph=True)
    torch.testing.assert_close(second, torch.autograd.grad(grad_ref.sum(), x)[0])


def test_warm_up_compiles_every_loop():
    L.warm_up()
    loops = [name for name in dir(_compiled) if name.endswith("_loop")]
    assert sorted(loops) == sorted({case.loop for case in CASES if case.loop})
    for name in loops:
        assert getattr(_compiled, name).signatures  # compiled for at least one signature
