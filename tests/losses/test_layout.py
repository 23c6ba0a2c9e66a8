"""Both working layouts of the fused losses (see sklimb.losses._softmax) give the same result.

With at most ``TRANSPOSE_MAX_CLASSES`` classes the kernels work on a transposed copy of the
logits, with more on a copy in the logits' own layout. Each loss is run in both layouts on
the same float64 data, by moving the threshold, and must agree to rounding; gradcheck runs
in the layout the class count selects.
"""

import pytest
import torch

from sklimb.losses import _softmax

from .test_properties import LOSSES

REDUCTIONS = ("mean", "sum", "none")


def _case(n_samples, n_classes, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = 4.0 * torch.randn(n_samples, n_classes, generator=gen, dtype=torch.float64)
    target = torch.randint(n_classes, (n_samples,), generator=gen)
    weight = 0.1 + 2.0 * torch.rand(n_classes, generator=gen, dtype=torch.float64)
    sample_weight = 0.1 + torch.rand(n_samples, generator=gen, dtype=torch.float64)
    return logits, target, weight, sample_weight


def _value_and_grad(loss, logits, target, weighted, reduction, weight, sample_weight):
    x = logits.clone().requires_grad_(True)
    kwargs = {"weight": weight, "sample_weight": sample_weight} if weighted else {}
    value = loss(x, target, reduction=reduction, **kwargs)
    # a non-uniform incoming gradient for reduction="none" checks the per-row scaling
    upstream = torch.linspace(0.5, 1.5, value.numel(), dtype=value.dtype).view_as(value)
    (value * upstream).sum().backward()
    return value.detach(), x.grad


def test_the_class_count_selects_the_layout():
    assert _softmax.working_copy(torch.zeros(7, 3))[0].shape == (3, 7)
    wide = _softmax.TRANSPOSE_MAX_CLASSES + 1
    z, dim = _softmax.working_copy(torch.zeros(7, wide))
    assert (z.shape, dim) == ((7, wide), 1)


@pytest.mark.parametrize("n_classes", [3, 40])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", LOSSES)
def test_both_layouts_agree(name, weighted, reduction, n_classes, monkeypatch):
    loss = LOSSES[name](n_classes)
    logits, target, weight, sample_weight = _case(23, n_classes, seed=n_classes)
    results = []
    for threshold in (n_classes, n_classes - 1):  # transposed, then natural
        monkeypatch.setattr(_softmax, "TRANSPOSE_MAX_CLASSES", threshold)
        results.append(_value_and_grad(loss, logits, target, weighted, reduction, weight,
                                       sample_weight))
    (v_t, g_t), (v_n, g_n) = results
    torch.testing.assert_close(v_n, v_t, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g_n, g_t, rtol=1e-12, atol=1e-14)
    assert g_n.is_contiguous()  # the natural layout hands back its own tensor, not a view


@pytest.mark.parametrize("name", [n for n in LOSSES if n != "ghm"])  # GHM's bins: not smooth
def test_gradcheck_with_many_classes(name):
    n_classes = _softmax.TRANSPOSE_MAX_CLASSES + 8
    logits, target, weight, sample_weight = _case(6, n_classes, seed=1)
    loss = LOSSES[name](n_classes)
    x = logits.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda t: loss(t, target, weight=weight, sample_weight=sample_weight), (x,))


@pytest.mark.parametrize("n_classes", [3, 40])
@pytest.mark.parametrize("name", LOSSES)
def test_unit_incoming_gradient_shortcut_does_not_alias(name, n_classes):
    # ``loss.backward()`` hands the saved gradient on as it is; accumulating twice into a leaf,
    # and scaling the loss, must still give exact multiples of one backward pass
    loss = LOSSES[name](n_classes)
    logits, target, weight, _ = _case(11, n_classes, seed=3)
    x = logits.clone().requires_grad_(True)
    value = loss(x, target, weight=weight)
    value.backward(retain_graph=True)
    once = x.grad.clone()
    value.backward(retain_graph=True)
    torch.testing.assert_close(x.grad, 2 * once, rtol=1e-14, atol=0)
    x.grad = None
    (3.0 * value).backward()
    torch.testing.assert_close(x.grad, 3 * once, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("n_samples", "n_classes"),
                         [(1, 2), (7, 3), (1000, 5), (33, 17), (300, 100)])
def test_log_softmax_in_place_equals_pytorchs_own(n_samples, n_classes, dtype):
    """The kernels overwrite their working copy with ``log p`` (``out=`` the input): this
    relies on PyTorch computing it row by row, and must give its out-of-place result
    exactly, in both layouts."""
    gen = torch.Generator().manual_seed(n_samples + n_classes)
    logits = (30.0 * torch.randn(n_samples, n_classes, generator=gen)).to(dtype)
    for z, dim in ((logits.t().contiguous(), 0), (logits.clone(), 1)):
        expected = torch.log_softmax(z, dim)
        out = torch.log_softmax(z, dim, out=z)
        assert out.data_ptr() == z.data_ptr()
        assert torch.equal(out, expected)


@pytest.mark.parametrize("n_classes", [3, 40])
@pytest.mark.parametrize("name", LOSSES)
def test_the_logits_are_left_unchanged(name, n_classes):
    """Only working copies are written in place, never the caller's logits (float32 and
    float64, batches above every compiled loop's size limit too)."""
    loss = LOSSES[name](n_classes)
    for n_samples, dtype in ((23, torch.float64), (23, torch.float32), (3000, torch.float32)):
        logits, target, weight, _ = _case(n_samples, n_classes, seed=5)
        x = logits.to(dtype).requires_grad_(True)
        before = x.detach().clone()
        for kwargs in ({}, {"weight": weight}):
            loss(x, target, **kwargs).backward()
            assert torch.equal(x.detach(), before)
