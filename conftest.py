"""Project-wide pytest configuration: Hypothesis settings profiles and the regression plugin.

Profiles (choose with HYPOTHESIS_PROFILE=name, or pytest's --hypothesis-profile=name):
- dev: quick feedback while editing (the default outside CI)
- ci: deterministic (derandomized, no example database), the default when CI is set.
  Hypothesis would load its own built-in "ci" profile whenever CI is set; we register
  ours under that name on purpose, so CI runs are reproducible and bounded.
- thorough: a long search, for before a release or after a model change
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["harness.pytest_plugin", "pytester"]

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=60, **_common)
settings.register_profile("ci", max_examples=150, derandomize=True, database=None, print_blob=True, **_common)
settings.register_profile("thorough", max_examples=2000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
