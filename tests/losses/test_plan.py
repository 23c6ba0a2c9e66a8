"""Replayed loss calls (``sklimb.losses._plan``): the full path's result, and the full
path whenever the inputs or the module changed."""

import copy
import pickle
import threading

import numpy as np
import pytest
import torch

from sklimb.losses import (
    ClassBalancedLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GHMCLoss,
    ImbalanceLoss,
    LDAMLoss,
    LogitAdjustedLoss,
    _compiled,
    focal_loss,
)

COUNTS = [40, 10, 3]
W = [0.5, 1.0, 2.0]
LOSSES = {
    "ce": lambda r: CrossEntropyLoss(reduction=r),
    "ce+smoothing+weight": lambda r: CrossEntropyLoss(weight=W, label_smoothing=0.1,
                                                      reduction=r),
    "focal": lambda r: FocalLoss(reduction=r),
    "focal+alpha+weight": lambda r: FocalLoss(alpha=[0.2, 0.3, 0.5], weight=W, reduction=r),
    "dice+weight": lambda r: DiceLoss(weight=W, reduction=r),
    "ghm+ema+weight": lambda r: GHMCLoss(momentum=0.5, weight=W, reduction=r),
    "ldam+weight": lambda r: LDAMLoss(COUNTS, weight=W, reduction=r),
    "logit_adjusted+weight": lambda r: LogitAdjustedLoss(COUNTS, weight=W, reduction=r),
    "cb_softmax": lambda r: ClassBalancedLoss(COUNTS, reduction=r),
    "cb_focal+weight": lambda r: ClassBalancedLoss(COUNTS, base="focal", weight=W, reduction=r),
    "cb_sigmoid_focal": lambda r: ClassBalancedLoss(COUNTS, base="sigmoid_focal", reduction=r),
}
compiled_only = pytest.mark.parametrize("backend", ["compiled"], indirect=True)


def _batch(n_samples, seed, dtype=torch.float32, n_classes=3):
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n_samples, n_classes, generator=gen) * 3).to(dtype)
    return logits, torch.randint(0, n_classes, (n_samples,), generator=gen)


def _run(loss, logits, target, **kwargs):
    x = logits.detach().clone().requires_grad_()
    value = loss(x, target, **kwargs)
    value.sum().backward()
    return value.detach(), x.grad


def _full_path(loss, logits, target, **kwargs):
    """What the module computes without a plan: a copy of it (copies carry none), state
    included, called once."""
    fresh = copy.deepcopy(loss)
    assert fresh._plan is None
    return _run(fresh, logits, target, **kwargs), fresh


@pytest.fixture
def full_calls(monkeypatch):
    """The modules whose full path (``_compute``) ran, one entry per call."""
    calls = []
    for cls in {type(make("mean")) for make in LOSSES.values()}:
        original = cls._compute

        def counting(self, *args, _original=original, **kwargs):
            calls.append(self)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "_compute", counting)
    return calls


def _assert_same(actual, expected):
    # the same loop with the same arguments: the same bits
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype == e.dtype
        torch.testing.assert_close(a, e, rtol=0, atol=0)


@compiled_only
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_replay_gives_the_full_paths_result(name, reduction, dtype, full_calls):
    loss = LOSSES[name](reduction)
    _run(loss, *_batch(64, 0, dtype))
    assert loss._plan is not None
    for n_samples, seed in ((64, 1), (17, 2), (1, 3)):
        logits, target = _batch(n_samples, seed, dtype)
        del full_calls[:]
        expected, fresh = _full_path(loss, logits, target)
        _assert_same(_run(loss, logits, target), expected)
        assert full_calls == [fresh]  # only the copy took the full path
        for name_, buffer in fresh.named_buffers():  # GHM's EMA state moved the same way
            torch.testing.assert_close(loss.get_buffer(name_), buffer, rtol=0, atol=0)
    with torch.no_grad():  # evaluation replays too, without a gradient
        logits, target = _batch(32, 4, dtype)
        del full_calls[:]
        expected = copy.deepcopy(loss)(logits, target)
        torch.testing.assert_close(loss(logits, target), expected, rtol=0, atol=0)
        assert len(full_calls) == 1


def _set_gamma(loss):
    loss.gamma = 3.0


def _scale_weight_in_place(loss):
    loss.weight.mul_(3.0)


def _replace_weight(loss):
    loss.weight = torch.tensor([2.0, 1.0, 0.25])


def _swap_weight_data(loss):
    loss.weight.data = torch.tensor([2.0, 1.0, 0.25])  # no version change, other memory


def _register_weight(loss):
    loss.register_buffer("weight", torch.tensor([2.0, 1.0, 0.25]))


def _load_state(loss):
    loss.load_state_dict({**loss.state_dict(), "weight": torch.tensor([2.0, 1.0, 0.25])})


def _to_float64(loss):
    loss.double()


def _set_reduction(loss):
    loss.reduction = "sum"


def _drop_weight(loss):
    loss.weight = None


CHANGES = [_set_gamma, _scale_weight_in_place, _replace_weight, _swap_weight_data,
           _register_weight, _load_state, _to_float64, _set_reduction, _drop_weight]


@compiled_only
@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__.strip("_"))
def test_a_changed_module_takes_the_full_path_then_replays_again(change, full_calls):
    loss = FocalLoss(weight=W)
    _run(loss, *_batch(64, 0))
    change(loss)
    logits, target = _batch(64, 1)
    expected, _ = _full_path(loss, logits, target)
    del full_calls[:]
    _assert_same(_run(loss, logits, target), expected)
    assert full_calls == [loss]
    logits, target = _batch(48, 2)
    expected, _ = _full_path(loss, logits, target)
    del full_calls[:]
    _assert_same(_run(loss, logits, target), expected)
    assert full_calls != [loss]  # the plan was recorded again


@compiled_only
def test_ghm_state_updates_stop_in_eval_mode(full_calls):
    loss = GHMCLoss(momentum=0.5)
    _run(loss, *_batch(64, 0))
    loss.train()  # the same value: the plan stays
    del full_calls[:]
    _run(loss, *_batch(64, 1))
    assert full_calls == []
    state = loss.running_density.clone()
    loss.eval()
    _run(loss, *_batch(64, 2))
    _run(loss, *_batch(64, 3))
    torch.testing.assert_close(loss.running_density, state, rtol=0, atol=0)
    assert full_calls == [loss]


def _sample_weight(logits, target):
    return {"sample_weight": torch.linspace(0.5, 1.5, target.shape[0])}


def _non_contiguous(logits, target):
    return {"logits": logits.t().contiguous().t()}


def _bfloat16(logits, target):
    return {"logits": logits.to(torch.bfloat16)}


def _float64(logits, target):
    return {"logits": logits.double()}


def _int32_target(logits, target):
    return {"target": target.int()}


def _above_the_loop_limit(logits, target):
    rows = _compiled.COMPILED_MAX_ELEMENTS // 3 + 1
    return {"logits": logits.repeat(rows // 64 + 1, 1)[:rows],
            "target": target.repeat(rows // 64 + 1)[:rows]}


FALLBACKS = [_sample_weight, _non_contiguous, _bfloat16, _float64, _int32_target,
             _above_the_loop_limit]


@compiled_only
@pytest.mark.parametrize("inputs", FALLBACKS, ids=lambda f: f.__name__.strip("_"))
def test_inputs_the_plan_was_not_recorded_for_take_the_full_path(inputs, full_calls):
    loss = FocalLoss(weight=W)
    _run(loss, *_batch(64, 0))
    logits, target = _batch(64, 1)
    args = {"logits": logits, "target": target}
    extra = inputs(logits, target)
    args.update(extra)
    kwargs = {k: v for k, v in args.items() if k == "sample_weight"}
    expected, _ = _full_path(loss, args["logits"], args["target"], **kwargs)
    del full_calls[:]
    _assert_same(_run(loss, args["logits"], args["target"], **kwargs), expected)
    assert full_calls == [loss]


@compiled_only
@pytest.mark.parametrize("logits, target, match", [
    (torch.randn(8, 4), torch.randint(0, 4, (8,)), "weight has 3 entries but logits have 4"),
    (torch.randn(8, 3), torch.tensor([0, 1, 2, 3, 0, 1, 2, 0]), r"must lie in \[0, 2\]"),
    (torch.randn(8, 3), torch.tensor([0, 1, 2, -1, 0, 1, 2, 0]), r"got values in \[-1, 2\]"),
    (torch.randn(0, 3), torch.zeros(0, dtype=torch.long), "0 samples"),
    (torch.randn(8, 3), torch.randint(0, 3, (7,)), r"target must have shape \(8,\)"),
    (torch.randn(8, 3), torch.rand(8), "integer class indices"),
    (np.zeros((8, 3), np.float32), torch.zeros(8, dtype=torch.long), "must be torch tensors"),
])
def test_bad_inputs_after_a_recorded_call_get_the_same_error(logits, target, match):
    loss = FocalLoss(weight=W)
    _run(loss, *_batch(64, 0))
    assert loss._plan is not None
    for module in (loss, FocalLoss(weight=W)):  # with the plan, and a new module
        with pytest.raises(ValueError, match=match):
            module(logits, target)


@compiled_only
def test_torch_func_transforms_get_the_full_paths_error():
    loss = FocalLoss()
    _run(loss, *_batch(64, 0))
    logits, target = _batch(8, 1)
    with pytest.raises(NotImplementedError, match=r"torch\.func"):
        torch.func.grad(lambda x: loss(x, target))(logits)


@compiled_only
@pytest.mark.parametrize("copier", [copy.deepcopy, copy.copy,
                                    lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "copy", "pickle"])
def test_copies_and_pickles_carry_no_plan(copier):
    loss = GHMCLoss(momentum=0.5, weight=W)
    _run(loss, *_batch(64, 0))
    assert loss._plan is not None
    other = copier(loss)
    assert other._plan is None
    logits, target = _batch(64, 1)
    expected, _ = _full_path(loss, logits, target)
    _assert_same(_run(other, logits, target), expected)


def test_without_the_compiled_loops_nothing_is_recorded(backend):
    loss = FocalLoss(weight=W)
    for seed in range(3):
        _run(loss, *_batch(64, seed))
    assert (loss._plan is not None) == (backend == "compiled")


@compiled_only
def test_a_module_combining_calls_is_not_replayed():
    """Only a forward pass whose output is one compiled call's output is recorded."""

    class Doubled(ImbalanceLoss):
        def _compute(self, logits, target, sample_weight):
            return 2 * focal_loss(logits, target)

    class Summed(ImbalanceLoss):
        def __init__(self):
            super().__init__()
            self.inner = FocalLoss()

        def _compute(self, logits, target, sample_weight):
            return self.inner(logits, target) + focal_loss(logits, target, gamma=0.0)

    for loss in (Doubled(), Summed()):
        first = _batch(64, 0)
        second = _batch(64, 1)
        loss(*first)
        assert loss._plan is None
        expected = 2 * focal_loss(*second) if isinstance(loss, Doubled) else (
            focal_loss(*second) + focal_loss(*second, gamma=0.0))
        torch.testing.assert_close(loss(*second), expected, rtol=0, atol=0)


def test_a_subclass_with_its_own_forward_is_called_as_written():
    class Custom(ImbalanceLoss):
        def forward(self, logits, target, sample_weight=None):
            return focal_loss(logits, target) + 1.0

    loss = Custom()
    logits, target = _batch(16, 0)
    for _ in range(2):
        torch.testing.assert_close(loss(logits, target), focal_loss(logits, target) + 1.0)
    assert loss._plan is None
    with pytest.raises(NotImplementedError, match="must implement forward"):
        ImbalanceLoss()(logits, target)


@compiled_only
def test_recording_is_per_thread():
    calls = _compiled.RECORDING.calls = []
    try:
        thread = threading.Thread(target=focal_loss, args=_batch(16, 0))
        thread.start()
        thread.join()
        assert calls == []
        focal_loss(*_batch(16, 0))
        assert len(calls) == 1
    finally:
        _compiled.RECORDING.calls = None


@compiled_only
@pytest.mark.parametrize("inputs", [_bfloat16, _int32_target], ids=["bfloat16", "int32_target"])
def test_inputs_a_plan_would_not_replay_record_none(inputs):
    """Half-precision logits (promoted on the full path) and int32 targets would make a plan
    that the next such call cannot replay: none is recorded, the one there is stays."""
    loss = FocalLoss(weight=W)
    logits, target = _batch(64, 0)
    args = {"logits": logits, "target": target, **inputs(logits, target)}
    loss(args["logits"], args["target"])
    assert loss._plan is None
    loss(logits, target)
    plan = loss._plan
    assert plan is not None
    loss(args["logits"], args["target"])
    assert loss._plan is plan
