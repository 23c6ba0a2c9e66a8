"""Fixtures for the loss tests."""

import pytest
import torch

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
