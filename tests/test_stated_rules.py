"""The four properties of issue 9 item 1: each holds where the rules hold, and each is broken
on purpose (a patched model or a hand-built run) to show it reports the break."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from harness import report
from harness import scenario as sc
from harness.cli import main
from harness.model import fault, gup, vmops
from harness.model.bug import KernelBug
from harness.model.flags import Errno
from harness.model.kernel import Kernel
from harness.model.memory import Folio
from harness.regression import check, load, save_counterexample
from harness.search import search
from properties import check_all, get_property

from .helpers import one, pin

ENOMEM, EFAULT = -Errno.ENOMEM, -Errno.EFAULT
GRANTED = get_property("granted_requests_succeed").check
EXCLUSIVE = get_property("pinned_anon_exclusive").check
NO_BUG = get_property("no_bug_no_warn").check
MAPPED = get_property("returned_entry_is_mapped_page").check


def _failing(run: object) -> set[str]:
    return {name for name, verdict in check_all(run).items() if verdict is not None}  # type: ignore[arg-type]


# -- granted_requests_succeed ---------------------------------------------------------------

@pytest.mark.parametrize("kernel", ["v4.8", "v5.9", "v6.1", "mainline"])
def test_granted_calls_get_the_full_count(kernel: str) -> None:
    layout = [sc.Vma(0, 2, faulted="w-"), sc.Vma(2, 1, prot="r", faulted="r")]
    api = "get_user_pages" if kernel == "v4.8" else "pin_user_pages"
    run = one(layout, sc.Gup(api, 0, 3), sc.Gup("get_user_pages_fast", 0, 3), kernel=kernel)
    assert [r.result for r in run.results] == [3, 3]
    assert all(r.range_permitted for r in run.results)
    assert GRANTED(run) is None


def test_spurious_enomem_on_a_present_page_breaks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    follow = gup.follow_page_pte

    def broken(k: Kernel, mm: object, vma: object, addr: int, flags: gup.FOLL) -> object:
        return ENOMEM if addr == 1 else follow(k, mm, vma, addr, flags)  # type: ignore[arg-type]

    monkeypatch.setattr(gup, "follow_page_pte", broken)
    run = one(sc.Vma(0, 2, faulted="ww"), pin(0, 2))
    assert run.results[0].result == 1  # a short count: call_contract accepts it
    assert check_all(run)["call_contract"] is None
    verdict = GRANTED(run)
    assert verdict is not None and "returned 1 of 2 pages" in verdict


def test_refused_ranges_and_nofault_are_not_granted() -> None:
    longterm_get = pin(0, 1, "FOLL_LONGTERM", api="get_user_pages")  # refused since v6.1
    run = one([sc.Vma(0, 1, faulted="w"), sc.Vma(2, 1, prot="none")], pin(0, 2), pin(2, 1), longterm_get)
    assert [r.result for r in run.results] == [1, EFAULT, -Errno.EINVAL]  # hole, PROT_NONE, invalid mix
    assert [r.range_permitted for r in run.results] == [False, False, True]
    assert GRANTED(run) is None
    nofault = one(sc.Vma(0, 1), sc.Gup("pin_user_pages", 0, 1, ("FOLL_NOFAULT",)))
    assert nofault.results[0].result == EFAULT and nofault.results[0].range_permitted
    assert GRANTED(nofault) is None


def test_a_fast_longterm_pin_returns_its_fast_prefix_when_migrating_the_rest_fails() -> None:
    """gup_fast_fallback() returns the pages GUP-fast pinned when the slow path then fails for
    the rest (here: a ZONE_MOVABLE page another pin holds cannot be migrated). Found by the
    mutation benchmark's clean-model runs on mainline, where the rule allowed -ENOMEM only."""
    layout = (sc.Vma(0, 1), sc.Vma(1, 1, faulted="w", placement="movable"))
    held = sc.Gup("pin_user_pages", 0, 2)
    for api, expected in (("pin_user_pages_fast", 1), ("pin_user_pages", ENOMEM)):
        run = one(layout, held, sc.CpuWrite(0), sc.Gup(api, 0, 2, ("FOLL_LONGTERM",)), kernel="mainline")
        assert run.results[2].result == expected and run.results[2].migration_failed, api
        assert GRANTED(run) is None, api


def test_populate_refused_by_the_overflow_guard_is_not_a_grant_failure() -> None:
    """MADV_POPULATE takes no reference, but try_grab_folio()'s guard tests the count before the
    flags: once about 2**21 R/O pins have pushed the zero page's count past INT_MAX (the
    catalogued zero-page overflow, until c8070b787519), populating it WARNs and gets -ENOMEM
    (found by the random finding phase; the populate path did not record the guard)."""
    run = one(sc.Vma(0, 1), sc.Gup("pin_user_pages", 0, 1, repeat=2**32), sc.Gup("madv_populate_read", 0, 1),
              kernel="v6.1")
    assert run.results[1].result == ENOMEM and run.results[1].guard_refused
    assert GRANTED(run) is None
    fixed = one(sc.Vma(0, 1), sc.Gup("pin_user_pages", 0, 1, repeat=2**32), sc.Gup("madv_populate_read", 0, 1),
                kernel="v6.5")  # zero-page pins no longer counted: nothing overflows
    assert fixed.results[1].result == 1 and not fixed.results[1].guard_refused


@pytest.mark.parametrize("kernel", ["v5.13", "v6.1", "mainline"])
def test_longterm_pin_may_fail_only_when_migration_fails(kernel: str) -> None:
    # a FOLL_GET reference on a ZONE_MOVABLE page makes its migration fail: -ENOMEM is allowed
    run = one(sc.Vma(0, 1, faulted="w", placement="movable"), sc.Gup("get_user_pages", 0, 1),
              pin(0, 1, "FOLL_LONGTERM"), kernel=kernel)
    assert run.results[1].result == ENOMEM and run.results[1].migration_failed
    assert GRANTED(run) is None
    # the same call without the extra reference migrates and must succeed
    fine = one(sc.Vma(0, 1, faulted="w", placement="movable"), pin(0, 1, "FOLL_LONGTERM"), kernel=kernel)
    assert fine.results[0].result == 1 and not fine.results[0].migration_failed
    failed = attrs.evolve(fine.results[0], result=ENOMEM)
    fake = attrs.evolve(fine, results=[failed])
    verdict = GRANTED(fake)
    assert verdict is not None and "-ENOMEM" in verdict


# -- pinned_anon_exclusive ------------------------------------------------------------------------

FORK_WHILE_PINNED = (sc.Vma(0, 1, faulted="w"), pin(0, 1), sc.Fork(), sc.CpuWrite(0))


@pytest.mark.parametrize("kernel", ["v5.19", "v6.1", "mainline"])
def test_pinned_anon_pages_stay_exclusive(kernel: str) -> None:
    run = one(FORK_WHILE_PINNED[0], *FORK_WHILE_PINNED[1:], sc.MadvDontneed(0, 1), kernel=kernel)
    assert all(h.exclusive for s in run.snapshots for h in s.held)
    assert run.snapshots[-1].held[0].detached  # DONTNEED detached the pin; the page stays exclusive
    assert EXCLUSIVE(run) is None and NO_BUG(run) is None


def test_fork_sharing_a_pinned_page_breaks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vmops, "_needs_copy_for_child", lambda k, parent, folio: False)
    run = one(FORK_WHILE_PINNED[0], *FORK_WHILE_PINNED[1:])
    verdict = EXCLUSIVE(run)
    assert verdict is not None and "no longer PG_anon_exclusive" in verdict
    # and the kernel's CONFIG_DEBUG_VM check BUGs when the driver unpins it
    assert run.bug is not None and run.bug.where == "sanity_check_pinned_pages" and run.bug_at is None


def test_not_checked_before_pg_anon_exclusive() -> None:
    run = one(sc.Vma(0, 1, faulted="w"), pin(0, 1), kernel="v5.18")
    held = run.snapshots[0].held[0]
    forged = attrs.evolve(run.snapshots[0], held=(attrs.evolve(held, exclusive=False),))
    assert EXCLUSIVE(attrs.evolve(run, snapshots=[forged])) is None
    assert EXCLUSIVE(attrs.evolve(run, snapshots=[forged], profile=one(sc.Vma(0, 1)).profile)) is not None


# -- no_bug_no_warn -----------------------------------------------------------------------------------

def _double_unpin(monkeypatch: pytest.MonkeyPatch) -> None:
    put = gup.gup_put_folio

    def twice(k: Kernel, folio: Folio, flags: gup.FOLL, times: int = 1) -> None:
        put(k, folio, flags, times)
        put(k, folio, flags, times)

    import harness.run
    monkeypatch.setattr(harness.run, "gup_put_folio", twice)


def test_count_below_zero_is_a_failure_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    _double_unpin(monkeypatch)
    run = one(sc.Vma(0, 1, faulted="w"), pin(0, 1), sc.Release(0), sc.CpuRead(0))
    assert run.bug is not None and run.bug_at == 1
    assert len(run.results) == 2  # the run ends at the BUG
    verdict = NO_BUG(run)
    assert verdict is not None and "refcount underflow" in verdict and "in op 1 (release(of=0))" in verdict
    assert check_all(run)["pin_balance"] is None  # a BUG run is judged by no_bug_no_warn alone
    text = _render(run)
    assert "BUG: the kernel stops here" in text and "refcount underflow" in text


def test_grab_of_a_freed_folio_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    k = one(sc.Vma(0, 1)).kernel
    folio = k.mem.alloc()
    k.mem.put(folio, 2)
    assert folio.freed
    assert gup.try_grab_folio(k, folio, gup.FOLL.PIN) == ENOMEM
    assert [w.where for w in k.warnings] == ["try_grab_folio"]


def test_warn_fails_the_property_and_the_run_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    grab = gup.try_grab_folio

    def noisy(k: Kernel, folio: Folio, flags: gup.FOLL) -> int:
        k.warn("try_grab_folio", "test splat")
        return grab(k, folio, flags)

    monkeypatch.setattr(gup, "try_grab_folio", noisy)
    run = one(sc.Vma(0, 2, faulted="ww"), pin(0, 2))
    assert run.results[0].result == 2 and run.bug is None
    assert NO_BUG(run) == "WARN in try_grab_folio: test splat (and 1 more)"


def test_returned_freed_entry_is_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    follow = gup.follow_page_pte

    def use_after_free(k: Kernel, mm: object, vma: object, addr: int, flags: gup.FOLL) -> object:
        page = follow(k, mm, vma, addr, flags)  # type: ignore[arg-type]
        if isinstance(page, Folio):
            page.freed = True
        return page

    monkeypatch.setattr(gup, "follow_page_pte", use_after_free)
    run = one(sc.Vma(0, 1, faulted="w"), pin(0, 1))
    assert run.bug is not None and "freed pfn" in str(run.bug)
    assert NO_BUG(run) is not None and MAPPED(run) is not None


@pytest.mark.slow
def test_search_and_cli_shrink_save_replay_and_print_a_bug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    _double_unpin(monkeypatch)
    result = search("mainline", ["no_bug_no_warn"], max_examples=50, database=None, seed=1)
    assert result.counterexample is not None and "no_bug_no_warn" in result.failures
    # shrunk to one pin whose release at the end of the run drops the count below zero
    assert [type(op) for op in result.counterexample.ops] == [sc.Gup]
    assert result.run is not None and result.run.bug is not None and result.run.bug_at is None
    saved = save_counterexample(tmp_path, result.counterexample, "mainline", result.failures, "test")
    assert "no_bug_no_warn" in load(saved).expected_failures("mainline")
    assert main(["replay", str(saved)]) == 0  # the BUG replays as the expected failure
    assert main(["replay", str(saved), "--kernel", "mainline"]) == 1
    assert main(["hunt", "--kernel", "mainline", "--property", "no_bug_no_warn", "--max-examples", "50",
                 "--seed", "1", "--no-save"]) == 1
    out = capsys.readouterr().out
    assert "no_bug_no_warn" in out and "BUG in folio_put_refs" in out


def _render(run: object) -> str:
    con = report.console()
    with con.capture() as cap:
        con.print(report.counterexample(run, {"no_bug_no_warn": NO_BUG(run) or ""}))  # type: ignore[arg-type]
    return cap.get()


# -- returned_entry_is_mapped_page --------------------------------------------------------------------

@pytest.mark.parametrize("kernel", ["v4.8", "v5.8", "v6.0", "mainline"])
def test_entries_are_the_mapped_pages(kernel: str) -> None:
    api = "get_user_pages_fast" if kernel == "v4.8" else "pin_user_pages_fast"
    layout = [sc.Vma(0, 3, faulted="wr-"), sc.Vma(3, 1, backing="shmem", share="private", faulted="r")]
    run = one(layout, sc.Fork(), sc.Gup(api, 0, 4, ("FOLL_WRITE",)), sc.Gup(api, 0, 4), kernel=kernel)
    assert [r.result for r in run.results[1:]] == [4, 4]
    assert MAPPED(run) is None


def test_a_race_may_remap_what_was_taken() -> None:
    # a R/O get of page 0, then a racing MADV_DONTNEED of it while page 1 faults: page 0's
    # entry is no longer mapped at return, which the kernel-doc allows
    race = sc.Gup("get_user_pages", 0, 2, interleave=(sc.MadvDontneed(0, 1),))
    run = one(sc.Vma(0, 2, faulted="w-"), race)
    grab = run.results[0].grabbed[0]
    assert run.results[0].result == 2 and grab.mapped != grab.pfn
    assert MAPPED(run) is None


def test_an_entry_that_is_not_the_mapped_page_breaks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    follow = gup.follow_page_pte

    def stale(k: Kernel, mm: object, vma: object, addr: int, flags: gup.FOLL) -> object:
        page = follow(k, mm, vma, addr, flags)  # type: ignore[arg-type]
        if isinstance(page, Folio) and not page.is_zero:
            other = k.mem.alloc()  # a live page with a reference, but not the one mapped
            return other
        return page

    monkeypatch.setattr(gup, "follow_page_pte", stale)
    run = one(sc.Vma(0, 1, faulted="w"), pin(0, 1))
    verdict = MAPPED(run)
    assert verdict is not None and "maps pfn 1 there" in verdict


def test_the_cli_lists_the_four_properties(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["properties", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    for name in ("granted_requests_succeed", "pinned_anon_exclusive", "no_bug_no_warn",
                 "returned_entry_is_mapped_page"):
        assert name in listed and len(listed[name]) > 200  # the docstring, with the rule behind it


def test_corpus_guards_the_gup_fast_unshare(monkeypatch: pytest.MonkeyPatch) -> None:
    """GUP-fast that forgets gup_must_unshare() pins a page shared at fork: only the new
    properties see it (the pin is R/O and short-term, so pin_coherence promises nothing)."""
    path = Path(__file__).resolve().parent.parent / "regressions" / "ro-fast-pin-of-fork-shared-anon-page-is-exclusive.json"
    reg = load(path)
    assert not check(reg.scenario, "mainline").failures
    must_unshare = gup.gup_must_unshare
    monkeypatch.setattr(gup, "gup_must_unshare",
                        lambda k, vma, flags, folio: vma is not None and must_unshare(k, vma, flags, folio))
    for kernel in ("v5.19", "mainline"):
        assert set(check(reg.scenario, kernel).failures) == {"pinned_anon_exclusive", "no_bug_no_warn"}
    assert not check(reg.scenario, "v5.18").failures  # no PG_anon_exclusive there: nothing to unshare


def test_a_model_fault_while_mapping_the_layout_is_a_failure_too(monkeypatch: pytest.MonkeyPatch) -> None:
    def underflow(k: Kernel, mm: object, vma: object, addr: int, write: bool) -> object:
        raise KernelBug("do_anonymous_page", "test")

    monkeypatch.setattr(fault, "do_anonymous_page", underflow)
    run = one(sc.Vma(0, 1, faulted="w"), pin(0, 1))
    assert run.results == [] and run.bug is not None
    assert NO_BUG(run) == "BUG in do_anonymous_page: test while mapping the layout"
    assert "while mapping the layout" in _render(run)


def test_a_cpu_access_that_keeps_faulting_is_a_livelock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vmops, "handle_mm_fault", lambda k, mm, vma, addr, flags: fault.VM_FAULT.OK)
    run = one(sc.Vma(0, 1), sc.CpuWrite(0))
    assert run.livelock is not None and "keeps faulting" in str(run.livelock)
    verdict = check_all(run)["terminates"]
    assert verdict is not None and "op 0" in verdict


def test_permissions_respected_holds_and_catches_a_check_vma_flags_that_lets_everything_through(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import scenario as sc
    from harness.run import run_scenario
    from properties import check_all

    protnone_read = sc.Scenario((sc.Vma(0, 1, prot="none", faulted="w"),), (sc.Gup("get_user_pages", 0, 1),))
    anon_on_file = sc.Scenario((sc.Vma(0, 1, backing="file", faulted="r"),), (sc.Gup("pin_user_pages", 0, 1, ("FOLL_ANON",)),))
    for scenario in (protnone_read, anon_on_file):
        assert check_all(run_scenario(scenario, "mainline"), ["permissions_respected"]) == {"permissions_respected": None}
    monkeypatch.setattr(gup, "check_vma_flags", lambda k, vma, flags: 0)
    for scenario in (protnone_read, anon_on_file):
        verdict = check_all(run_scenario(scenario, "mainline"), ["permissions_respected"])["permissions_respected"]
        assert verdict is not None and "returned pfn" in verdict


def test_mapcount_matches_page_tables_holds_and_catches_a_zap_that_keeps_the_rmap(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import scenario as sc
    from harness.model.kernel import Kernel as KernelClass
    from harness.run import run_scenario
    from properties import check_all

    fork_then_write = sc.Scenario((sc.Vma(0, 1, faulted="w"),), (sc.Fork(), sc.CpuWrite(0), sc.MadvDontneed(0, 1, 1)))
    assert check_all(run_scenario(fork_then_write, "mainline"), ["mapcount_matches_page_tables"]) == {
        "mapcount_matches_page_tables": None}

    def zap_keeping_rmap(self: KernelClass, mm: object, addr: int) -> None:
        pte = mm.ptes.pop(addr, None)  # type: ignore[attr-defined]
        if pte is not None and pte.folio is not None and not pte.special:
            self.mem.put(pte.folio)  # the reference goes, page_remove_rmap() is forgotten

    monkeypatch.setattr(KernelClass, "zap_pte", zap_keeping_rmap)
    verdict = check_all(run_scenario(fork_then_write, "mainline"),
                        ["mapcount_matches_page_tables"])["mapcount_matches_page_tables"]
    assert verdict is not None and "page-table entries map it" in verdict


# -- fork_copies_address_space --------------------------------------------------------------

FORK_COPIES = get_property("fork_copies_address_space").check


@pytest.mark.parametrize("kernel", ["v4.8", "v5.9", "v5.19", "mainline"])
def test_fork_gives_the_child_the_parents_contents(kernel: str) -> None:
    api = "get_user_pages" if kernel == "v4.8" else "pin_user_pages"
    layout = [sc.Vma(0, 3, faulted="wr-"),  # written, zero page, untouched anon
              sc.Vma(4, 2, share="private", backing="file", faulted="r-"),  # no anon_vma: not copied
              sc.Vma(7, 2, share="private", backing="file", faulted="wr"),  # a COW copy and a cached page
              sc.Vma(10, 1, share="shared", backing="shmem", faulted="w")]
    run = one(layout, sc.Gup(api, 0, 1, ("FOLL_WRITE",)), sc.Fork(), kernel=kernel)
    views = run.results[1].fork_views
    assert {addr for addr, _, _ in views} == {0, 1, 2, 4, 5, 7, 8, 10}
    assert any(parent not in (0, None) for _, parent, _ in views)  # written contents are compared
    assert FORK_COPIES(run) is None


def test_a_fork_that_leaves_anon_ptes_out_breaks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    copy = vmops._copy_present_pte

    def skip_anon(k: Kernel, parent: object, child: object, vma: object, addr: int) -> None:
        folio = parent.ptes[addr].folio  # type: ignore[attr-defined]
        if folio is not None and folio.anon:
            return  # the child refaults a fresh zero page instead of the parent's data
        copy(k, parent, child, vma, addr)  # type: ignore[arg-type]

    monkeypatch.setattr(vmops, "_copy_present_pte", skip_anon)
    run = one(sc.Vma(0, 2, faulted="wr"), sc.Fork())
    verdict = FORK_COPIES(run)
    assert verdict is not None and "page 0" in verdict and "did not get a copy" in verdict
    assert {n for n, v in check_all(run).items() if v} == {"fork_copies_address_space"}


# -- user_held_pins_longterm ----------------------------------------------------------------

HELD_LONGTERM = get_property("user_held_pins_longterm").check


@pytest.mark.parametrize("placement", ["cma", "movable"])
def test_io_uring_buffers_are_migrated_out_of_movable_memory(placement: str) -> None:
    run = one(sc.Vma(0, 2, faulted="w-", placement=placement), sc.Gup("io_uring_register_buffers", 0, 2))
    assert run.results[0].result == 2
    assert all(g.zone == "NORMAL" and g.migratetype != "CMA" for g in run.results[0].grabbed)
    assert HELD_LONGTERM(run) is None


def test_io_uring_without_foll_longterm_breaks_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.model import callers

    io_uring = callers.CALLERS["io_uring_register_buffers"]
    monkeypatch.setitem(callers.CALLERS, io_uring.name, attrs.evolve(io_uring, flags=callers.FOLL.WRITE))
    run = one(sc.Vma(0, 1, faulted="w", placement="cma"), sc.Gup("io_uring_register_buffers", 0, 1))
    assert run.results[0].result == 1
    verdict = HELD_LONGTERM(run)
    assert verdict is not None and "CMA" in verdict and "must be long-term" in verdict
    # the flag-based rule cannot see it: the call never said FOLL_LONGTERM
    assert check_all(run)["longterm_pins_only_on_pinnable"] is None
