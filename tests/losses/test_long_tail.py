"""What is particular to LDAM and logit adjustment: margins, priors and class shifts."""

import pytest
import torch

from sklimb.losses import LDAMLoss, LogitAdjustedLoss, ldam_margins, log_priors


def test_margins_and_priors_hand_computed():
    torch.testing.assert_close(ldam_margins([10000, 1], max_margin=0.5),
                               torch.tensor([0.05, 0.5]))
    torch.testing.assert_close(ldam_margins([16, 0], max_margin=1.0), torch.tensor([0.5, 1.0]))
    torch.testing.assert_close(log_priors([3, 1]), torch.tensor([0.75, 0.25]).log())
    assert LDAMLoss(class_counts=[16, 1]).margins.tolist() == [0.25, 0.5]


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0])
def test_logit_adjustment_shifts_the_classes_by_minus_tau_log_prior(tau):
    loss = LogitAdjustedLoss(class_counts=[3, 1], tau=tau, weight=[1.0, 2.0])
    expected = torch.tensor([1.0, 2.0]).log() - tau * log_priors([3, 1])
    torch.testing.assert_close(loss.class_log_shift(), expected)
    assert LDAMLoss(class_counts=[3, 1]).class_log_shift() is None


def test_ldam_penalises_the_rare_class_more():
    logits = torch.zeros(2, 2)
    per_example = LDAMLoss(class_counts=[100, 1], reduction="none")(logits, torch.tensor([0, 1]))
    assert per_example[1] > per_example[0]
