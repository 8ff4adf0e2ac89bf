"""Driver (VM_MIXEDMAP) mappings, folios that cannot be isolated, racing isolations and batch
references: the scenario format, the model's rules, drivability and how often the search
generates them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from harness import scenario as sc
from harness import serialize
from harness.cli import main
from harness.model.kernels import PROFILES, TIMELINE
from harness.oracle.execute import NotDrivable, check_layout
from harness.run import run_scenario
from properties import check_all
from strategies import for_profile, scenarios
from strategies.drivable import drivable_scenarios, not_drivable

V, G = sc.Vma, sc.Gup
ROOT = Path(__file__).resolve().parent.parent


def mixed(pages: int = 1, **fields: object) -> sc.Vma:
    return V(0, pages, share="shared", backing="mixedmap", **fields)  # type: ignore[arg-type]


def failing(run) -> set[str]:  # type: ignore[no-untyped-def]
    return {name for name, verdict in check_all(run).items() if verdict}


# -- scenario format ------------------------------------------------------------------------

@pytest.mark.parametrize("layout,ops,where", [
    ((V(0, 1, backing="mixedmap"),), (), "layout[0].share"),
    ((mixed(placement="movable"),), (), "layout[0].placement"),
    ((mixed(2, driver="p"),), (), "layout[0].driver"),
    ((mixed(1, driver="x"),), (), "layout[0].driver"),
    ((V(0, 1, driver="s"),), (), "layout[0].driver"),
    ((V(0, 1),), (sc.Isolate(0),), "ops[0]"),
    ((V(0, 1),), (G("pin_user_pages", 0, 1, interleave=(sc.BatchRef(0),)),), "ops[0].interleave[0]"),
    ((V(0, 1),), (sc.BatchRef(0, process=1),), "ops[0].process"),
])
def test_impossible_driver_layouts_and_misplaced_races_are_refused(layout, ops, where: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(sc.ScenarioError) as excinfo:
        sc.validate(sc.Scenario(layout, ops))
    assert excinfo.value.where == where
    assert "\n" not in str(excinfo.value)


def test_driver_layouts_and_races_round_trip_through_json() -> None:
    scenario = sc.validate(sc.Scenario(
        (mixed(3, driver="psp", placement="cma", faulted="rw-"), V(4, 1, faulted="w", placement="movable")),
        (sc.BatchRef(4), G("pin_user_pages", 0, 5, ("FOLL_LONGTERM",), (sc.Isolate(4),)))))
    data = json.loads(serialize.dumps(scenario))
    assert data["layout"][0]["driver"] == "psp"
    assert [op["op"] for op in data["ops"]] == ["batch_ref", "gup"]
    assert data["ops"][1]["interleave"] == [{"page": 4, "op": "isolate"}]
    assert serialize.from_data(data) == scenario


def test_a_bad_driver_string_in_a_file_is_one_line_and_exit_2(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads((ROOT / "regressions" / "pin-of-special-pte-returns-unset-pages-entry.json").read_text())
    data["scenario"]["layout"][0]["driver"] = "q"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "scenario.layout[0].driver" in err and err.count("\n") == 1


# -- the model --------------------------------------------------------------------------------

def test_driver_pages_are_referenced_mapped_shared_at_fork_and_never_freed() -> None:
    scenario = sc.Scenario((mixed(2, driver="ps", faulted="ww"),),
                           (sc.Fork(), sc.MadvDontneed(0, 2), sc.CpuRead(0), sc.Exit(1), sc.CpuWrite(1)))
    run = run_scenario(scenario, "mainline")
    assert not failing(run)
    assert [r.result for r in run.results] == [None, 0, 0, None, 0]
    (page,) = [f for f in run.kernel.mem.live() if f.driver]
    assert page.refcount == 2 and page.mapcount == 1  # the driver's own reference and process 0's mapping
    child_maps = [s.maps for s in run.snapshots][0]
    assert child_maps[(1, 0)] == child_maps[(0, 0)] == page.pfn  # the child copied the driver's PTE
    assert run.kernel.mms[0].ptes[1].special and run.kernel.mms[0].ptes[1].folio is None


@pytest.mark.parametrize("kernel,expected", [("v4.8", -14), ("v5.13", -14), ("mainline", -17)])
def test_get_of_a_special_pte_fails_with_the_eras_errno(kernel: str, expected: int) -> None:
    run = run_scenario(sc.Scenario((mixed(2, driver="ps"),), (G("get_user_pages", 0, 2),)), kernel)
    assert run.results[0].result == 1  # the driver's page before it, then the special PTE stops the walk
    run = run_scenario(sc.Scenario((mixed(1, driver="s"),), (G("get_user_pages", 0, 1),)), kernel)
    assert run.results[0].result == expected and not failing(run)


def test_gup_fast_leaves_special_ptes_to_the_slow_path() -> None:
    run = run_scenario(sc.Scenario((mixed(2, driver="ps", faulted="ww"),), (G("pin_user_pages_fast", 0, 2),)),
                       "mainline")
    fast = [e.text for e in run.trace if e.kind == "fast"]
    assert fast == ["GUP-fast took 1 page(s)"]
    assert run.results[0].result == 1 and not failing(run)


def test_before_7196040e19ad_a_pin_of_a_special_pte_returns_an_entry_that_is_not_a_page() -> None:
    scenario = sc.Scenario((mixed(1, driver="s", faulted="w"),),
                           (G("pin_user_pages", 0, 1, ("FOLL_WRITE",)), sc.DmaWrite(0), sc.Release(0)))
    run = run_scenario(scenario, "v5.13")
    (grab,) = run.results[0].grabbed
    assert run.results[0].result == 1 and not grab.live and grab.pfn == -1
    # the bogus entry breaks the call's contract, is what KASAN would report on first use (a
    # BUG here), and is not the page mapped at that address
    assert failing(run) == {"call_contract", "no_bug_no_warn", "returned_entry_is_mapped_page"}
    assert not failing(run_scenario(scenario, "v5.18"))


def test_populate_skips_special_ptes_as_done() -> None:
    run = run_scenario(sc.Scenario((mixed(2, driver="sp"),), (G("madv_populate_read", 0, 2),)), "mainline")
    assert run.results[0].result == 2


def test_a_racing_isolation_ends_with_the_call_and_ignores_pages_off_the_lru() -> None:
    scenario = sc.Scenario((V(0, 1, faulted="w", placement="movable"),
                            V(1, 1, share="shared", backing="mixedmap", faulted="w")),
                           (G("pin_user_pages", 0, 2, ("FOLL_LONGTERM",), (sc.Isolate(0), sc.Isolate(1))),))
    run = run_scenario(scenario, "mainline")
    assert run.results[0].result == 2 and not failing(run)
    assert not any(f.racing_isolation for f in run.kernel.mem.live())
    assert sum(1 for e in run.trace if "isolated from the LRU by a racing migration" in e.text) == 1
    on_v614 = run_scenario(scenario, "v6.14")
    assert failing(on_v614) == {"longterm_pins_only_on_pinnable"}


def test_a_batch_reference_leaves_the_folio_on_its_lru_until_a_drain() -> None:
    scenario = sc.Scenario((V(0, 1, faulted="w", placement="cma"),),
                           (sc.BatchRef(0), G("pin_user_pages", 0, 1, ("FOLL_LONGTERM",))))
    before = run_scenario(scenario, "v6.16")
    assert before.results[1].result == -12 and not failing(before)  # migration meets the extra reference
    after = run_scenario(scenario, "v6.17")
    assert after.results[1].result == 1 and not failing(after)
    assert [g.migratetype for g in after.results[1].grabbed] == ["MOVABLE"]  # migrated out of CMA
    # the zero page is never on an LRU: no batch takes it
    zero = run_scenario(sc.Scenario((V(0, 1, faulted="r"),), (sc.BatchRef(0),)), "mainline")
    assert zero.kernel.mem.zero_page.batch_refs == 0


def test_a_driver_cma_page_livelocks_mainline_by_design_and_the_report_names_it() -> None:
    scenario = sc.Scenario((mixed(1, placement="cma"),), (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)),))
    run = run_scenario(scenario, "mainline")
    assert run.livelock is not None and "driver page, CMA" in run.livelock.state
    assert failing(run) == {"terminates"}
    pinned = run_scenario(scenario, "v6.14")
    assert failing(pinned) == {"longterm_pins_only_on_pinnable"}
    # a driver page from normal memory is pinnable: nothing to migrate
    assert not failing(run_scenario(sc.Scenario((mixed(1),), scenario.ops), "mainline"))


def test_the_revert_is_recorded_with_its_own_commit() -> None:
    steps = {step.name: step for step in TIMELINE}
    assert "collect_isolated_only" in PROFILES["v6.14"].switches
    assert "collect_isolated_only" not in PROFILES["v6.16"].switches
    assert steps["v6.16"].commit_of("collect_isolated_only") == "517f496e1e61"


# -- drivability and generation -----------------------------------------------------------------

def test_driver_mappings_and_batch_references_are_not_drivable_on_the_live_kernel() -> None:
    with pytest.raises(NotDrivable, match="mixedmap"):
        check_layout(sc.Scenario((mixed(1),), ()))
    assert "mixedmap" in (not_drivable(sc.Scenario((mixed(1),), (G("vmsplice", 0, 1),))) or "")
    assert "batch_ref" in (not_drivable(sc.Scenario((V(0, 1),), (sc.BatchRef(0), G("vmsplice", 0, 1)))) or "")
    assert "interleave" in (not_drivable(sc.Scenario((V(0, 1),), (G("vmsplice", 0, 1, interleave=(sc.Isolate(0),)),)))
                            or "")


@settings(max_examples=60, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(drivable_scenarios())
def test_drivable_scenarios_have_no_driver_mappings_or_races(scenario: sc.Scenario) -> None:
    assert all(v.backing != "mixedmap" for v in scenario.layout)
    assert not any(isinstance(op, sc.BatchRef) for op in scenario.ops)


@pytest.mark.slow
def test_the_default_search_generates_each_mechanism() -> None:
    seen = {"mixedmap": 0, "special": 0, "driver_cma": 0, "isolate": 0, "batch_ref": 0}
    total = 0

    @settings(max_examples=200, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(scenarios(**for_profile(PROFILES["mainline"])))
    def count(scenario: sc.Scenario) -> None:
        nonlocal total
        total += 1
        driver = [v for v in scenario.layout if v.backing == "mixedmap"]
        seen["mixedmap"] += bool(driver)
        seen["special"] += any("s" in v.driver for v in driver)
        seen["driver_cma"] += any(v.placement == "cma" for v in driver)
        seen["isolate"] += any(isinstance(i, sc.Isolate) for op in scenario.ops if isinstance(op, sc.Gup)
                               for i in op.interleave)
        seen["batch_ref"] += any(isinstance(op, sc.BatchRef) for op in scenario.ops)

    count()
    shares = {name: n / total for name, n in seen.items()}
    assert all(share >= 0.03 for share in shares.values()), shares
    print(", ".join(f"{name} {share:.0%}" for name, share in shares.items()))
