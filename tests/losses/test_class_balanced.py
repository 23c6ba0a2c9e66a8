"""What is particular to the class-balanced loss: the effective-number weights."""

import numpy as np
import pytest
import torch

from sklimb.losses import ClassBalancedLoss, effective_number_weights, effective_numbers


def test_effective_numbers_and_weights_hand_computed():
    np.testing.assert_allclose(effective_numbers([100, 10], beta=0.9),
                               [(1 - 0.9**100) / 0.1, (1 - 0.9**10) / 0.1])
    inverse = np.array([0.1 / (1 - 0.9**100), 0.1 / (1 - 0.9**10)])
    np.testing.assert_allclose(effective_number_weights([100, 10], beta=0.9),
                               2 * inverse / inverse.sum())


@pytest.mark.parametrize("beta, expected", [(0.0, [1.0, 1.0, 1.0]),
                                            (1 - 1e-12, [3 * x / 1.11 for x in (0.01, 0.1, 1)])])
def test_beta_spans_uniform_to_inverse_frequency(beta, expected):
    np.testing.assert_allclose(effective_number_weights([100, 10, 1], beta=beta), expected,
                               rtol=1e-6)


def test_empty_classes_weigh_like_one_sample_and_the_module_keeps_the_weights():
    weights = effective_number_weights([50, 0, 1], beta=0.99)
    assert weights[1] == weights[2]
    loss = ClassBalancedLoss(class_counts=[900, 100], beta=0.99, base="focal")
    torch.testing.assert_close(loss.class_weight,
                               torch.tensor(effective_number_weights([900, 100], 0.99)).float())
    torch.testing.assert_close(loss.class_log_shift(), loss.class_weight.log())
