"""When the compiled loops run, and what happens where they cannot."""

import os
import subprocess
import sys

import pytest
import torch

from sklimb.losses import (
    ClassBalancedLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GHMCLoss,
    LDAMLoss,
    _compiled,
    focal_loss,
)
from sklimb.losses.focal import focal_kernel

COUNTS = [40, 10, 3]


def _loss_and_grad(loss, logits, target, **kwargs):
    x = logits.detach().clone().requires_grad_()
    value = loss(x, target, **kwargs)
    value.sum().backward()
    return value.detach(), x.grad


def _calls(monkeypatch):
    """Count the calls of the compiled twins (the loops themselves are numba objects)."""
    calls = []
    original = _compiled.CompiledKernel.run

    def counting(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_compiled.CompiledKernel, "run", counting)
    return calls


def test_small_cpu_batches_take_the_compiled_loop(backend, monkeypatch):
    calls = _calls(monkeypatch)
    logits, target = torch.randn(64, 3), torch.randint(0, 3, (64,))
    # plain cross-entropy too, weighted or not: the loop costs no more than F.cross_entropy
    for loss in (FocalLoss(), DiceLoss(), GHMCLoss(), LDAMLoss(COUNTS),
                 ClassBalancedLoss(COUNTS, base="sigmoid"), CrossEntropyLoss(),
                 CrossEntropyLoss(weight=[1.0, 2.0, 3.0])):
        _loss_and_grad(loss, logits, target)
    expected = ["softmax_entry", "softmax_entry", "ghm_entry", "softmax_entry", "sigmoid_entry",
                "softmax_entry", "softmax_entry"]
    assert calls == (expected if backend == "compiled" else [])


@pytest.mark.parametrize("backend", ["compiled"], indirect=True)
def test_size_limit_and_dtypes_choose_the_pytorch_kernel(backend, monkeypatch):
    calls = _calls(monkeypatch)
    n_classes = 4
    rows = _compiled.COMPILED_MAX_ELEMENTS // n_classes
    target = torch.randint(0, n_classes, (rows + 1,))
    focal_loss(torch.randn(rows, n_classes), target[:rows])
    assert len(calls) == 1
    focal_loss(torch.randn(rows + 1, n_classes), target)  # one row too many
    assert len(calls) == 1
    # half precision is promoted to float32 first, and runs compiled like float32
    focal_loss(torch.randn(8, n_classes, dtype=torch.bfloat16), target[:8])
    assert len(calls) == 2
    assert _compiled.compiled_for(focal_kernel, torch.randn(8, 2, dtype=torch.float16)) \
        is focal_kernel
    assert _compiled.compiled_for(focal_kernel, torch.randn(8, 2, dtype=torch.float64)) \
        is not focal_kernel


@pytest.mark.parametrize("backend", ["compiled"], indirect=True)
def test_one_vs_rest_loops_and_many_classes_have_lower_limits(backend):
    from sklimb.losses.class_balanced import sigmoid_kernel
    from sklimb.losses.ghm import ghm_kernel

    def compiled(kernel, n_samples, n_classes):
        return _compiled.compiled_for(kernel, torch.zeros(n_samples, n_classes)) is not kernel

    limit = _compiled.COMPILED_MAX_ELEMENTS
    assert compiled(focal_kernel, limit // 8, 8)
    assert not compiled(ghm_kernel, limit // 8, 8)
    assert compiled(ghm_kernel, limit // 32, 8)
    assert not compiled(sigmoid_kernel, limit // 32, 8)
    assert compiled(sigmoid_kernel, limit // 64, 8)
    # above MANY_CLASSES classes, a quarter of each limit
    many = _compiled.MANY_CLASSES * 2
    assert compiled(focal_kernel, limit // 4 // many, many)
    assert not compiled(focal_kernel, limit // 4 // many + 1, many)


@pytest.mark.parametrize("backend", ["compiled"], indirect=True)
def test_without_numba_every_loss_falls_back_to_the_same_result(backend, monkeypatch):
    logits, target = torch.randn(50, 3) * 4, torch.randint(0, 3, (50,))
    losses = [FocalLoss(weight=[1.0, 2.0, 3.0]), DiceLoss(), GHMCLoss(momentum=0.5),
              LDAMLoss(COUNTS), ClassBalancedLoss(COUNTS, base="sigmoid_focal")]
    compiled = [_loss_and_grad(loss, logits, target) for loss in losses]
    monkeypatch.setattr(_compiled, "_module", False)  # as if `import numba` had failed
    assert not _compiled.available()
    calls = _calls(monkeypatch)
    fallback = [_loss_and_grad(loss, logits, target) for loss in
                [FocalLoss(weight=[1.0, 2.0, 3.0]), DiceLoss(), GHMCLoss(momentum=0.5),
                 LDAMLoss(COUNTS), ClassBalancedLoss(COUNTS, base="sigmoid_focal")]]
    assert calls == []
    for (value, grad), (value_fb, grad_fb) in zip(compiled, fallback, strict=True):
        torch.testing.assert_close(value, value_fb, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(grad, grad_fb, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("failure", [ModuleNotFoundError("No module named 'numba'",
                                                         name="numba"),
                                     ImportError("Numba needs NumPy 2.5 or less")])
def test_a_missing_or_broken_numba_falls_back(failure, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def failing_import(name, *args, **kwargs):
        if name == "_loops" or name.endswith("._loops") or (args and args[2] and
                                                            "_loops" in args[2]):
            raise failure
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(_compiled, "_module", None)
    monkeypatch.setattr(builtins, "__import__", failing_import)
    if isinstance(failure, ModuleNotFoundError):
        assert _compiled.loops() is None  # silently: numba is an optional extra
    else:
        with pytest.warns(RuntimeWarning, match="could not be loaded"):
            assert _compiled.loops() is None
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert _compiled.compiled_for(focal_kernel, torch.zeros(4, 2)) is focal_kernel
    assert torch.isfinite(focal_loss(torch.randn(4, 2), torch.tensor([0, 1, 1, 0])))


@pytest.mark.parametrize("weight", [None, [1.0, 2.0, 3.0]])
def test_a_state_the_loop_cannot_take_goes_to_the_pytorch_kernel(backend, weight, monkeypatch):
    """A half-precision GHM-C state (``loss.half()``) with float32 logits."""
    logits, target = torch.randn(20, 3) * 3, torch.randint(0, 3, (20,))
    states, results = [], []
    for enabled in (True, False):
        monkeypatch.setattr(_compiled, "ENABLED", enabled and backend == "compiled")
        loss = GHMCLoss(momentum=0.5, weight=weight).half()
        for _ in range(2):  # the second call reads the state the first one wrote
            results.append(_loss_and_grad(loss, logits, target))
        states.append(loss.running_density.clone())
    assert states[0].dtype == torch.float16 and states[0].sum() > 0
    torch.testing.assert_close(states[0], states[1])
    for (value, grad), (value_t, grad_t) in zip(results[:2], results[2:], strict=True):
        torch.testing.assert_close(value, value_t)
        torch.testing.assert_close(grad, grad_t)


@pytest.mark.parametrize("backend", ["compiled"], indirect=True)
@pytest.mark.parametrize(("logits_dtype", "state_dtype"), [
    (torch.float32, torch.float64), (torch.float64, torch.float32),
    (torch.float64, torch.float64), (torch.float32, torch.float32)])
def test_ghm_state_of_either_float_dtype_matches_the_pytorch_kernel(
        backend, logits_dtype, state_dtype, monkeypatch):
    """The loop reads and updates a float32 or float64 state through its address, with
    logits of either dtype, in any order of calls (one compiled entry point per logits
    dtype serves every state dtype)."""
    logits = (torch.randn(30, 3) * 3).to(logits_dtype)
    target = torch.randint(0, 3, (30,))
    states, results = [], []
    for enabled in (True, False):
        monkeypatch.setattr(_compiled, "ENABLED", enabled)
        loss = GHMCLoss(momentum=0.5).to(state_dtype)
        for _ in range(3):  # later calls read the state the earlier ones wrote
            results.append(_loss_and_grad(loss, logits, target))
        states.append(loss.running_density.clone())
    assert states[0].dtype == state_dtype and states[0].sum() > 0
    torch.testing.assert_close(states[0], states[1])
    for (value, grad), (value_t, grad_t) in zip(results[:3], results[3:], strict=True):
        torch.testing.assert_close(value, value_t)
        torch.testing.assert_close(grad, grad_t)


@pytest.mark.parametrize("backend", ["compiled"], indirect=True)
def test_parameters_set_to_ints_do_not_fix_the_loop_to_int_arguments(backend, monkeypatch):
    """The loop's entry point is looked up once per logits dtype: a parameter first seen as
    an int (``loss.gamma = 2``) must not make a later float parameter be read as an int."""
    logits, target = torch.randn(16, 3, dtype=torch.float64) * 3, torch.randint(0, 3, (16,))
    for twin in _compiled._TWINS.values():
        monkeypatch.setattr(twin, "entries", {})
    results = {}
    for enabled in (True, False):
        monkeypatch.setattr(_compiled, "ENABLED", enabled)
        loss = FocalLoss()
        loss.gamma = 2  # as a user might
        first = _loss_and_grad(loss, logits, target)
        loss.gamma = 0.5
        results[enabled] = (first, _loss_and_grad(loss, logits, target))
    for compiled, torch_kernel in zip(results[True], results[False], strict=True):
        torch.testing.assert_close(compiled[0], torch_kernel[0])
        torch.testing.assert_close(compiled[1], torch_kernel[1])


def test_non_contiguous_logits_and_targets_give_the_contiguous_result():
    logits = torch.randn(3, 40) * 3
    target = torch.randint(0, 3, (80,))[::2]
    assert not logits.t().is_contiguous() and not target.is_contiguous()
    value, grad = _loss_and_grad(FocalLoss(), logits.t(), target)
    value_c, grad_c = _loss_and_grad(FocalLoss(), logits.t().contiguous(), target.contiguous())
    torch.testing.assert_close(value, value_c)
    torch.testing.assert_close(grad, grad_c)


def test_second_derivative_raises_instead_of_returning_zero():
    logits = torch.randn(6, 3, requires_grad=True)
    value = focal_loss(logits, torch.randint(0, 3, (6,)))
    (grad,) = torch.autograd.grad(value, logits, create_graph=True)
    with pytest.raises(RuntimeError, match=r"does not require grad|once_differentiable"):
        grad.sum().backward()


def test_incoming_gradient_scales_the_gradient():
    """``loss * 3`` and a per-example incoming gradient for reduction="none"."""
    logits, target = torch.randn(10, 3), torch.randint(0, 3, (10,))
    _, grad = _loss_and_grad(focal_loss, logits, target)
    x = logits.clone().requires_grad_()
    (3.0 * focal_loss(x, target)).backward()
    torch.testing.assert_close(x.grad, 3.0 * grad)
    x = logits.clone().requires_grad_()
    scale = torch.arange(10, dtype=torch.float32)
    (focal_loss(x, target, reduction="none") * scale).sum().backward()
    _, grad_none = _loss_and_grad(lambda *a: focal_loss(*a, reduction="none"), logits, target)
    torch.testing.assert_close(x.grad, grad_none * scale[:, None])


def test_out_of_range_targets_get_the_clear_message():
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 2\]"):
        focal_loss(torch.randn(4, 3), torch.tensor([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"got values in \[-1, 2\]"):
        GHMCLoss()(torch.randn(4, 3), torch.tensor([0, -1, 1, 2]))
    # class weights are indexed by the loop itself on the compiled route: checked first
    for loss in (FocalLoss(weight=[1.0, 2.0, 3.0]), GHMCLoss(weight=[1.0, 2.0, 3.0])):
        with pytest.raises(ValueError, match=r"got values in \[0, 5\]"):
            loss(torch.randn(4, 3, requires_grad=True), torch.tensor([0, 5, 1, 2]))


def _python(code, **env):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_sklimb_does_not_import_numba():
    code = ("import sys, sklimb, sklimb.losses; "
            "print('numba' in sys.modules)")
    assert _python(code) == "False"


def test_environment_variable_disables_the_loops():
    code = ("import torch; from sklimb.losses import _compiled; "
            "from sklimb.losses.focal import focal_kernel; "
            "print(_compiled.ENABLED, _compiled.available(), "
            "_compiled.compiled_for(focal_kernel, torch.zeros(4, 2)) is focal_kernel)")
    assert _python(code, SKLIMB_NUMBA="0") == "False False True"


def test_numba_disable_jit_falls_back_to_the_pytorch_kernels():
    """NUMBA_DISABLE_JIT=1 (numba's debugging switch) leaves the loops uncompiled: the
    losses must run on their PyTorch kernels, not call a loop that was never compiled."""
    pytest.importorskip("numba")
    code = ("import torch; from sklimb.losses import FocalLoss, GHMCLoss, _compiled; "
            "from sklimb.losses.focal import focal_kernel; "
            "x = torch.randn(8, 2, requires_grad=True); t = torch.tensor([0, 1] * 4); "
            "[loss(x, t).backward() for loss in (FocalLoss(), GHMCLoss())]; "
            "print(_compiled.available(), bool(torch.isfinite(x.grad).all()), "
            "_compiled.compiled_for(focal_kernel, x) is focal_kernel)")
    assert _python(code, NUMBA_DISABLE_JIT="1") == "False True True"


@pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")
def test_torch_func_grad_raises_a_clear_error_and_vmap_without_grad_works():
    """The nodes compute their gradient in the forward pass, which functorch's transforms
    cannot trace: torch.func.grad gets a clear error (not functorch's generic one about
    setup_context), and vmap of the loss value runs (the loops need real tensors, so under
    a transform the PyTorch kernels run)."""
    target = torch.tensor([0, 2, 1, 1, 0, 2])
    logits = torch.randn(4, 6, 3)
    for loss in (FocalLoss(), GHMCLoss(momentum=0.0), ClassBalancedLoss(COUNTS, base="sigmoid")):
        with pytest.raises(NotImplementedError, match=r"torch\.func transforms.*backward"):
            torch.func.grad(lambda z, loss=loss: loss(z, target))(logits[0])
    for loss in (FocalLoss(), ClassBalancedLoss(COUNTS, base="sigmoid")):  # GHM-C's histogram
        batched = torch.func.vmap(lambda z, loss=loss: loss(z, target))(logits)  # has no rule
        torch.testing.assert_close(batched, torch.stack([loss(z, target) for z in logits]))


def test_twins_are_registered_for_every_kernel():
    from sklimb.losses.class_balanced import sigmoid_kernel
    from sklimb.losses.cross_entropy import softmax_ce_kernel
    from sklimb.losses.dice import dice_kernel
    from sklimb.losses.ghm import ghm_kernel

    for kernel in (focal_kernel, softmax_ce_kernel, dice_kernel, sigmoid_kernel, ghm_kernel):
        assert kernel in _compiled._TWINS


def test_a_per_class_constant_of_the_wrong_dtype_is_an_internal_error():
    """The callers convert bias and margins with the logits; a slip names itself."""
    assert _compiled.address(None, torch.float32) == 0
    good = torch.zeros(3)
    assert _compiled.address(good, torch.float32) == good.data_ptr()
    with pytest.raises(RuntimeError, match=r"internal error: a per-class constant of dtype "
                                           r"torch.float64 \(contiguous: True\) for "
                                           r"torch.float32 logits"):
        _compiled.address(torch.zeros(3, dtype=torch.float64), torch.float32)
    with pytest.raises(RuntimeError, match=r"contiguous: False"):
        _compiled.address(torch.zeros(6)[::2], torch.float32)


@pytest.mark.parametrize("backend", ["compiled"], indirect=True)
def test_warm_up_readies_every_loop_for_float32_in_a_new_process(backend):
    code = ("from sklimb.losses import _compiled; _compiled.warm_up(); loops = _compiled.loops(); "
            "print(*(any(str(s[8]).startswith('array(float32') for s in "
            "getattr(loops, name).signatures) "
            "for name in ('softmax_entry', 'sigmoid_entry', 'ghm_entry')))")
    assert _python(code) == "True True True"


@pytest.mark.parametrize("loss", [
    CrossEntropyLoss(label_smoothing=0.1), FocalLoss(), DiceLoss(), GHMCLoss(momentum=0.5),
    LDAMLoss([40, 10] * 12), ClassBalancedLoss([40, 10] * 12, base="sigmoid"),
], ids=lambda loss: type(loss).__name__)
@pytest.mark.parametrize("bad", [24, -1])
def test_large_batches_with_many_classes_name_bad_targets(loss, bad):
    """Above the loops' size limit with many classes (the compiled passes around PyTorch's
    functions, on the "compiled" backend) a target out of range gets the usual message."""
    logits = torch.randn(500, 24, requires_grad=True)
    target = torch.randint(0, 24, (500,))
    target[7] = bad
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 23\]"):
        loss(logits, target).backward()
