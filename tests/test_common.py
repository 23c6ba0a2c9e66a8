"""scikit-learn's estimator checks over ImbalancedNetClassifier and TunedDecisionClassifier.

Each configuration gets a test id of its own (``<configuration>-<check>``), so a failure
names the configuration that failed.
"""

import pytest
from _checks import check_cases
from sklearn.linear_model import LogisticRegression

from sklimb import ImbalancedNetClassifier
from sklimb.decision import TunedDecisionClassifier

_SKORCH_INIT = (
    "skorch's NeuralNet.__init__ sets history_, initialized_, virtual_params_, prefixes_ "
    "and cuda_dependent_attributes_"
)
_MINIBATCH = (
    "mini-batch stochastic training: repeating a row changes batch composition and the "
    "number of optimiser steps, so sample weights equal repetition only in expectation"
)
NET_EXPECTED_FAILURES = {
    "check_no_attributes_set_in_init": _SKORCH_INIT,
    "check_sample_weight_equivalence_on_dense_data": _MINIBATCH,
}

# short training: the checks' data sets are small and easy; batches of 64 give every
# configuration enough optimiser steps in 20 epochs
SHORT = dict(max_epochs=20, batch_size=64, random_state=0)
CONFIGURATIONS = {
    "net-default": (ImbalancedNetClassifier(**SHORT), NET_EXPECTED_FAILURES),
    "net-ensemble-focal-balanced": (
        ImbalancedNetClassifier(module="ensemble_mlp", module__n_members=4, loss="focal",
                                class_weight="balanced", **SHORT),
        NET_EXPECTED_FAILURES),
    "net-epoch-over-drw": (  # the weights apply to the second half only: train longer
        ImbalancedNetClassifier(sampler="over", class_weight="balanced",
                                class_weight_start=0.5, ema_decay=None,
                                **{**SHORT, "max_epochs": 40}),
        NET_EXPECTED_FAILURES),
    "tuned-decision": (
        TunedDecisionClassifier(LogisticRegression(), cv=3, random_state=0),
        {"check_classifiers_train": "predict applies the tuned offsets, so by design it is "
                                    "not the argmax of predict_proba"}),
}


CASES = check_cases(CONFIGURATIONS)


@pytest.mark.parametrize("estimator, check", CASES)
def test_sklearn_compatible(estimator, check):
    check(estimator)
