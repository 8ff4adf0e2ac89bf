"""Gup.repeat in generated scenarios and in reduction: common enough to be searched, gone when
a failure does not need it, kept (and alone) when it does."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, find, given, settings

from harness import scenario as sc
from harness.reduce import reduce
from harness.run import run_scenario
from strategies import scenarios

QUICK = settings(database=None, derandomize=True, suppress_health_check=list(HealthCheck), deadline=None)


@pytest.mark.slow
def test_generated_scenarios_repeat_calls_often_enough_to_reach_overflow() -> None:
    seen: list[tuple[int, ...]] = []

    @settings(QUICK, max_examples=300)
    @given(scenarios())
    def collect(scenario: sc.Scenario) -> None:
        seen.append(tuple(op.repeat for op in scenario.ops if isinstance(op, sc.Gup)))

    collect()
    repeated = sum(1 for reps in seen if any(r > 1 for r in reps))
    overflowing = sum(1 for reps in seen if any(r > 2**21 for r in reps))
    assert repeated >= len(seen) // 10, (repeated, len(seen))
    assert overflowing >= len(seen) // 20, (overflowing, len(seen))


@pytest.mark.slow
def test_shrinking_drops_a_repeat_the_failure_does_not_need() -> None:
    minimal = find(scenarios(), lambda s: any(isinstance(op, sc.Gup) for op in s.ops), settings=QUICK)
    assert [op.repeat for op in minimal.ops if isinstance(op, sc.Gup)] == [1]


def test_reduction_keeps_only_the_repeat_an_overflow_needs() -> None:
    page = sc.Vma(0, 1)
    bloated = sc.Scenario((page,), (
        sc.CpuWrite(0), sc.Gup("pin_user_pages", 0, 1, repeat=1024), sc.Gup("get_user_pages_fast", 0, 1),
        sc.Gup("pin_user_pages", 0, 1, repeat=2**21 + 1), sc.Fork(),
    ))

    def warns(candidate: sc.Scenario) -> bool:
        return bool(run_scenario(candidate, "mainline", trace=False).kernel.warnings)

    assert warns(bloated)
    reduced = reduce(bloated, warns)
    # the CPU write that makes the page anonymous (zero-page pins are not counted) is folded
    # into the layout (one operation fewer); then the normal form lets the call fault it in itself
    # (FOLL_WRITE), and a long-term pin, which unshares the zero page, does that with the simpler flag
    assert reduced.layout == (sc.Vma(0, 1),)
    assert reduced.ops == (sc.Gup("pin_user_pages", 0, 1, ("FOLL_LONGTERM",), repeat=2**21 + 1),)


def test_reduction_folds_only_a_first_access_by_the_first_process_into_the_layout() -> None:
    from harness.reduce import _fold_first_access

    layout = (sc.Vma(0, 2, faulted="r-"),)
    pin = sc.Gup("pin_user_pages", 0, 1)
    folded = _fold_first_access(sc.Scenario(layout, (sc.CpuWrite(1), pin, sc.Release(1))))
    assert folded == sc.Scenario((sc.Vma(0, 2, faulted="rw"),), (pin, sc.Release(0)))
    assert _fold_first_access(sc.Scenario(layout, (sc.CpuRead(0), pin))) is None  # already read-faulted
    assert _fold_first_access(sc.Scenario(layout, (pin, sc.CpuWrite(1)))) is None  # not first
    forked = sc.Scenario(layout, (sc.Fork(), sc.CpuWrite(1, process=1)))
    assert _fold_first_access(forked) is None


@pytest.mark.parametrize("repeat", [1, 2, 1024])
def test_a_repeated_pin_of_a_special_pte_bugs_like_a_single_one(repeat: int) -> None:
    """v5.7..v5.17 leave the pages[] entry of a special PTE unset (gup.NotAPage); using it is
    the BUG the runner reports for a call, and each repetition of a repeated call is that call
    (before, a repeated one went on and a device access through the entry followed)."""
    s = sc.Scenario((sc.Vma(0, 1, share="shared", backing="mixedmap", driver="s"),),
                    (sc.Gup("pin_user_pages", 0, 1, repeat=repeat), sc.DmaRead(0, 0)))
    run = run_scenario(s, "v5.9", trace=False)
    assert run.bug is not None and run.bug_at == 0 and "is freed pfn -1" in str(run.bug)
    assert run_scenario(s, "mainline", trace=False).bug is None  # 7196040e19ad: refused with -EEXIST
