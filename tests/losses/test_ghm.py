"""What is particular to GHM-C: its running bin densities."""

import numpy as np
import pytest
import torch

from sklimb.losses import GHMCLoss, ghm_c_loss

from .cases import bce_terms, random_case


def ema_reference(batches, bins, momentum):
    """The paper's loss with the EMA of the bin densities, in float64."""
    state, values = np.zeros(bins), []
    for logits, target in batches:
        bce, wrong = bce_terms(logits.double(), target)
        index = np.minimum((wrong.numpy() * bins).astype(int), bins - 1)
        count = np.bincount(index.ravel(), minlength=bins).astype(float)
        density = count / index.size
        if state.sum() > 0:
            density = momentum * state + (1 - momentum) * density
        state = density
        beta = 1.0 / (density[index] * (count > 0).sum())
        values.append(float((torch.as_tensor(beta) * bce).mean(1).mean()))
    return values, state


def test_running_densities_follow_the_papers_ema():
    batches = [random_case(n_samples=12, n_classes=3, seed=seed)[:2] for seed in range(4)]
    loss = GHMCLoss(bins=10, momentum=0.75).double()
    values = [float(loss(logits, target)) for logits, target in batches]
    expected, state = ema_reference(batches, 10, 0.75)
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    np.testing.assert_allclose(loss.running_density.numpy(), state, rtol=1e-6)


def test_evaluation_mode_and_update_false_leave_the_state_alone():
    logits, target, _, _ = random_case(n_samples=12, n_classes=3)
    loss = GHMCLoss(momentum=0.5).eval()
    loss(logits.float(), target)
    assert loss.running_density.sum() == 0
    state = torch.zeros(10)
    ghm_c_loss(logits, target, momentum=0.5, running_density=state, update=False)
    assert state.sum() == 0
    ghm_c_loss(logits, target, momentum=0.5, running_density=state)
    assert state.sum() > 0


def test_a_state_of_another_size_is_reported():
    loss = GHMCLoss(bins=10)
    loss.bins = 5
    with pytest.raises(ValueError, match="running_density has shape \\(10,\\) but bins=5"):
        loss(torch.zeros(2, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="running_density must have shape \\(4,\\)"):
        ghm_c_loss(torch.zeros(2, 2), torch.tensor([0, 1]), bins=4, momentum=0.5,
                   running_density=torch.zeros(3))


def test_nan_logits_give_a_nan_loss_on_every_route():
    logits = torch.tensor([[float("nan"), 0.0], [1.0, 2.0]])
    assert torch.isnan(ghm_c_loss(logits, torch.tensor([0, 1])))
