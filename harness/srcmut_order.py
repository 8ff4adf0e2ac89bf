"""A pytest plugin for `gupharness srcmut` (`-p harness.srcmut_order`): model-level tests
first and the slowest, least model-bound ones last, so that `-x` stops a killed mutant early.
Files keep their tests together and in order (module fixtures are unaffected)."""

from __future__ import annotations

import pytest

#: run first: the corpus replay and the before/after rule tests exercise the model directly
FIRST = ("regressions/", "tests/test_switches.py", "tests/test_model_rules.py", "tests/test_mutation_gaps.py", "tests/test_stated_rules.py", "tests/test_fidelity.py",
         "tests/test_driver_and_isolation.py", "tests/test_variants.py", "tests/test_snapshot.py",
         "tests/test_families.py", "tests/test_regression_files.py")
#: run last: searches on injected faults, CLI robustness, the hand-written mutants' subprocesses
LAST = ("tests/test_cli_fuzz.py", "tests/test_progress.py", "tests/test_timeout_backstop.py",
        "tests/test_mutants.py", "tests/test_srcmut.py", "tests/test_known.py")


def _rank(nodeid: str) -> int:
    for i, prefix in enumerate(FIRST):
        if nodeid.startswith(prefix):
            return i
    for i, prefix in enumerate(LAST):
        if nodeid.startswith(prefix):
            return len(FIRST) + 1 + i
    return len(FIRST)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: _rank(item.nodeid))
