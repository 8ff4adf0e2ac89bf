"""Hypothesis settings profiles, shared by pytest (conftest.py) and the command line.

- dev: quick feedback while editing (the default outside CI)
- ci: deterministic (derandomized, no example database), the default when CI is set.
  Hypothesis would load its own built-in "ci" profile whenever CI is set; we register ours
  under that name on purpose, so CI runs are reproducible and bounded.
- thorough: a long search, for before a release or after a model change

Choose with HYPOTHESIS_PROFILE=name (or pytest's --hypothesis-profile=name).

Sharing the example database between machines (so a failure one CI worker found is
replayed first by the others): GUPHARNESS_DB=/shared/dir uses a directory database there,
GUPHARNESS_REDIS=redis://host:6379/0 Hypothesis' Redis database (pip install
'hypothesis[redis]'). Either also applies to the ci profile, which then runs randomized
(Hypothesis keeps no database for derandomized runs).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase


def shared_database() -> ExampleDatabase | None:
    if os.environ.get("GUPHARNESS_REDIS"):
        import redis  # type: ignore[import-not-found]
        from hypothesis.extra.redis import RedisExampleDatabase
        return RedisExampleDatabase(redis.Redis.from_url(os.environ["GUPHARNESS_REDIS"]))
    if os.environ.get("GUPHARNESS_DB"):
        return DirectoryBasedExampleDatabase(os.environ["GUPHARNESS_DB"])
    return None


def register() -> None:
    """Register dev, ci and thorough, and load the one the environment asks for."""
    shared = shared_database()
    common: dict = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    if shared is not None:
        common["database"] = shared
    settings.register_profile("dev", max_examples=60, **common)
    settings.register_profile("ci", max_examples=150, print_blob=True, derandomize=shared is None,
                              **({"database": None} | common))
    settings.register_profile("thorough", max_examples=2000, **common)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
