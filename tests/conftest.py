"""Shared pytest configuration for the sklimb test suite.

Hypothesis runs under the ``sklimb`` profile by default: few examples, no
deadline (the first call of a torch op can be slow), a fixed seed (the same
examples on every run, so CI cannot flake) and no example database, so the
suite stays fast and writes nothing into the working tree. The ``thorough``
profile explores many more, random, examples:
``HYPOTHESIS_PROFILE=thorough pytest tests/losses/test_properties.py``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "sklimb",
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=500,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "sklimb"))
