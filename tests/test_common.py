"""scikit-learn's estimator checks over ImbalancedNetClassifier."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklimb import ImbalancedNetClassifier

_SKORCH_INIT = (
    "skorch's NeuralNet.__init__ sets history_, initialized_, virtual_params_, prefixes_ "
    "and cuda_dependent_attributes_"
)
_SKORCH_SET_PARAMS = (
    "skorch's set_params stores callback and prefixed (module__/optimizer__) parameters "
    "differently from how they were passed"
)
_MINIBATCH = (
    "mini-batch stochastic training: repeating a row changes batch composition and the "
    "number of optimiser steps, so sample weights equal repetition only in expectation"
)
EXPECTED_FAILED_CHECKS = {
    "check_no_attributes_set_in_init": _SKORCH_INIT,
    "check_set_params": _SKORCH_SET_PARAMS,
    "check_sample_weight_equivalence_on_dense_data": _MINIBATCH,
}

ESTIMATORS = [
    ImbalancedNetClassifier(max_epochs=20, lr=0.01, random_state=0),
    ImbalancedNetClassifier(max_epochs=20, lr=0.01, random_state=0, loss="focal",
                            class_weight="balanced"),
    ImbalancedNetClassifier(max_epochs=20, lr=0.01, random_state=0, sampler="over",
                            class_weight="balanced", class_weight_start=0.5),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
