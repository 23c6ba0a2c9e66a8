"""Fixtures for the loss tests."""

import pytest
import torch

from sklimb.losses import _compiled

# the helpers in cases.py assert too: rewrite them like the tests, so that a failing check
# shows its values (this runs before any test module imports them)
pytest.register_assert_rewrite(f"{__package__}.cases")


@pytest.fixture(autouse=True, scope="package")
def single_torch_thread():
    """One intra-op thread: the tensors are tiny, and waking a thread pool for each op on a
    busy machine costs far more than the op."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def composition(monkeypatch):
    """Run the losses on their PyTorch compositions (the definitions), the compiled backend
    turned off."""
    monkeypatch.setattr(_compiled, "ENABLED", False)


@pytest.fixture
def compiled(monkeypatch):
    """Run the losses on the compiled backend wherever its guard lets it (skipped without
    numba)."""
    if _compiled.numba is None:
        pytest.skip("numba is not installed: the losses have no compiled backend")
    monkeypatch.setattr(_compiled, "ENABLED", True)


@pytest.fixture(params=["composition", "compiled"])
def route(request):
    """For checks of numerical behaviour, which differs between the two routes."""
    request.getfixturevalue(request.param)
    return request.param
