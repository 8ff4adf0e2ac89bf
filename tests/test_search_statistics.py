"""`pytest --hypothesis-show-statistics` reports the searches tests run through search()
(harness/search_statistics.py), as Hypothesis reports its own `@given` tests."""

from __future__ import annotations

import re

import pytest

TINY = '''
from hypothesis import given, strategies as st
from harness.search import search

def test_one_search():
    assert search("mainline", ["terminates"], max_examples=7, seed=0, database=None).examples == 7

def test_a_search_that_finds():
    result = search("v5.19-rc1", ["terminates"], max_examples=2000, seed=1, database=None, shrink=False)
    assert result.counterexample is not None

def test_two_searches():
    for seed in (0, 1):
        search("mainline", ["terminates"], max_examples=3, seed=seed, database=None)

def test_no_search():
    assert 1 + 1 == 2

@given(st.integers())
def test_given(n):
    assert isinstance(n, int)
'''


def _counts(block: str) -> tuple[int, int]:
    """(passing, failing) of the generate phase, in either wording ("7 passing examples, 0 failing
    examples" up to Hypothesis 6.15x; "7 passing, 0 failing, and 0 invalid test cases" later)."""
    match = re.search(r"(\d+) passing(?: examples)?, (\d+) failing", block)
    assert match is not None, block
    return int(match.group(1)), int(match.group(2))


def _statistics(output: str) -> dict[str, str]:
    """nodeid (with its '(search i of n)' suffix) -> its block in the statistics section."""
    section = output.split("Hypothesis Statistics", 1)[1].split("passed", 1)[0]
    blocks: dict[str, str] = {}
    current = None
    for line in section.splitlines():
        if line.startswith("test_tiny.py::"):
            current = line.rstrip(":")
            blocks[current] = ""
        elif current is not None:
            blocks[current] += line + "\n"
    return blocks


def test_searches_report_their_statistics(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=TINY)
    result = pytester.runpytest("-p", "no:cacheprovider", "--hypothesis-show-statistics")
    result.assert_outcomes(passed=5)
    blocks = _statistics(result.stdout.str())
    assert set(blocks) == {"test_tiny.py::test_one_search", "test_tiny.py::test_a_search_that_finds",
                           "test_tiny.py::test_two_searches (search 1 of 2)",
                           "test_tiny.py::test_two_searches (search 2 of 2)",
                           "test_tiny.py::test_given"}  # Hypothesis' own, untouched; no search: no block
    one = blocks["test_tiny.py::test_one_search"]
    assert _counts(one) == (7, 0) and "settings.max_examples=7" in one
    found = blocks["test_tiny.py::test_a_search_that_finds"]
    assert _counts(found)[1] == 1 and "Found 1 distinct error" in found
    assert _counts(blocks["test_tiny.py::test_two_searches (search 2 of 2)"]) == (3, 0)


def test_no_statistics_without_the_flag_or_the_plugin(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=TINY)
    plain = pytester.runpytest("-p", "no:cacheprovider", "-k", "one_search")
    plain.assert_outcomes(passed=1, deselected=4)
    assert "Hypothesis Statistics" not in plain.stdout.str()
    off = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:gupharness", "--hypothesis-show-statistics",
                             "-k", "one_search")
    off.assert_outcomes(passed=1, deselected=4)
    assert " passing" not in off.stdout.str()


@pytest.mark.slow
def test_statistics_reach_the_controller_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_tiny=TINY)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--hypothesis-show-statistics")
    result.assert_outcomes(passed=5)
    assert _counts(_statistics(result.stdout.str())["test_tiny.py::test_one_search"]) == (7, 0)
