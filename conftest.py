"""Project-wide pytest configuration: Hypothesis settings profiles (harness/profiles.py says
which exist and how to choose one) and pytester (the regression-file plugin is installed as a pytest11 entry point)."""

import gc

import pytest

from harness.profiles import register

pytest_plugins = ["pytester"]  # the corpus plugin comes from the pytest11 entry point (pyproject.toml)

register()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what collection built (modules, items, the corpus) out of the garbage collector's
    sight: nothing of it is garbage, yet every full collection would walk it again, and pytester
    forces several per in-process run (gc_collect_harder). Speed only; nothing is skipped."""
    gc.freeze()
