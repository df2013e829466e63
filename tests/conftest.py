"""Shared test configuration: a deterministic Hypothesis profile for CI and local runs."""

import os

from hypothesis import HealthCheck, settings

# CI profile: derandomized (same examples every run), no example database, no deadline
# (the CI machine has 2 shared cores, so wall-clock deadlines would be flaky).
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
