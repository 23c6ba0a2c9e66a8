"""Helpers and constants shared by the loss tests.

Only what is the same for every loss lives here: the weighted-mean reduction,
the random inputs, the comparison of values and gradients and the hand-picked
extreme and saturated logits. Each loss's own float64 reference formula stays
in its test file, independent of the others.
"""

import torch

REDUCTIONS = ["mean", "sum", "none"]
# which of the class ``weight`` and the ``sample_weight`` a test passes (see ``pick_weights``)
WEIGHTINGS = ["none", "class", "sample", "both"]
HALF_DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# float32 and half precision are compared with a float64 reference on the same values
SATURATION_TOLERANCE = {
    torch.float64: {"rtol": 1e-7, "atol": 1e-12},
    torch.float32: {"rtol": 1e-4, "atol": 1e-6},
    torch.float16: {"rtol": 1e-2, "atol": 1e-3},
    torch.bfloat16: {"rtol": 1e-2, "atol": 1e-3},
}

# +-1e4 with zeros and moderate values; some rows saturated on the true class,
# some on a wrong one
EXTREME = [[1e4, -1e4, 0.0], [-1e4, 1e4, 3.0], [0.0, 0.0, 0.0], [1e4, 1e4, -1e4],
           [-5.0, 2.0, 1e4], [30.0, -2.0, 0.5], [1e4, -1e4, -1e4]]
EXTREME_TARGET = [0, 0, 1, 2, 2, 0, 1]
# large but finite margins, where a naive log(1 - p) or gradient loses its digits
SATURATED = [[30.0, 0.0, -30.0], [0.0, 60.0, 5.0], [-30.0, 30.0, 0.0], [20.0, -20.0, 0.0],
             [8.0, 0.0, -3.0]]
SATURATED_TARGET = [0, 1, 2, 0, 0]


def reduce_reference(loss, w, reduction):
    """``w*l``, ``sum(w*l)`` or ``sum(w*l)/sum(w)`` (plain sum/mean without ``w``)."""
    weighted = loss if w is None else w * loss
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return loss.mean() if w is None else weighted.sum() / w.sum()


def example_weights(target, weight, sample_weight):
    """``weight[y_i] * sample_weight_i`` in float64, either factor optional; None without both."""
    w = None if weight is None else torch.as_tensor(weight, dtype=torch.float64)[target]
    if sample_weight is not None:
        w = sample_weight.double() if w is None else w * sample_weight.double()
    return w


def random_case(n_samples=9, n_classes=4, seed=0):
    """Seeded float64 logits, targets, class weights in [0.1, 2.1) and sample weights in [0, 2)."""
    gen = torch.Generator().manual_seed(seed)
    logits = 3.0 * torch.randn(n_samples, n_classes, generator=gen, dtype=torch.float64)
    target = torch.randint(n_classes, (n_samples,), generator=gen)
    weight = 0.1 + 2.0 * torch.rand(n_classes, generator=gen, dtype=torch.float64)
    sample_weight = 2.0 * torch.rand(n_samples, generator=gen, dtype=torch.float64)
    return logits, target, weight, sample_weight


def pick_weights(weighting, weight, sample_weight):
    """The ``(weight, sample_weight)`` a ``WEIGHTINGS`` entry passes, the other one None."""
    return (weight if weighting in ("class", "both") else None,
            sample_weight if weighting in ("sample", "both") else None)


def assert_forward_backward(fn, reference, logits, *, rtol=1e-10, atol=1e-12):
    """Compare values and gradients (w.r.t. the logits) of two loss callables."""
    x = logits.clone().requires_grad_(True)
    x_ref = logits.detach().double().clone().requires_grad_(True)
    out, expected = fn(x), reference(x_ref)
    torch.testing.assert_close(out.double(), expected, rtol=rtol, atol=atol)
    (grad,) = torch.autograd.grad(out.sum(), x)
    (grad_ref,) = torch.autograd.grad(expected.sum(), x_ref)
    torch.testing.assert_close(grad.double(), grad_ref, rtol=rtol, atol=atol)


def assert_finite_on_extreme_logits(loss, dtype, rows=EXTREME, targets=EXTREME_TARGET):
    """``loss(logits, target, sample_weight)`` and its gradient stay finite in ``dtype``.

    Returns the gradient w.r.t. the logits, for checks of its own.
    """
    logits = torch.tensor(rows, dtype=dtype, requires_grad=True)
    target = torch.tensor(targets)
    sample_weight = torch.linspace(0.5, 2.0, len(targets))
    value = loss(logits, target, sample_weight)
    (grad,) = torch.autograd.grad(value, logits)
    assert torch.isfinite(value)
    assert grad.dtype == dtype
    assert torch.isfinite(grad).all()
    return grad
