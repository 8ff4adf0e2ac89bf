"""Every behaviour switch, before and after: the profile just before the step that turns it
on (or off) and the step itself must differ on a scenario chosen to show that switch."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness import scenario as sc
from harness.model.kernels import PROFILES, SWITCHES, TIMELINE
from harness.run import Run, run_scenario

Probe = Callable[[Run], object]


def result(index: int = 0) -> Probe:
    return lambda run: run.results[index].result if run.results[index:] else None


def grabbed_zero(run: Run) -> object:
    return [g.zero for r in run.results for g in r.grabbed]


def identity_after(step: int, page: int = 0) -> Probe:
    return lambda run: run.observations[step].pages[page].identity if len(run.observations) > step else None


def zero_refcount_while_pinned(run: Run) -> object:
    return max(f.refcount for f in [run.kernel.mem.zero_page])


def faults(run: Run) -> object:
    """How many faults the run's calls took (the layout's own faults excluded)."""
    return sum(1 for r in run.results for e in run.events_of(r) if e.kind == "fault")


def livelocked(run: Run) -> object:
    return run.livelock is not None


def trace_has(text: str) -> Probe:
    return lambda run: any(text in e.text for e in run.trace)


V = sc.Vma
G = sc.Gup

#: switch -> (scenario, what to look at)
CASES: dict[str, tuple[sc.Scenario, Probe]] = {
    # a forced write on a read-only private page, with MADV_DONTNEED at GUP's retry point
    "foll_cow": (sc.Scenario((V(0, 1, prot="r", faulted="r"),),
                             (G("get_user_pages", 0, 1, ("FOLL_WRITE", "FOLL_FORCE"), (sc.MadvDontneed(0, 1),)),)),
                 lambda run: (grabbed_zero(run), faults(run))),
    "foll_longterm": (sc.Scenario((V(0, 1, faulted="w"),), (G("get_user_pages", 0, 1, ("FOLL_LONGTERM",)),)),
                      lambda run: run.not_applicable is None),
    "foll_pin": (sc.Scenario((V(0, 1, faulted="w"),), (G("pin_user_pages", 0, 1),)),
                 lambda run: run.not_applicable is None),
    # a R/O get of a read-faulted page: the forced COW break copies it away from the zero page
    "gup_cow_break": (sc.Scenario((V(0, 1, faulted="r"),), (G("get_user_pages", 0, 1),)), grabbed_zero),
    # a R/O get of an anon page shared with a child, then a parent write: reuse or copy
    "wp_reuse_refcount": (sc.Scenario((V(0, 1, faulted="w"),),
                                      (sc.Fork(), sc.MadvDontneed(0, 1, 1), G("get_user_pages", 0, 1), sc.CpuWrite(0))),
                          identity_after(3)),
    "fork_copy_pinned": (sc.Scenario((V(0, 1, faulted="w"),),
                                     (G("pin_user_pages", 0, 1, ("FOLL_WRITE",)), sc.Fork(), sc.CpuWrite(0))),
                         identity_after(2)),
    "longterm_migrate_movable": (sc.Scenario((V(0, 1, faulted="w", placement="movable"),),
                                             (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM", "FOLL_WRITE")),)),
                                 identity_after(0)),
    "pinnable_pageblock_cma": (sc.Scenario((V(0, 1, faulted="w", placement="isolate"),),
                                           (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)),)),
                               trace_has("isolated from the LRU")),
    "zero_page_unpinnable": (sc.Scenario((V(0, 1, faulted="r"),), (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)),)),
                             livelocked),
    # a R/O pin of an anon page shared with a child: unshared first (PG_anon_exclusive) or not
    "anon_exclusive": (sc.Scenario((V(0, 1, faulted="w"),), (sc.Fork(), G("pin_user_pages", 0, 1))),
                       identity_after(1)),
    # a forced write through a read-only PTE of an exclusive anon page, with the PTE not dirty
    "force_write_exclusive_anon": (sc.Scenario((V(0, 1, prot="r", faulted="w"),),
                                               (G("get_user_pages", 0, 1, ("FOLL_WRITE", "FOLL_FORCE")),)),
                                   faults),
    "longterm_eagain": (sc.Scenario((V(0, 1, faulted="w", placement="movable"),),
                                    (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM", "FOLL_WRITE")),)),
                        trace_has("-EAGAIN")),
    "longterm_requires_pin": (sc.Scenario((V(0, 1, faulted="w"),), (G("get_user_pages", 0, 1, ("FOLL_LONGTERM",)),)),
                              result()),
    "unshare_ro_longterm_cow": (sc.Scenario((V(0, 1, faulted="r"),), (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)),)),
                                grabbed_zero),
    "valid_gup_args": (sc.Scenario((V(0, 1, faulted="w"),), (G("pin_user_pages", 0, 1, ("FOLL_GET",)),)), result()),
    "zero_page_pin_uncounted": (sc.Scenario((V(0, 1, faulted="r"),), (G("pin_user_pages", 0, 1),)),
                                trace_has("not counted")),
    "no_longterm_write_writeback": (sc.Scenario((V(0, 1, share="shared", backing="file", faulted="w"),),
                                                (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM", "FOLL_WRITE")),)),
                                    result()),
    # a pin of a driver's PTE without a struct page (VM_MIXEDMAP): an unset pages[] entry, or refused
    "pin_special_pte_refused": (sc.Scenario((V(0, 1, share="shared", backing="mixedmap", faulted="w", driver="s"),),
                                            (G("pin_user_pages", 0, 1),)),
                                lambda run: (result()(run), [g.live for r in run.results for g in r.grabbed])),
    "special_pte_eexist": (sc.Scenario((V(0, 1, share="shared", backing="mixedmap", faulted="w", driver="s"),),
                                       (G("get_user_pages", 0, 1),)), result()),
    # a long-term pin of a driver's CMA page, which is never on an LRU: pinned in CMA, or retried forever
    "collect_isolated_only": (sc.Scenario((V(0, 1, share="shared", backing="mixedmap", faulted="w", placement="cma"),),
                                          (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)),)),
                              lambda run: (livelocked(run), [g.migratetype for r in run.results for g in r.grabbed])),
    # another CPU's batch holds a reference to a movable page that stays on the LRU: drained, or -ENOMEM
    "drain_on_refcount": (sc.Scenario((V(0, 1, faulted="w", placement="movable"),),
                                      (sc.BatchRef(0), G("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)))), result(1)),
}


def _steps_for(switch: str) -> list[tuple[str, str]]:
    """(profile before, profile after) for every timeline step that changes `switch`."""
    pairs = []
    for before, after in zip(TIMELINE, TIMELINE[1:]):
        if (switch in PROFILES[before.name].switches) != (switch in PROFILES[after.name].switches):
            pairs.append((before.name, after.name))
    return pairs


def test_every_switch_has_a_case() -> None:
    assert set(CASES) == set(SWITCHES)


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_switch_changes_behaviour_where_the_timeline_says(switch: str) -> None:
    scenario, probe = CASES[switch]
    sc.validate(scenario)
    steps = _steps_for(switch)
    assert steps, f"{switch} never changes on the timeline"
    for before, after in steps:
        seen_before = probe(run_scenario(scenario, before))
        seen_after = probe(run_scenario(scenario, after))
        assert seen_before != seen_after, (f"{switch} ({SWITCHES[switch].commit}): {before} and {after} "
                                           f"both give {seen_before!r}")
