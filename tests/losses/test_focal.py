"""What is particular to the focal loss: alpha and its class shift."""

import torch

from sklimb.losses import FocalLoss, focal_loss


def test_hand_computed_value():
    # p_t = sigmoid(3) and sigmoid(0.5); loss = -(1 - p_t)^2 log p_t, averaged
    p = torch.sigmoid(torch.tensor([3.0, 0.5], dtype=torch.float64))
    expected = (-(1 - p) ** 2 * p.log()).mean()
    logits = torch.tensor([[3.0, 0.0], [0.0, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(focal_loss(logits, torch.tensor([0, 1])), expected)


def test_alpha_and_weight_multiply_and_shift_the_classes():
    loss = FocalLoss(alpha=0.25, weight=[1.0, 2.0])
    torch.testing.assert_close(loss.class_log_shift(), torch.tensor([0.75, 0.5]).log())
    logits, target = torch.randn(6, 2), torch.tensor([0, 1, 1, 0, 1, 0])
    torch.testing.assert_close(loss(logits, target),
                               focal_loss(logits, target, weight=[0.75, 0.5]))
