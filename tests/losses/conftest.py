"""Fixtures for the loss tests."""

import pytest
import torch

from sklimb.losses import _compiled

# the shared helpers in _reference assert too: rewrite them like the tests, so that a
# failing check shows its values (this runs before any test module imports them)
pytest.register_assert_rewrite(f"{__package__}._reference")


@pytest.fixture(autouse=True, scope="package")
def single_torch_thread():
    """Run the loss tests on one intra-op thread.

    Their tensors are tiny: on a busy machine, waking a thread pool for each
    op costs far more than the op itself (about 20x here).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True, params=["compiled", "torch"])
def backend(request, monkeypatch):
    """Every loss test runs on both backends: the compiled loops of
    ``sklimb.losses._loops`` (numba; skipped where it is not installed) and the
    PyTorch kernels. Logits above the compiled loops' size limit take the
    PyTorch kernels on both."""
    if request.param == "compiled":
        if _compiled.loops() is None:
            pytest.skip("numba is not installed: the losses run on their PyTorch kernels")
        monkeypatch.setattr(_compiled, "ENABLED", True)
    else:
        monkeypatch.setattr(_compiled, "ENABLED", False)
    return request.param
