"""Project-wide pytest configuration: Hypothesis settings profiles (harness/profiles.py says
which exist and how to choose one), pytester (the regression-file plugin is installed as a pytest11
entry point), and a bytecode cache the suite's subprocesses share."""

import gc
import os
import shutil
import tempfile

import pytest

from harness.profiles import register

pytest_plugins = ["pytester"]  # the corpus plugin comes from the pytest11 entry point (pyproject.toml)

register()

#: the shared bytecode cache this session made, removed when it ends
_SHARED_PYCACHE: str | None = None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Under PYTHONDONTWRITEBYTECODE every Python process the suite starts (xdist workers,
    pytester and CLI subprocesses, srcmut's pytest runs) compiled everything it imported anew,
    and pytest rewrote the asserts of Hypothesis' hundred modules again in each (it rewrites
    every module of a pytest11 plugin's distribution): about half a CPU second per pytest
    process, a tenth of the full suite. They share one cache in a temporary directory instead
    (PYTHONPYCACHEPREFIX), so still nothing is written next to any source. Speed only: a
    cached module is recompiled whenever its source changes, and mutants (harness/mutate.py)
    never go through the cache."""
    global _SHARED_PYCACHE
    if hasattr(config, "workerinput") or not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return  # an xdist worker (its controller did this), or bytecode is cached anyway
    if os.environ.get("PYTHONPYCACHEPREFIX"):
        return  # a cache chosen by whoever runs the suite (or by an enclosing session)
    # named after this process, like the suite's other per-process scratch names (a concurrent
    # session's tests then know it is not theirs: tests/test_oracle_live.py's leftover check)
    _SHARED_PYCACHE = tempfile.mkdtemp(prefix="gupharness-pycache-", suffix=f"-{os.getpid()}")
    os.environ["PYTHONPYCACHEPREFIX"] = _SHARED_PYCACHE
    os.environ["GUPHARNESS_DONTWRITEBYTECODE"] = os.environ.pop("PYTHONDONTWRITEBYTECODE")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _SHARED_PYCACHE
    if _SHARED_PYCACHE is None:
        return
    os.environ["PYTHONDONTWRITEBYTECODE"] = os.environ.pop("GUPHARNESS_DONTWRITEBYTECODE")
    del os.environ["PYTHONPYCACHEPREFIX"]
    shutil.rmtree(_SHARED_PYCACHE, ignore_errors=True)
    _SHARED_PYCACHE = None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what collection built (modules, items, the corpus) out of the garbage collector's
    sight: nothing of it is garbage, yet every full collection would walk it again, and pytester
    forces several per in-process run (gc_collect_harder). Speed only; nothing is skipped."""
    gc.freeze()
