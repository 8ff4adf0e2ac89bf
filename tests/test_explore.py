"""The bounded-exhaustive explorer: clean scopes are proved clean, catalogued bugs that fit a
scope are found with a counterexample no longer than the corpus file's, and the reductions
(state de-duplication, page symmetry) do not hide anything a plain enumeration would find."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import attrs
import pytest

from harness.bench import bugs
from harness.explore import CI_SCOPE, THOROUGH_SCOPE, Scope, explore, vocabulary
from harness.model.kernels import PROFILE_NAMES
from harness.regression import RegressionError, load
from harness.run import run_scenario

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"


def _known(kernel: str) -> set[str]:
    known: set[str] = set()
    for path in sorted((ROOT / "regressions").glob("*.json")):
        try:
            known |= load(path).expected_failures(kernel)
        except RegressionError:
            continue
    return known


@pytest.mark.parametrize("kernel", PROFILE_NAMES)
def test_every_single_op_scenario_is_clean_except_recorded_bugs(kernel: str) -> None:
    from properties import PROPERTIES

    names = [p for p in PROPERTIES if p not in _known(kernel)]
    result = explore(kernel, attrs.evolve(CI_SCOPE, depth=1), names)
    assert result.counterexample is None, f"{result.failures} on {kernel}: {result.counterexample}"
    assert result.complete and result.runs > 500


def test_the_ci_scope_is_clean_on_mainline() -> None:
    result = explore("mainline", CI_SCOPE)
    assert result.counterexample is None, f"{result.failures}: {result.counterexample}"
    assert [level.depth for level in result.levels] == [1, 2]
    assert result.states < result.runs  # de-duplication merged something


@functools.cache
def _bugs() -> tuple[tuple[Path, str, str], ...]:
    """The corpus's catalogued bugs, read when pytest collects this module, never at import (a
    broken file is passed over: the corpus plugin reports it as its own failing item)."""
    return tuple(bugs(ROOT / "regressions", skip_broken=True))


def _catalogued(scope: Scope, widen_placement: bool = False) -> list[tuple[str, str, Path]]:
    """Catalogued bugs whose corpus scenario is one of the scope's (with `widen_placement`: in
    the scope with its placement set to the file's)."""
    chosen = []
    for path, kernel, prop in _bugs():
        scenario = load(path).scenario
        if widen_placement:
            scope = attrs.evolve(scope, placements=(scenario.layout[0].placement,))
        if scope.fits(scenario):
            chosen.append((kernel, prop, path))
    return chosen


def _bug_id(value: object) -> str:
    return value.name if isinstance(value, Path) else str(value)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.name == "test_catalogued_bugs_in_the_ci_scope_are_found_minimal":
        metafunc.parametrize("kernel,prop,path", _catalogued(CI_SCOPE), ids=_bug_id)
    elif metafunc.definition.name == "test_catalogued_bugs_in_the_thorough_scope_are_found_minimal":
        metafunc.parametrize("kernel,prop,path", _catalogued(THOROUGH_SCOPE, widen_placement=True), ids=_bug_id)


def test_catalogued_bugs_in_the_ci_scope_are_found_minimal(kernel: str, prop: str, path: Path) -> None:
    recorded = load(path).scenario
    result = explore(kernel, CI_SCOPE, [prop])
    assert result.counterexample is not None, f"{prop} on {kernel} not found within {CI_SCOPE.describe()}"
    assert len(result.counterexample.ops) <= len(recorded.ops)


@pytest.mark.skipif(not THOROUGH, reason="the depth-4 scope takes minutes: HYPOTHESIS_PROFILE=thorough runs it")
def test_catalogued_bugs_in_the_thorough_scope_are_found_minimal(kernel: str, prop: str, path: Path) -> None:
    recorded = load(path).scenario
    scope = attrs.evolve(THOROUGH_SCOPE, placements=(recorded.layout[0].placement,))
    result = explore(kernel, scope, [prop])
    assert result.counterexample is not None
    assert len(result.counterexample.ops) <= len(recorded.ops)


def test_gup_after_fork_is_found_at_depth_four() -> None:
    """The bug the Hypothesis search finds least often: four ops in two processes."""
    result = explore("v4.9", attrs.evolve(THOROUGH_SCOPE, prots=("rw",), backings=("anon",)),
                     ["private_stays_private"])
    assert result.counterexample is not None and len(result.counterexample.ops) == 4
    assert any(getattr(op, "process", 0) == 1 for op in result.counterexample.ops)


def test_deduplication_hides_nothing_a_plain_enumeration_finds() -> None:
    """The explorer's first violation is at the depth a plain enumeration (no de-duplication)
    finds first: nothing at depth 1, so its depth-2 counterexample is minimal."""
    scope = Scope(depth=2, prots=("rw",), shares=("private",), backings=("anon",), faults=("-",),
                  placements=("normal",), apis=("pin_user_pages",), races=False)
    reduced = explore("v5.9", scope, ["pin_coherence"])
    assert reduced.counterexample is not None
    # brute force: every sequence of two ops from the same vocabulary
    from harness.explore import _Node
    from harness.scenario import Scenario
    from properties import check_all

    first_depth = None
    root = _Node(Scenario(reduced.counterexample.layout, ()), (), 1, frozenset(), frozenset())
    for op in vocabulary(scope, root):
        one = Scenario(root.scenario.layout, (op,))
        run = run_scenario(one, "v5.9", trace=False)
        if not run.not_applicable and check_all(run, ["pin_coherence"])["pin_coherence"]:
            first_depth = 1
            break
    assert first_depth is None  # so the first violation is at depth 2, as the explorer says
    assert len(reduced.counterexample.ops) == 2


def test_untouched_pages_are_offered_once() -> None:
    from harness.explore import _Node
    from harness.scenario import Scenario, Vma

    scope = Scope(pages=3)
    root = _Node(Scenario((Vma(0, 3),), ()), (), 1, frozenset(), frozenset())
    assert {getattr(op, "page", getattr(op, "start", 0)) for op in vocabulary(scope, root)} == {0}
    touched = attrs.evolve(root, touched=frozenset({0}))
    assert {getattr(op, "page", getattr(op, "start", 0)) for op in vocabulary(scope, touched)} == {0, 1}
