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


def migrations(run: Run) -> object:
    return sum(1 for e in run.trace if e.kind == "migrate")


def grabbed_where(run: Run) -> object:
    """Where the pages a run's calls got live: zone and pageblock migratetype."""
    return [(g.zone, g.migratetype) for r in run.results for g in r.grabbed]


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
    # the pin is taken by GUP-fast alone: it must still mark the mm as having pinned (008cfe4418b3)
    "fork_copy_pinned": (sc.Scenario((V(0, 1, faulted="w"),),
                                     (G("pin_user_pages_fast", 0, 1, ("FOLL_WRITE",)), sc.Fork(), sc.CpuWrite(0))),
                         identity_after(2)),
    "gup_fast_flags": (sc.Scenario((V(0, 1, faulted="w"),), (G("get_user_pages_fast", 0, 1, ("FOLL_ANON",)),)),
                       lambda run: (run.not_applicable is None, run.results[0].result)),
    "gup_fast_force": (sc.Scenario((V(0, 1, prot="r", faulted="w"),),
                                   (G("get_user_pages_fast", 0, 1, ("FOLL_FORCE",)),)), result()),
    "odirect_pins": (sc.Scenario((V(0, 1, faulted="w"),), (G("odirect_write", 0, 1),)),
                     lambda run: run.not_applicable is None),
    "madv_populate": (sc.Scenario((V(0, 1),), (G("madv_populate_write", 0, 1),)),
                      lambda run: run.not_applicable is None),
    "foll_nofault": (sc.Scenario((V(0, 1, faulted="w"),), (G("get_user_pages", 0, 1, ("FOLL_NOFAULT",)),)),
                     lambda run: run.not_applicable is None),
    # a fresh page still in the LRU batch, no longer shared (the child exited): reuse or copy
    "wp_drain_local_lru": (sc.Scenario((V(0, 1, faulted="w"),), (sc.Fork(), sc.Exit(1), sc.CpuWrite(0))),
                           identity_after(2)),
    # get_user_pages_fast(FOLL_LONGTERM) on a CMA page: GUP-fast takes it as it is (v5.2..v5.9),
    # or the flag mix is refused (v5.10); before v5.2 there is no FOLL_LONGTERM at all
    "fast_longterm_get_cma": (sc.Scenario((V(0, 1, faulted="w", placement="cma"),),
                                          (G("get_user_pages_fast", 0, 1, ("FOLL_LONGTERM",)),)),
                              lambda run: (result()(run), grabbed_where(run))),
    # a long-term pin faults a page of a CMA VMA in: from CMA, then migrated out (the scope ignored
    # by the allocator's fast path), or allocated outside CMA to begin with
    "memalloc_nocma_all_paths": (sc.Scenario((V(0, 1, placement="cma"),),
                                             (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM", "FOLL_WRITE")),)),
                                 lambda run: (grabbed_where(run), migrations(run))),
    # the same in a ZONE_MOVABLE VMA: pinned in ZONE_MOVABLE (v5.10), or allocated in normal memory
    # by the PF_MEMALLOC_PIN scope, with nothing left to migrate (v5.13)
    "memalloc_pin_movable": (sc.Scenario((V(0, 1, placement="movable"),),
                                         (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM", "FOLL_WRITE")),)),
                             lambda run: (grabbed_where(run), migrations(run))),
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
    # 2**31 + 1 references on one page: the count passes INT_MAX, then the next get meets the guard
    # (WARN, -ENOMEM) or, before 8fde12ca79af, get_page()'s VM_BUG_ON
    "gup_refcount_overflow_guard": (sc.Scenario((V(0, 1, faulted="w"),), (G("get_user_pages", 0, 1, repeat=2**31 + 1),)),
                                    lambda run: (result()(run), run.bug is not None, [w.where for w in run.kernel.warnings])),
    "no_longterm_write_writeback": (sc.Scenario((V(0, 1, share="shared", backing="file", faulted="w"),),
                                                (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM", "FOLL_WRITE")),)),
                                    result()),
    # a pin of a driver's PTE without a struct page (VM_MIXEDMAP): an unset pages[] entry, or refused
    "pin_special_pte_refused": (sc.Scenario((V(0, 1, share="shared", backing="mixedmap", faulted="w", driver="s"),),
                                            (G("pin_user_pages", 0, 1),)),
                                lambda run: (result()(run), [g.live for r in run.results for g in r.grabbed])),
    "special_pte_eexist": (sc.Scenario((V(0, 1, share="shared", backing="mixedmap", faulted="w", driver="s"),),
                                       (G("get_user_pages", 0, 1),)), result()),
    # a long-term pin whose slab allocations fail (fault injection): v6.11's folio array fails with
    # the pins still held (-ENOMEM and a leaked pin), other profiles allocate nothing there
    "folio_array_enomem_leak": (sc.Scenario((V(0, 1, faulted="w"),),
                                            (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM",), (sc.FailSlab(),)),)),
                                lambda run: (result()(run), [f.refcount for f in run.kernel.mem.live() if not f.is_zero])),
    # a long-term pin of a driver's CMA page, which is never on an LRU: pinned in CMA, or retried forever
    "collect_isolated_only": (sc.Scenario((V(0, 1, share="shared", backing="mixedmap", faulted="w", placement="cma"),),
                                          (G("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)),)),
                              lambda run: (livelocked(run), [g.migratetype for r in run.results for g in r.grabbed])),
    # io_uring registration: not there at all (v4.19), or there (v5.4; not applicable in the model
    # until FOLL_PIN, but for that reason)
    "io_uring_buffers": (sc.Scenario((V(0, 1, faulted="w"),), (G("io_uring_register_buffers", 0, 1),)),
                         lambda run: run.not_applicable),
    # a fixed buffer in a driver's mapping (its device file is the vm_file): io_uring refuses it
    # itself before v6.5 (-EOPNOTSUPP), GUP accepts it after; on v5.4 io_uring is there but the
    # model's caller is not (it pins), which is why it is not applicable there
    "io_uring_refuses_file_vmas": (sc.Scenario((V(0, 1, share="shared", backing="mixedmap", faulted="w"),),
                                               (G("io_uring_register_buffers", 0, 1),)),
                                   lambda run: (run.not_applicable, result()(run))),
    # a fixed buffer in a memfd: -EOPNOTSUPP, then accepted
    "io_uring_shmem_buffers": (sc.Scenario((V(0, 1, share="shared", backing="shmem", faulted="w"),),
                                           (G("io_uring_register_buffers", 0, 1),)), result()),
    # which entry point the registration calls, and whether the lockless walk takes the page
    "io_uring_pin_fast": (sc.Scenario((V(0, 1, faulted="w"),), (G("io_uring_register_buffers", 0, 1),)),
                          lambda run: (trace_has("pin_user_pages_fast(")(run), trace_has("GUP-fast took")(run))),
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


# -- reference counts near their limits (harness/repeat.py adds identical repetitions up) --------

def overflow_outcome(run: Run) -> object:
    return result()(run), run.bug is not None, [w.where for w in run.kernel.warnings]


@pytest.mark.parametrize("api", ["get_user_pages", "get_user_pages_fast", "vmsplice"])
def test_gets_past_int_max_bug_before_8fde12ca79af_and_warn_after(api: str) -> None:
    scenario = sc.validate(sc.Scenario((V(0, 1, faulted="w"),), (G(api, 0, 1, repeat=2**32),)))
    before, after = run_scenario(scenario, "v4.9"), run_scenario(scenario, "v5.7")
    assert before.bug is not None and before.bug.where == "get_page"
    assert before.kernel.warnings == []
    assert after.bug is None and after.results[0].result == -12  # -ENOMEM
    assert "try_grab_folio" in [w.where for w in after.kernel.warnings]
    if api != "get_user_pages":  # GUP-fast meets its own guard first, then leaves the page to the slow path
        assert [w.where for w in after.kernel.warnings] == ["try_grab_folio_fast", "try_grab_folio"]


def test_the_grab_that_crosses_int_max_is_taken_and_the_next_refused() -> None:
    """The guards look at the sign before adding: one page (refcount 2: its mapping and the LRU
    batch) takes 2**31 - 2 gets, the last of which makes the count INT_MAX + 1, i.e. negative;
    one more fails."""
    page = V(0, 1, faulted="w")
    crossing = 2**31 - 2
    taken = run_scenario(sc.Scenario((page,), (G("get_user_pages", 0, 1, repeat=crossing),)), "mainline")
    assert taken.results[0].result == 1 and taken.kernel.warnings == []
    assert taken.snapshots[0].accounting[-1][1] < 0  # the count sits in the sign bit, not freed
    refused = run_scenario(sc.Scenario((page,), (G("get_user_pages", 0, 1, repeat=crossing + 1),)), "mainline")
    assert refused.results[0].result == -12 and len(refused.kernel.warnings) == 1


def test_zero_page_pins_overflow_before_c8070b787519_only() -> None:
    """About 2 million R/O pins of never-written private memory all land on the one zero page."""
    scenario = sc.Scenario((V(0, 1, faulted="r"),), (G("pin_user_pages", 0, 1, repeat=2**21 + 1),))
    before, after = run_scenario(scenario, "v6.2"), run_scenario(scenario, "v6.5")
    assert overflow_outcome(before) == (-12, False, ["try_grab_folio"])
    assert overflow_outcome(after) == (1, False, [])


def test_released_overflowed_pins_leave_the_count_where_it_was() -> None:
    """Releasing 2**21 pins from a count that sits past INT_MAX wraps it back exactly."""
    scenario = sc.Scenario((V(0, 2, faulted="ww"),), (G("pin_user_pages", 0, 2, repeat=2**21), sc.Release(0)))
    run = run_scenario(scenario, "mainline")
    assert run.results[0].result == 2 and run.kernel.warnings == []
    assert run.snapshots[0].accounting[-1][1] < 0
    assert [f.refcount for f in run.kernel.mem.live() if not f.is_zero] == [2, 2]


@pytest.mark.parametrize("gets,copied", [(1021, False), (1022, True)])
def test_1024_references_look_pinned_to_fork(gets: int, copied: bool) -> None:
    """folio_maybe_dma_pinned() counts references from GUP_PIN_COUNTING_BIAS on, whoever holds
    them: a page with 1024 (mapping + LRU batch + FOLL_GET) references is copied for the child
    at fork once the mm has pinned anything (MMF_HAS_PINNED), so the parent keeps its page."""
    scenario = sc.Scenario((V(0, 2, faulted="ww"),),
                           (G("vmsplice", 0, 1, repeat=gets), G("pin_user_pages", 1, 1), sc.Fork(), sc.CpuWrite(0)))
    for profile in ("v5.9", "v5.19", "mainline"):
        run = run_scenario(scenario, profile)
        assert (run.observations[-1].pages[0].identity == "same") is copied, profile


def test_1024_references_without_any_pin_in_the_mm_are_shared_at_fork() -> None:
    """page_needs_cow_for_dma() asks for MMF_HAS_PINNED first: FOLL_GET alone never sets it."""
    scenario = sc.Scenario((V(0, 1, faulted="w"),), (G("vmsplice", 0, 1, repeat=4096), sc.Fork(), sc.CpuWrite(0)))
    for profile in ("v5.9", "v5.19", "mainline"):
        assert run_scenario(scenario, profile).observations[-1].pages[0].identity == "replaced", profile


def test_repetitions_are_added_up_not_run_one_by_one() -> None:
    scenario = sc.Scenario((V(0, 1, faulted="w"),), (G("pin_user_pages_fast", 0, 1, repeat=2**20),))
    run = run_scenario(scenario, "mainline")
    calls = [e for e in run.trace if e.kind == "call"]
    assert run.results[0].result == 1 and len(calls) < 10
    assert run.snapshots[0].accounting[-1][1] == 2 + 2**20 * 1024


def test_repetition_that_copies_every_time_is_not_applicable() -> None:
    """A forced write through a read-only private mapping copies the page on each call between
    v5.9 and v6.0 (the reference of the previous repetition blocks COW reuse): no steady state."""
    scenario = sc.Scenario((V(0, 1, prot="r", faulted="w"),),
                           (G("get_user_pages", 0, 1, ("FOLL_WRITE", "FOLL_FORCE"), repeat=1000),))
    run = run_scenario(scenario, "v5.9")
    assert run.not_applicable is not None and "repeat" in run.not_applicable


def test_every_switch_names_its_source_and_the_readme_table_is_current() -> None:
    from pathlib import Path

    from harness.model.kernels import SWITCHES
    from harness.report import switches_markdown

    assert all(":" in s.source and "(" in s.source for s in SWITCHES.values()), "a switch without a source"
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("<!-- switches:begin -->\n", 1)[1].split("<!-- switches:end -->", 1)[0]
    assert block == switches_markdown(), "README switch table is stale: regenerate with gupharness kernels --markdown"


@pytest.mark.parametrize("release,profile", [
    ("6.18.44-cloud-amd64", "mainline"), ("6.17.0", "v6.17"), ("6.15.2", "v6.14"), ("6.11.11", "v6.11"),
    ("6.10.3", "v6.6"), ("6.1.0-13", "v6.1"),
    ("5.19.0-rc1", "v5.19-rc1"), ("5.19.3", "v5.19"), ("5.11.3", "v5.10"), ("4.4.0", "v4.8"),
])
def test_the_running_kernel_is_compared_with_the_newest_profile_not_newer_than_it(release: str, profile: str) -> None:
    from harness.model.kernels import profile_for_release

    assert profile_for_release(release) == profile


# -- io_uring's own check of the memory it registers (io_uring_refuses_file_vmas) ----------------

def _io_uring(layout: tuple[sc.Vma, ...], pages: int, repeat: int = 1) -> sc.Scenario:
    return sc.validate(sc.Scenario(layout, (G("io_uring_register_buffers", 0, pages, repeat=repeat),)))


def _failing(run: Run) -> set[str]:
    from properties import check_all

    return {name for name, verdict in check_all(run).items() if verdict is not None}


@pytest.mark.parametrize("layout,refused_until", [
    ((V(0, 1, faulted="w", backing="file"),), "v6.5"),  # a private file mapping, even once COWed
    ((V(0, 1, share="shared", faulted="w", backing="file"),), "v6.5"),  # then GUP's own -EFAULT
    ((V(0, 1, share="shared", faulted="w"),), "v5.15"),  # shared anonymous memory is shmem
    ((V(0, 1, share="shared", faulted="w", backing="shmem"),), "v5.15"),
    ((V(0, 1, share="shared", faulted="w", backing="mixedmap"),), "v6.5"),  # the device file
    ((V(0, 1, faulted="w"), V(1, 1, share="shared", faulted="w", backing="shmem")), "v5.15"),  # any page counts
])
def test_io_uring_refuses_file_backed_buffers_with_every_pin_dropped(layout: tuple[sc.Vma, ...],
                                                                      refused_until: str) -> None:
    """The check comes after GUP pinned the whole range: the registration fails with
    -EOPNOTSUPP, nothing stays pinned, and granted_requests_succeed does not count it against
    GUP. From `refused_until` on, io_uring keeps what GUP gives it."""
    pages = sum(v.pages for v in layout)
    scenario = _io_uring(layout, pages)
    for profile in ("v5.7", "v5.13", "v6.2", "v6.5", "mainline"):
        run = run_scenario(scenario, profile)
        refused = PROFILES[profile].index < PROFILES[refused_until].index
        assert (run.results[0].result == -95) is refused, profile
        assert run.results[0].caller_refused is refused, profile
        if refused:
            assert run.results[0].grabbed, "the check runs on pages GUP did pin"
            assert run.held_at_end == {}
            assert not {"granted_requests_succeed", "user_held_pins_longterm"} & _failing(run), profile


def test_a_refused_registration_leaves_no_pin_behind() -> None:
    """Right after the call, every folio's count is what its mappings and batches explain, with no
    pin bias left (v5.15, which keeps the shmem buffer, holds 1024 more on each page)."""
    scenario = _io_uring((V(0, 2, share="shared", faulted="ww", backing="shmem"),), 2)
    refused, kept = run_scenario(scenario, "v5.13"), run_scenario(scenario, "v5.15")
    assert refused.results[0].result == -95 and kept.results[0].result == 2
    after_refusal = {pfn: refs for pfn, refs, _explained in refused.snapshots[0].accounting}
    after_keeping = {pfn: refs for pfn, refs, _explained in kept.snapshots[0].accounting}
    assert all(refs < 1024 for refs in after_refusal.values())
    assert sorted(after_keeping[pfn] - after_refusal[pfn] for pfn in after_refusal) == [0, 1024, 1024]


def test_a_repeated_registration_is_refused_on_its_first_repetition() -> None:
    scenario = _io_uring((V(0, 1, faulted="w", backing="file"),), 1, repeat=3)
    refused, kept = run_scenario(scenario, "v6.2"), run_scenario(scenario, "v6.5")
    assert refused.results[0].result == -95 and refused.results[0].caller_refused and refused.held_at_end == {}
    assert sum(1 for e in refused.trace if e.kind == "call" and "repetition" in e.text and "(page" in e.text) == 1
    assert kept.results[0].result == 1 and not kept.results[0].caller_refused


def test_io_uring_holds_no_long_term_pin_of_a_driver_cma_page_where_it_refuses_the_mapping() -> None:
    """v5.7-v5.10's GUP returns the driver's CMA page for FOLL_LONGTERM (it cannot isolate it:
    longterm_pins_only_on_pinnable, as for any long-term pin), but io_uring then refuses the
    device mapping, so user space holds nothing; v6.14 has no io_uring check and keeps it."""
    scenario = _io_uring((V(0, 1, share="shared", faulted="w", backing="mixedmap", placement="cma"),), 1)
    for profile in ("v5.7", "v5.8", "v5.9", "v5.10"):
        run = run_scenario(scenario, profile)
        assert run.results[0].result == -95, profile
        assert "user_held_pins_longterm" not in _failing(run), profile
    kept = run_scenario(scenario, "v6.14")
    assert kept.results[0].result == 1 and "user_held_pins_longterm" in _failing(kept)


def test_io_uring_pins_through_the_slow_path_until_v6_10() -> None:
    """io_pin_pages() called pin_user_pages() under mmap_read_lock() until 1943f96b3816."""
    scenario = _io_uring((V(0, 1, faulted="w"),), 1)
    for profile, fast in (("v5.7", False), ("v6.6", False), ("v6.11", True), ("mainline", True)):
        calls = [e.text for e in run_scenario(scenario, profile).trace if e.kind == "call"]
        assert calls[0].startswith("pin_user_pages_fast(" if fast else "pin_user_pages("), profile
