"""The pre-v5.13 long-term path as the kernel had it: GUP-fast's CMA test (FOLL_PIN only from
df3a0a21b698, FOLL_GET|FOLL_LONGTERM refused from 447f3e45c18a) and where the pages a
long-term GUP faults in come from (the nocma scope in every allocation path from 8510e69c8efe,
ZONE_MOVABLE kept out from 8e3560d963d2)."""

from __future__ import annotations

import pytest

from harness import scenario as sc
from harness.model.flags import Errno
from harness.run import Run, run_scenario
from properties import check_all

V, G = sc.Vma, sc.Gup


def failing(run: Run) -> set[str]:
    return {name for name, verdict in check_all(run).items() if verdict}


def where(run: Run, op: int = 0) -> list[tuple[str, str]]:
    return [(g.zone, g.migratetype) for g in run.results[op].grabbed]


def migrated_from(run: Run) -> list[str]:
    return [e.text for e in run.trace if e.kind == "migrate"]


def one_call(api: str, flags: tuple[str, ...], placement: str, faulted: str = "w") -> sc.Scenario:
    return sc.validate(sc.Scenario((V(0, 1, faulted=faulted, placement=placement),), (G(api, 0, 1, flags),)))


@pytest.mark.parametrize("kernel", ["v5.4", "v5.7", "v5.9"])
def test_gup_fast_keeps_a_cma_page_for_a_longterm_get(kernel: str) -> None:
    run = run_scenario(one_call("get_user_pages_fast", ("FOLL_LONGTERM",), "cma"), kernel)
    assert run.results[0].result == 1 and where(run) == [("NORMAL", "CMA")]
    assert migrated_from(run) == []  # taken locklessly: the slow path's migration never ran
    assert "longterm_pins_only_on_pinnable" in failing(run)


@pytest.mark.parametrize("kernel", ["v5.7", "v5.9"])
def test_gup_fast_leaves_a_cma_page_to_the_slow_path_for_a_longterm_pin(kernel: str) -> None:
    """df3a0a21b698 (v5.7): try_grab_compound_head() refuses CMA for FOLL_PIN|FOLL_LONGTERM."""
    run = run_scenario(one_call("pin_user_pages_fast", ("FOLL_LONGTERM",), "cma"), kernel)
    assert run.results[0].result == 1 and where(run) == [("NORMAL", "MOVABLE")]
    assert len(migrated_from(run)) == 1 and failing(run) == set()


def test_from_v5_10_get_user_pages_fast_refuses_longterm_without_pin() -> None:
    run = run_scenario(one_call("get_user_pages_fast", ("FOLL_LONGTERM",), "cma"), "v5.10")
    assert run.results[0].result == -Errno.EINVAL and failing(run) == set()


def test_the_slow_longterm_get_migrates_cma_pages_out_before_v5_10() -> None:
    run = run_scenario(one_call("get_user_pages", ("FOLL_LONGTERM",), "cma"), "v5.9")
    assert where(run) == [("NORMAL", "MOVABLE")] and len(migrated_from(run)) == 1


def test_before_v5_9_a_longterm_fault_in_a_cma_vma_lands_in_cma_and_is_migrated_out() -> None:
    scenario = one_call("pin_user_pages", ("FOLL_LONGTERM", "FOLL_WRITE"), "cma", faulted="")
    before, after = run_scenario(scenario, "v5.8"), run_scenario(scenario, "v5.9")
    assert where(before) == where(after) == [("NORMAL", "MOVABLE")]  # the pin ends outside CMA either way
    assert len(migrated_from(before)) == 1 and "CMA" in migrated_from(before)[0]
    assert migrated_from(after) == []  # 8510e69c8efe: allocated outside CMA to begin with


@pytest.mark.parametrize("kernel,pinned_in", [("v5.9", "MOVABLE"), ("v5.10", "MOVABLE"), ("v5.13", "NORMAL")])
def test_a_longterm_fault_in_a_movable_vma_stays_in_zone_movable_until_v5_13(kernel: str, pinned_in: str) -> None:
    """Before 8e3560d963d2 the scope did not clear __GFP_MOVABLE, and nothing migrated
    ZONE_MOVABLE pages out (d1e153fea2a8 came with it): the pin holds ZONE_MOVABLE memory."""
    run = run_scenario(one_call("pin_user_pages", ("FOLL_LONGTERM", "FOLL_WRITE"), "movable", faulted=""), kernel)
    assert run.results[0].result == 1 and where(run) == [(pinned_in, "MOVABLE")]
    assert migrated_from(run) == []
    assert ("longterm_pins_only_on_pinnable" in failing(run)) is (pinned_in == "MOVABLE")
