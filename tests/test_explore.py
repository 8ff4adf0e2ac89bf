"""The bounded-exhaustive explorer: clean scopes are proved clean, catalogued bugs that fit a
scope are found with a counterexample no longer than the corpus file's, and the reductions
(state de-duplication, page symmetry) do not hide anything a plain enumeration would find."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import attrs
import pytest

from harness import scenario as sc
from harness.bench import bugs
from harness.explore import CI_SCOPE, THOROUGH_SCOPE, WIDE_SCOPE, Scope, explore, smallest_scope, vocabulary
from harness.model.kernels import PROFILE_NAMES
from harness.regression import load, recorded_failures
from harness.run import run_scenario

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"


def _known(kernel: str) -> set[str]:
    return recorded_failures(kernel, ROOT / "regressions")


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
    elif metafunc.definition.name == "test_catalogued_bugs_in_the_wide_scope_are_found_minimal":
        # only those no cheaper scope holds (the ci scope's are found by the test above)
        metafunc.parametrize("kernel,prop,path", [(kernel, prop, path) for kernel, prop, path in _catalogued(WIDE_SCOPE)
                                                  if smallest_scope(load(path).scenario) == "wide"], ids=_bug_id)
    elif metafunc.definition.name == "test_catalogued_bugs_in_the_thorough_scope_are_found_minimal":
        metafunc.parametrize("kernel,prop,path", _catalogued(THOROUGH_SCOPE, widen_placement=True), ids=_bug_id)


def test_catalogued_bugs_in_the_ci_scope_are_found_minimal(kernel: str, prop: str, path: Path) -> None:
    recorded = load(path).scenario
    result = explore(kernel, CI_SCOPE, [prop])
    assert result.counterexample is not None, f"{prop} on {kernel} not found within {CI_SCOPE.describe()}"
    assert len(result.counterexample.ops) <= len(recorded.ops)


def test_catalogued_bugs_in_the_wide_scope_are_found_minimal(kernel: str, prop: str, path: Path) -> None:
    """Driver mappings, io_uring, failing slab allocations, overflowing repeats: each such bug is
    met within the wide scope's first depth(s), no larger than its corpus file."""
    recorded = load(path).scenario
    result = explore(kernel, WIDE_SCOPE, [prop])
    assert result.counterexample is not None, f"{prop} on {kernel} not found within {WIDE_SCOPE.describe()}"
    assert len(result.counterexample.ops) <= len(recorded.ops)
    assert WIDE_SCOPE.fits(result.counterexample)


def test_every_catalogued_bug_fits_a_named_scope() -> None:
    outside = [path.name for path, _kernel, _prop in _bugs() if smallest_scope(load(path).scenario) is None]
    assert outside == []


def test_the_wide_scope_at_depth_one_is_clean_on_mainline_except_recorded_bugs() -> None:
    from properties import PROPERTIES

    names = [p for p in PROPERTIES if p not in _known("mainline")]
    result = explore("mainline", attrs.evolve(WIDE_SCOPE, depth=1), names)
    assert result.counterexample is None, f"{result.failures}: {result.counterexample}"
    assert result.complete and result.runs > 4000


@pytest.mark.skipif(not THOROUGH, reason="wide depth 1 takes ~0.5 s a profile: HYPOTHESIS_PROFILE=thorough runs it")
@pytest.mark.parametrize("kernel", PROFILE_NAMES)
def test_every_single_op_scenario_of_the_wide_scope_is_clean_except_recorded_bugs(kernel: str) -> None:
    from properties import PROPERTIES

    names = [p for p in PROPERTIES if p not in _known(kernel)]
    result = explore(kernel, attrs.evolve(WIDE_SCOPE, depth=1), names)
    assert result.counterexample is None, f"{result.failures} on {kernel}: {result.counterexample}"


def test_the_wide_vocabulary_is_valid_and_fits_its_scope() -> None:
    """Every layout and first op the wide scope offers is a valid scenario that fits() accepts,
    and it offers the new vocabulary: driver pages of both kinds, io_uring, vmsplice, a
    slab-failing long-term call, an overflowing repeat."""
    from harness.explore import _Node

    offered: list[sc.Scenario] = []
    for layout in WIDE_SCOPE.layouts():
        root = _Node(sc.Scenario(layout, ()), (), 1, frozenset(), frozenset())
        offered += [sc.Scenario(layout, (op,)) for op in vocabulary(WIDE_SCOPE, root)]
    for scenario in offered:
        sc.validate(scenario)
        assert WIDE_SCOPE.fits(scenario), scenario
    drivers = {s.layout[0].driver for s in offered if s.layout[0].backing == "mixedmap"}
    assert drivers == {"", "s"}  # "" spells all of the driver's own pages, as the format does
    gups = [op for s in offered for op in s.ops if isinstance(op, sc.Gup)]
    assert {"io_uring_register_buffers", "vmsplice", "get_user_pages_fast"} <= {g.api for g in gups}
    assert {g.repeat for g in gups if g.api == "vmsplice"} == {1, 1 << 32}
    assert {g.repeat for g in gups if g.api == "pin_user_pages"} == {1, (1 << 21) + 1}
    slab = [g for g in gups if g.interleave == (sc.FailSlab(),)]
    assert slab and all("FOLL_LONGTERM" in g.flags or g.api == "io_uring_register_buffers" for g in slab)


def test_fits_refuses_what_the_vocabulary_does_not_offer() -> None:
    vma = sc.Vma(0, 1, faulted="w")
    inside = sc.Scenario((vma,), (sc.Gup("pin_user_pages", 0, 1, ("FOLL_LONGTERM",), interleave=(sc.FailSlab(),)),))
    assert WIDE_SCOPE.fits(inside) and not CI_SCOPE.fits(inside)
    for op in (sc.Gup("pin_user_pages", 0, 1, (), interleave=(sc.FailSlab(),)),  # allocates nothing
               sc.Gup("io_uring_register_buffers", 0, 1, ("FOLL_FORCE",)),  # user space adds no flags
               sc.Gup("vmsplice", 0, 1, repeat=3),
               sc.Gup("pin_user_pages", 0, 1, ("FOLL_WRITE",), repeat=(1 << 21) + 1),
               sc.Release(0)):
        assert not WIDE_SCOPE.fits(sc.Scenario((vma,), (op,))), op
    mixed = sc.Vma(0, 2, share="shared", backing="mixedmap", driver="ps")  # pages unlike: no symmetry
    assert not attrs.evolve(WIDE_SCOPE, pages=2).fits(sc.Scenario((mixed,), ()))


def test_merged_states_have_the_same_futures_with_the_new_ops() -> None:
    """State de-duplication stays sound for repeats, slab failures, io_uring and driver pages:
    first ops that leave the same fingerprint behave alike under every second op (same
    verdicts, same next state)."""
    from harness.explore import _child, _Node
    from properties import check_all

    # the folio-array leak's kernel, and the one that pins a driver's CMA page in place
    cases = [("v6.11", (sc.Vma(0, 1, faulted="w"),)),
             ("v6.14", (sc.Vma(0, 1, "rw", "shared", "mixedmap", placement="cma"),))]
    merged = 0
    for kernel, layout in cases:
        root = _Node(sc.Scenario(layout, ()), (), 1, frozenset(), frozenset())
        by_state: dict[object, list[_Node]] = {}
        for op in vocabulary(WIDE_SCOPE, root):
            run = run_scenario(sc.Scenario(layout, (op,)), kernel, trace=False, final_state=True)
            if run.final_state is not None:
                by_state.setdefault(run.final_state, []).append(_child(root, op, run))
        for nodes in by_state.values():
            first, *others = nodes
            for other in others:
                assert other.held == first.held
                merged += 1
                for op in vocabulary(WIDE_SCOPE, first):
                    runs = [run_scenario(sc.Scenario(layout, node.scenario.ops + (op,)), kernel, trace=False,
                                         final_state=True) for node in (first, other)]
                    verdicts = [{k for k, v in check_all(r).items() if v} for r in runs]
                    assert verdicts[0] == verdicts[1], (first.scenario.ops, other.scenario.ops, op)
                    assert runs[0].final_state == runs[1].final_state
    assert merged > 10


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


def test_cli_wide_scope_finds_the_folio_array_leak(capsys: pytest.CaptureFixture[str]) -> None:
    """`--scope wide` reaches the v6.11 leak, a failing slab allocation inside a long-term pin."""
    import json

    from harness.cli import main

    assert main(["explore", "--kernel", "v6.11", "--scope", "wide", "--property", "pin_balance", "--no-save",
                 "--json", "--quiet"]) == 1
    data = json.loads(capsys.readouterr().out)
    (gup,) = data["counterexample"]["ops"]
    assert gup["interleave"] == [{"op": "fail_slab"}] and "FOLL_LONGTERM" in gup["flags"]
