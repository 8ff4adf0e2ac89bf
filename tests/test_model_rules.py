"""Concrete model rules, each pinned to the kernel behaviour it mirrors."""

from __future__ import annotations

import pytest

from harness import scenario as sc
from harness.model.flags import Errno
from harness.model.memory import GUP_PIN_COUNTING_BIAS
from properties import check_all

from .helpers import one, pin

EFAULT, EINVAL = -Errno.EFAULT, -Errno.EINVAL
ALL = ("v5.18", "v5.19-rc1", "v5.19", "mainline")


@pytest.mark.parametrize("kernel", ALL)
def test_write_to_readonly_vma_without_force_is_efault(kernel: str) -> None:
    run = one(sc.Vma(0, 1, prot="r", faulted="w"), pin(0, 1, "FOLL_WRITE"), kernel=kernel)
    assert run.results[0].result == EFAULT


@pytest.mark.parametrize("kernel", ALL)
def test_read_of_prot_none_without_force_is_efault(kernel: str) -> None:
    assert one(sc.Vma(0, 1, prot="none"), pin(0, 1), kernel=kernel).results[0].result == EFAULT


@pytest.mark.parametrize("kernel", ALL)
def test_vm_io_pfnmap_is_efault(kernel: str) -> None:
    run = one(sc.Vma(0, 2, backing="pfnmap"), pin(0, 2), kernel=kernel)
    assert run.results[0].result == EFAULT


def test_forced_write_into_shared_readonly_mapping_is_efault() -> None:
    run = one(sc.Vma(0, 1, prot="r", share="shared", backing="shmem", faulted="r"),
              pin(0, 1, "FOLL_WRITE", "FOLL_FORCE"))
    assert run.results[0].result == EFAULT


@pytest.mark.parametrize("kernel", ALL)
def test_pin_failing_at_third_page_returns_two_with_two_pinned(kernel: str) -> None:
    # pages 0-1 mapped, page 2 is a hole: pin_user_pages(0, 5) returns 2 and keeps those pins
    run = one(sc.Vma(0, 2, faulted="ww"), pin(0, 5), kernel=kernel)
    result = run.results[0]
    assert result.result == 2
    assert [g.addr for g in result.grabbed] == [0, 1]
    assert run.held_at_end == {0: [g.pfn for g in result.grabbed]}
    assert check_all(run)["pin_balance"] is None


def test_first_page_failing_returns_the_errno() -> None:
    assert one(sc.Vma(1, 2), pin(0, 3)).results[0].result == EFAULT


def test_read_fault_in_private_anon_maps_the_zero_page() -> None:
    run = one(sc.Vma(0, 1), sc.CpuRead(0))
    assert run.observations[0].pages[0].zero


def test_pin_of_small_folio_adds_the_bias() -> None:
    run = one(sc.Vma(0, 1, faulted="w"), pin(0, 1, "FOLL_WRITE"))
    folio = run.kernel.mms[0].ptes[0].folio
    assert folio is not None
    # after the run everything is released; replay the pin without release to look at it
    from harness.model import gup
    from harness.model.accounting import structural_refs
    from harness.model.flags import FOLL
    before = folio.refcount
    assert before == structural_refs(folio) and not folio.maybe_dma_pinned()
    pages: list = []
    assert gup.pin_user_pages(run.kernel, run.kernel.mms[0], 0, 1, FOLL.WRITE, pages) == 1
    assert folio.refcount == before + GUP_PIN_COUNTING_BIAS
    assert folio.maybe_dma_pinned()


def test_seed_livelock_on_v5_19_rc1_and_not_around_it() -> None:
    scenario_ops = (pin(0, 1, "FOLL_LONGTERM"),)
    bad = one(sc.Vma(0, 1, faulted="r"), *scenario_ops, kernel="v5.19-rc1")
    assert bad.livelock is not None and bad.livelock.loop == "__gup_longterm_locked"
    assert any("cannot be isolated" in e.text for e in bad.livelock.repeating)
    for kernel in ("v5.18", "v5.19"):
        good = one(sc.Vma(0, 1, faulted="r"), *scenario_ops, kernel=kernel)
        assert good.livelock is None and good.results[0].result == 1
        assert good.results[0].grabbed[0].zero  # the zero page itself is pinned there


def test_mainline_unshares_zero_page_for_readonly_longterm_pin_in_cow_mapping() -> None:
    run = one(sc.Vma(0, 1, faulted="r"), pin(0, 1, "FOLL_LONGTERM"))
    grab = run.results[0].grabbed[0]
    assert not grab.zero and grab.anon
    assert run.observations[0].pages[0].identity == "replaced"


def test_v5_19_keeps_pinning_the_zero_page_readonly() -> None:
    run = one(sc.Vma(0, 1, faulted="r"), pin(0, 1, "FOLL_LONGTERM"), kernel="v5.19")
    assert run.results[0].grabbed[0].zero


def test_zero_page_pin_counts_before_v6_5_only() -> None:
    from harness.model import gup
    from harness.model.flags import FOLL
    for kernel, delta in (("v5.19", GUP_PIN_COUNTING_BIAS), ("mainline", 0)):
        zero_run = one(sc.Vma(0, 1, faulted="r"), kernel=kernel)
        k = zero_run.kernel
        before = k.mem.zero_page.refcount
        pages: list = []
        assert gup.pin_user_pages(k, k.mms[0], 0, 1, FOLL(0), pages) == 1
        assert pages[0].is_zero
        assert k.mem.zero_page.refcount - before == delta


@pytest.mark.parametrize("placement", ["movable", "cma"])
def test_longterm_pin_migrates_unpinnable_pages_out(placement: str) -> None:
    run = one(sc.Vma(0, 2, faulted="ww", placement=placement), pin(0, 2, "FOLL_LONGTERM", "FOLL_WRITE"))
    result = run.results[0]
    assert result.result == 2
    assert all(g.zone == "NORMAL" and g.migratetype != "CMA" for g in result.grabbed)
    assert [p.identity for p in run.observations[0].pages] == ["replaced", "replaced"]
    assert check_all(run)["pin_balance"] is None


def test_longterm_pin_fails_with_enomem_when_another_pin_blocks_migration() -> None:
    run = one(sc.Vma(0, 1, faulted="w", placement="movable"), pin(0, 1), pin(0, 1, "FOLL_LONGTERM"))
    assert run.results[0].result == 1
    assert run.results[1].result == -Errno.ENOMEM
    assert check_all(run)["pin_balance"] is None


def test_invalid_flag_mixes_get_the_kernels_errors() -> None:
    vma = sc.Vma(0, 1, faulted="w")
    assert one(vma, pin(0, 1, "FOLL_GET")).results[0].result == 0  # pin_user_pages: 0 (v6.3+)
    assert one(vma, pin(0, 1, "FOLL_GET"), kernel="v5.19").results[0].result == EINVAL
    assert one(vma, pin(0, 1, "FOLL_PIN", api="get_user_pages")).results[0].result == EINVAL
    assert one(vma, pin(0, 1, "FOLL_LONGTERM", api="get_user_pages")).results[0].result == EINVAL
    # 447f3e45c18a (v5.10): get_user_pages*() refuse FOLL_LONGTERM; before, FOLL_GET|FOLL_LONGTERM worked
    assert one(vma, pin(0, 1, "FOLL_LONGTERM", api="get_user_pages"), kernel="v5.10").results[0].result == EINVAL
    assert one(vma, pin(0, 1, "FOLL_LONGTERM", api="get_user_pages"), kernel="v5.9").results[0].result == 1
    assert one(vma, pin(0, 1, "FOLL_GET", api="pin_user_pages_fast")).results[0].result == EINVAL


def test_longterm_write_pin_of_shared_ext4_mapping_refused_on_mainline_only() -> None:
    vma = sc.Vma(0, 1, share="shared", backing="file", faulted="w")
    assert one(vma, pin(0, 1, "FOLL_LONGTERM", "FOLL_WRITE")).results[0].result == EFAULT
    assert one(vma, pin(0, 1, "FOLL_LONGTERM", "FOLL_WRITE"), kernel="v5.19").results[0].result == 1
    shmem = sc.Vma(0, 1, share="shared", backing="shmem", faulted="w")
    assert one(shmem, pin(0, 1, "FOLL_LONGTERM", "FOLL_WRITE")).results[0].result == 1


def test_io_uring_registration_is_all_or_nothing() -> None:
    run = one(sc.Vma(0, 2), sc.Gup("io_uring_register_buffers", 0, 3))
    assert run.results[0].result == EFAULT
    assert run.held_at_end == {}
    assert check_all(run)["pin_balance"] is None


def test_gup_fast_stops_at_the_zero_page_and_the_slow_path_finishes() -> None:
    run = one(sc.Vma(0, 2, faulted="wr"), pin(0, 2, api="pin_user_pages_fast"))
    assert run.results[0].result == 2
    assert any(e.kind == "fast" and "1 page" in e.text for e in run.trace)


def test_forced_write_on_readonly_private_page_cows_it() -> None:
    run = one(sc.Vma(0, 1, prot="r", backing="file", faulted="r"),
              sc.Gup("get_user_pages_remote", 0, 1, ("FOLL_WRITE", "FOLL_FORCE")))
    grab = run.results[0].grabbed[0]
    assert grab.anon and not grab.zero
    file = run.kernel.files[0]
    assert all(not f.anon for f in file.pages.values())


def test_fork_copies_a_pinned_exclusive_anon_page_for_the_child() -> None:
    run = one(sc.Vma(0, 2, faulted="ww"), pin(0, 1, "FOLL_WRITE"), sc.Fork())
    pages = run.observations[1].pages
    assert pages[0].mapped_once and pages[0].identity == "same"  # pinned: the child got a copy
    assert not pages[1].mapped_once  # unpinned: shared with the child


def test_budget_off_loops_for_real() -> None:
    """With the budget switched off, the v5.19-rc1 loop never ends; bound it from outside."""
    import threading

    from harness.run import run_scenario
    scenario = sc.Scenario((sc.Vma(0, 1, faulted="r"),), (pin(0, 1, "FOLL_LONGTERM"),))
    finished = threading.Event()

    def target() -> None:
        run_scenario(scenario, "v5.19-rc1", budget=None, trace=False)
        finished.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(0.5)
    assert not finished.is_set()


def test_madv_populate_that_makes_no_progress_is_a_livelock_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    """madvise_populate() loops until its range is done; a GUP that returns 0 pages (no error,
    no progress) would spin forever. The model reports that as `terminates` failing, bounded by
    the step budget, instead of hanging the runner."""
    from harness.model import gup
    from harness.run import run_scenario

    populate = sc.validate(sc.Scenario((sc.Vma(0, 1),), (sc.Gup("madv_populate_read", 0, 1),)))
    assert run_scenario(populate, "mainline").results[0].result == 1
    monkeypatch.setattr(gup, "__get_user_pages", lambda *args, **kwargs: 0)
    run = run_scenario(populate, "mainline")
    assert run.livelock is not None and run.livelock.loop == "madvise_populate"
    verdict = check_all(run, ["terminates"])["terminates"]
    assert verdict is not None and "madvise_populate" in verdict
