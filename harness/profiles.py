"""Hypothesis settings profiles, shared by pytest (conftest.py) and the command line.

- dev: quick feedback while editing (the default outside CI)
- ci: deterministic (derandomized, no example database), the default when CI is set.
  Hypothesis would load its own built-in "ci" profile whenever CI is set; we register ours
  under that name on purpose, so CI runs are reproducible and bounded.
- thorough: a long search, for before a release or after a model change

Choose with HYPOTHESIS_PROFILE=name (or pytest's --hypothesis-profile=name).

Sharing the example database between machines (so a failure one CI worker found is
replayed first by the others), with Hypothesis' own database classes: GUPHARNESS_DB=/shared/dir
(a DirectoryBasedExampleDatabase, e.g. on a shared volume or restored from a CI cache) or
GUPHARNESS_REDIS=redis://host:6379/0 (a RedisExampleDatabase; pip install 'hypothesis[redis]').
The shared database is multiplexed with the local one (MultiplexedDatabase), so failures are
also kept locally; GUPHARNESS_DB_READONLY=1 wraps the shared one in a ReadOnlyDatabase (for
pull requests: replay what main found, never write to it). Either also applies to the ci
profile, which then runs randomized (Hypothesis keeps no database for derandomized runs).
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir, storage_directory
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)
from hypothesis.errors import InvalidArgument

PROFILE_NAMES = ("dev", "ci", "thorough")


class SettingsProfileError(ValueError):
    """The environment asks for a settings profile or database this machine cannot give."""


def shared_database() -> ExampleDatabase | None:
    if os.environ.get("GUPHARNESS_REDIS"):
        try:
            import redis  # type: ignore[import-not-found]
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError:
            raise SettingsProfileError("GUPHARNESS_REDIS is set but the redis package is not installed "
                                       "(pip install 'hypothesis[redis]')") from None
        try:
            client = redis.Redis.from_url(os.environ["GUPHARNESS_REDIS"])
        except ValueError as exc:
            raise SettingsProfileError(f"GUPHARNESS_REDIS: {exc}") from None
        shared: ExampleDatabase = RedisExampleDatabase(client)
    elif os.environ.get("GUPHARNESS_DB"):
        shared = DirectoryBasedExampleDatabase(os.environ["GUPHARNESS_DB"])
    else:
        return None
    if os.environ.get("GUPHARNESS_DB_READONLY", "") not in ("", "0"):
        shared = ReadOnlyDatabase(shared)
    local = DirectoryBasedExampleDatabase(_local_examples())
    return MultiplexedDatabase(local, shared)


def _local_examples() -> Path:
    """Where Hypothesis keeps this machine's examples (its own storage directory)."""
    try:
        directory: object = storage_directory("examples", intent_to_write=False)
    except TypeError:  # Hypothesis before the intent_to_write argument
        directory = storage_directory("examples")
    # a plain Path up to some 6.1xx (6.100 among them), an object with .path since
    return Path(getattr(directory, "path", directory))  # type: ignore[arg-type]


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
    chosen = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
    try:
        settings.load_profile(chosen)
    except InvalidArgument:
        raise SettingsProfileError(f"HYPOTHESIS_PROFILE={chosen}: unknown settings profile "
                                   f"(known: {', '.join(PROFILE_NAMES)})") from None


def keep_hypothesis_files_out_of_cwd() -> None:
    """The command line keeps Hypothesis' own files (the example database) in the user's cache
    directory, not in `.hypothesis/` wherever it happens to run; HYPOTHESIS_STORAGE_DIRECTORY or
    GUPHARNESS_DB choose another place. pytest keeps Hypothesis' default (`.hypothesis/` at the root)."""
    home = os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
    if not home:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        home = str(Path(cache) / "gupharness" / "hypothesis")
    set_hypothesis_home_dir(home)
