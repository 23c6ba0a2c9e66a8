"""scikit-learn's estimator checks as pytest parameters with readable, distinct test ids."""

import functools

import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator


def _check_name(check):
    while isinstance(check, functools.partial):
        check = check.func
    return check.__name__


def check_cases(configurations):
    """``pytest.param(estimator, check, id="<name>-<check>")`` for every configuration.

    ``configurations`` maps a name to ``(estimator, expected_failed_checks)``;
    the expected failures are marked ``xfail`` with their reason.
    """
    cases = []
    for name, (base, expected) in configurations.items():
        for item in estimator_checks_generator(base, expected_failed_checks=expected,
                                               mark="xfail"):
            # expected failures come as pytest.param objects carrying their xfail mark
            (estimator, check), marks = getattr(item, "values", item), getattr(item, "marks", ())
            cases.append(pytest.param(estimator, check, marks=marks,
                                      id=f"{name}-{_check_name(check)}"))
    return cases
