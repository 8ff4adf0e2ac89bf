"""pytest plugin: Hypothesis statistics for the searches a plain test runs.

The property-search tests call `harness.search.search()`, which runs Hypothesis inside the
test instead of being a `@given` test, so Hypothesis' own plugin collects nothing for them and
`pytest --hypothesis-show-statistics` printed nothing. Here every search a test without `@given`
runs is collected and handed to Hypothesis' plugin, which prints it in its "Hypothesis
Statistics" section (and records it in `--junitxml`) exactly as for a `@given` test. Loaded by
the corpus plugin (harness/pytest_plugin.py), so `-p no:gupharness` turns it off too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

StatisticsDict = dict[str, Any]


@contextlib.contextmanager
def collecting(sink: Callable[[StatisticsDict], None]) -> Iterator[None]:
    """Hear the statistics of every Hypothesis run started inside the block.

    Leans on `hypothesis.statistics.collector`, not documented API but the hook Hypothesis' own
    pytest plugin uses (unchanged from 6.100 to 6.170 at least). Should it move, the block runs
    without statistics rather than fail the test."""
    try:
        from hypothesis.statistics import collector
        with_value = collector.with_value
    except (ImportError, AttributeError):  # pragma: no cover - a Hypothesis without the hook
        yield
        return
    with with_value(sink):  # type: ignore[arg-type]  # typed for its default, None
        yield


def describe(nodeid: str, runs: list[StatisticsDict]) -> str:
    """Hypothesis' own report for each run, headed by the test (and which search, if several)."""
    from hypothesis.statistics import describe_statistics

    parts = []
    for i, stats in enumerate(runs, 1):
        stats = dict(stats, nodeid=nodeid if len(runs) == 1 else f"{nodeid} (search {i} of {len(runs)})")
        parts.append(describe_statistics(stats))  # type: ignore[arg-type]  # a TypedDict there
    return "\n\n".join(parts)


def _runs_given(item: pytest.Item) -> bool:
    """A `@given` test: Hypothesis' plugin already collects its statistics."""
    test = getattr(item, "obj", None)
    try:
        from hypothesis import is_hypothesis_test
    except ImportError:  # before Hypothesis exported it (6.100 has only the attribute @given sets)
        return bool(getattr(getattr(test, "__func__", test), "is_hypothesis_test", False))
    return is_hypothesis_test(test)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    # as Hypothesis' own plugin does: in a session that has not imported Hypothesis, leave it
    # unimported (importing it here would spend a test's timeout on the import)
    if "hypothesis" not in sys.modules or not isinstance(item, pytest.Function) or _runs_given(item):
        return (yield)
    runs: list[StatisticsDict] = []
    try:
        with collecting(runs.append):
            return (yield)
    finally:
        if runs:
            hand_over(item, describe(item.nodeid, runs))


def hand_over(item: pytest.Item, text: str) -> None:
    """Give the report to Hypothesis' plugin as its own `@given` tests do: through the item
    attribute it reads when the test ends, printing it under --hypothesis-show-statistics and
    adding it to the JUnit report. tests/test_search_statistics.py runs pytest with the flag,
    on the oldest and the newest Hypothesis in tox, so a change on Hypothesis' side shows there."""
    item.hypothesis_statistics = text  # type: ignore[attr-defined]
