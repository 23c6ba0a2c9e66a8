"""The process state a fit sets and restores (sklimb._runtime)."""

import numpy as np
import torch

from sklimb import ImbalancedNetClassifier
from sklimb._runtime import flushed_subnormals


def subnormals_flushed():
    return torch.tensor([1e-40]).mul_(1.0).item() == 0.0


def test_subnormals_are_flushed_during_training_and_the_mode_restored():
    assert not subnormals_flushed()
    with flushed_subnormals():
        assert subnormals_flushed()
    assert not subnormals_flushed()
    torch.set_flush_denormal(True)  # a mode the caller set stays set
    try:
        with flushed_subnormals():
            assert subnormals_flushed()
        assert subnormals_flushed()
    finally:
        torch.set_flush_denormal(False)
    X, y = np.random.default_rng(0).normal(size=(40, 3)), np.arange(40) % 2
    ImbalancedNetClassifier(max_epochs=1, random_state=0).fit(X, y)
    assert not subnormals_flushed()
