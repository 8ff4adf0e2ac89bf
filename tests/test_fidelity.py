"""Fidelity fixes (issue 10): each rule below was read at the kernel source of the releases
it names; the test pins the model to it, on both sides of the change where there is one."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from harness import scenario as sc
from harness.model import gup, vmops
from harness.model.flags import FOLL, Errno
from harness.model.kernels import PROFILE_NAMES
from harness.model.mm import MM
from properties import check_all
from strategies import for_profile, scenarios

from .helpers import one, pin

EFAULT, EINVAL = -Errno.EFAULT, -Errno.EINVAL

#: profiles with has_pinned-driven fork copies but no PG_anon_exclusive
HAS_PINNED_ERA = ("v5.9", "v5.10", "v5.13", "v5.15", "v5.18")


@pytest.mark.parametrize("kernel", HAS_PINNED_ERA + ("v5.19-rc1", "mainline"))
@pytest.mark.parametrize("api", ["pin_user_pages_fast", "io_uring_register_buffers"])
def test_fast_pin_then_fork_keeps_the_parent_on_the_pinned_page(kernel: str, api: str) -> None:
    """008cfe4418b3: internal_get_user_pages_fast() sets mm->has_pinned, so a pin GUP-fast
    completes alone still makes fork copy the page for the child; the parent's write then
    lands in the pinned page. (io_uring registered its buffers through the slow path,
    pin_user_pages(), until 1943f96b3816 (v6.10): that sets the flag as well.)"""
    flags = () if api.startswith("io_uring") else ("FOLL_WRITE",)
    run = one(sc.Vma(0, 1, faulted="w"), sc.Gup(api, 0, 1, flags), sc.Fork(), sc.CpuWrite(0), kernel=kernel)
    lockless = not api.startswith("io_uring") or run.profile.has("io_uring_pin_fast")
    assert any(e.kind == "fast" for e in run.trace) is lockless  # the pin was taken locklessly, or not
    assert run.kernel.mms[0].has_pinned
    assert run.observations[2].pages[0].identity == "same"
    assert check_all(run)["pin_coherence"] is None


@pytest.mark.parametrize("kernel", HAS_PINNED_ERA + ("v5.19", "mainline"))
@pytest.mark.parametrize("has_pinned", [False, True])
def test_fork_copies_a_maybe_pinned_page_only_for_an_mm_that_has_pinned(kernel: str, has_pinned: bool) -> None:
    """page_needs_cow_for_dma() tests MMF_HAS_PINNED before folio_maybe_dma_pinned() in every
    era: 1024 FOLL_GET references look like a pin, but an mm that never pinned shares the page."""
    run = one(sc.Vma(0, 1, faulted="w"), kernel=kernel)
    k, mm = run.kernel, run.kernel.mms[0]
    pages: list = []
    for _ in range(1024):
        assert gup.get_user_pages(k, mm, 0, 1, FOLL(0), pages) == 1
    folio = mm.ptes[0].folio
    assert folio is not None and folio.maybe_dma_pinned() and not mm.has_pinned
    mm.has_pinned = has_pinned
    child = vmops.fork(k, mm, 1)
    assert (child.ptes[0].folio is not folio) == has_pinned


def test_fork_copies_a_pinned_page_cache_page_only_before_pg_anon_exclusive() -> None:
    """70e806e4e645's copy_present_page() copied any pinned page of a COW mapping (page cache
    too); from 6c287605fd56 only exclusive anon pages are copied."""
    layout = sc.Vma(0, 2, backing="file", faulted="rw")  # page 1 written: the VMA has an anon_vma
    ops = (pin(0, 1), sc.Fork())
    old = one(layout, *ops, kernel="v5.18")
    assert any("pinned page cache" in e.text for e in old.trace)
    new = one(layout, *ops, kernel="v5.19-rc1")
    assert not any("copied for the child" in e.text for e in new.trace)


def test_cma_longterm_path_before_v5_13_loops_until_no_cma_page_is_left() -> None:
    """check_and_migrate_cma_pages() (v5.2..v5.12) re-GUPs and checks again after a migration
    that fully succeeded; its faults run under memalloc_nocma_save()."""
    run = one(sc.Vma(0, 2, faulted="ww", placement="cma"), pin(0, 2, "FOLL_LONGTERM", "FOLL_WRITE"), kernel="v5.10")
    assert run.results[0].result == 2
    assert all(g.migratetype != "CMA" for g in run.results[0].grabbed)
    fresh = one(sc.Vma(0, 1, placement="cma"), pin(0, 1, "FOLL_LONGTERM", "FOLL_WRITE"), kernel="v5.10")
    assert fresh.results[0].grabbed[0].migratetype != "CMA"
    assert not any(e.kind == "migrate" for e in fresh.trace)  # allocated outside CMA to begin with


def test_cma_longterm_path_before_v5_13_keeps_pins_when_migration_fails() -> None:
    """"some of the pages failed migration. Do get_user_pages without migration": the page
    stays pinned in CMA and the call succeeds (v5.13+ returns -ENOMEM instead)."""
    layout = sc.Vma(0, 1, faulted="w", placement="cma")
    ops = (pin(0, 1), pin(0, 1, "FOLL_LONGTERM"))
    old = one(layout, *ops, kernel="v5.10")
    assert old.results[1].result == 1 and old.results[1].grabbed[0].migratetype == "CMA"
    assert one(layout, *ops, kernel="v5.13").results[1].result == -Errno.ENOMEM


@pytest.mark.parametrize("kernel", ["v5.4", "v5.10", "mainline"])
def test_fast_entry_points_refuse_flags_outside_their_mask(kernel: str) -> None:
    vma = sc.Vma(0, 1, faulted="w")
    assert one(vma, pin(0, 1, "FOLL_ANON", api="get_user_pages_fast"), kernel=kernel).results[0].result == EINVAL
    assert one(vma, pin(0, 1, "FOLL_ANON", api="get_user_pages"), kernel=kernel).results[0].result == 1


def test_fast_entry_points_take_foll_nofault_once_it_exists() -> None:
    vma = sc.Vma(0, 1, faulted="w")
    assert one(vma, pin(0, 1, "FOLL_NOFAULT", api="pin_user_pages_fast")).results[0].result == 1
    assert one(vma, pin(0, 1, "FOLL_NOFAULT", api="pin_user_pages_fast"), kernel="v5.15").not_applicable


def test_fast_entry_point_before_v5_2_takes_only_a_write_bool() -> None:
    vma = sc.Vma(0, 1, faulted="w")
    assert one(vma, pin(0, 1, "FOLL_WRITE", api="get_user_pages_fast"), kernel="v4.19").results[0].result == 1
    assert "write' bool" in (one(vma, pin(0, 1, "FOLL_FORCE", api="get_user_pages_fast"),
                                 kernel="v4.19").not_applicable or "")


@pytest.mark.parametrize("race", [sc.Munmap(0, 1), sc.Mprotect(0, 1, "r")])
def test_writers_of_the_mmap_lock_cannot_race_with_a_call_that_never_drops_it(race: sc.Op) -> None:
    layout = sc.Vma(0, 2)
    held = one(layout, sc.Gup("pin_user_pages", 0, 2, (), (race,)))
    assert held.not_applicable and "mmap lock for writing" in held.not_applicable
    longterm = one(layout, sc.Gup("pin_user_pages_fast", 0, 2, ("FOLL_LONGTERM",), (race,)))
    assert longterm.not_applicable
    for api in ("pin_user_pages_fast", "process_vm_readv"):
        assert one(layout, sc.Gup(api, 0, 2, (), (race,))).not_applicable is None


def test_madv_dontneed_races_with_any_call() -> None:
    run = one(sc.Vma(0, 1, prot="r", faulted="r"),
              sc.Gup("proc_mem_write", 0, 1, (), (sc.MadvDontneed(0, 1),)), kernel="v4.8")
    assert run.not_applicable is None and "zero_page_never_pinned_writable" in {
        name for name, failure in check_all(run).items() if failure is not None}


@pytest.mark.slow
@pytest.mark.parametrize("kernel", ["v4.19", "v5.10", "mainline"])
def test_strategies_generate_only_possible_scenarios(kernel: str) -> None:
    """No generated race puts a lock writer inside a call that holds the lock, and no call
    names a flag or API the profile did not have (either would come back not applicable)."""
    from harness.model.kernels import get_profile
    from harness.run import run_scenario

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(scenarios(**for_profile(get_profile(kernel))))
    def check(scenario: sc.Scenario) -> None:
        run = run_scenario(scenario, kernel, trace=False)
        # the one not-applicable a generator cannot foresee is the model's own limit on
        # repeated calls that never settle (harness/repeat.py), not something the kernel lacked
        assert run.not_applicable is None or run.not_applicable.startswith("repeat:"), run.not_applicable

    check()


def test_new_profiles_sit_on_the_timeline_in_release_order() -> None:
    lts = ["v4.14", "v4.19", "v5.4", "v5.10", "v5.15", "v6.6", "v6.12"]
    positions = [PROFILE_NAMES.index(name) for name in lts]
    assert positions == sorted(positions)
    assert PROFILE_NAMES.index("v5.9") < PROFILE_NAMES.index("v5.10") < PROFILE_NAMES.index("v5.13")
    assert PROFILE_NAMES.index("v6.5") < PROFILE_NAMES.index("v6.6") < PROFILE_NAMES.index("v6.16")
    assert MM(pid=0).has_pinned is False
