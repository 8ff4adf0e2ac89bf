"""Model rules the source-mutation run (`gupharness srcmut`, benchmarks/srcmut_model.md) found
no test pinning: each test fails when its rule is broken by a one-token change."""

from __future__ import annotations

import pytest

from harness import scenario as sc

from .helpers import one, pin


@pytest.mark.parametrize("kernel", ["v5.18", "v6.0", "mainline"])
def test_forced_write_in_a_writable_private_mapping_faults_instead_of_following(kernel: str) -> None:
    """can_follow_write_pte (5535be309971, v6.0): FOLL_FORCE lets a write use a read-only PTE
    only in a COW mapping *without* VM_WRITE; with VM_WRITE the GUP faults, and the write
    fault maps the page writable and dirty. Here mprotect(r) then mprotect(rw) leaves an
    exclusive anon page behind a read-only PTE in a writable private VMA."""
    run = one(sc.Vma(0, 1, faulted="w"), sc.Mprotect(0, 1, "r"), sc.Mprotect(0, 1, "rw"),
              pin(0, 1, "FOLL_WRITE", "FOLL_FORCE", api="get_user_pages"), kernel=kernel)
    assert run.results[2].result == 1
    assert "fault" in [e.kind for e in run.events_of(run.results[2])]
    pte = run.kernel.mms[0].ptes[0]
    assert pte.write and pte.dirty


@pytest.mark.parametrize("kernel", ["v5.13", "v6.1", "mainline"])
@pytest.mark.parametrize("backing", ["file", "shmem"])
def test_longterm_pin_migrates_a_page_cache_page_out_of_zone_movable(kernel: str, backing: str) -> None:
    """migrate_pages: a page-cache folio's expected count includes the page cache's reference
    (folio_expected_refs(): mapcount + 1 for the mapping + the isolation's), so an idle
    page-cache page in ZONE_MOVABLE migrates and the long-term pin succeeds on the copy."""
    run = one(sc.Vma(0, 1, share="shared", backing=backing, faulted="r", placement="movable"),
              pin(0, 1, "FOLL_LONGTERM"), kernel=kernel)
    result = run.results[0]
    assert result.result == 1 and not result.migration_failed
    assert [g.zone for g in result.grabbed] == ["NORMAL"]


@pytest.mark.parametrize("kernel", ["v5.13", "mainline"])
def test_a_second_longterm_call_in_the_same_state_is_no_livelock(kernel: str) -> None:
    """The step budget's loop detection is per call of __gup_longterm_locked (k.calls numbers
    them): a later call that starts where an earlier one started is a new call, not round 2."""
    run = one(sc.Vma(0, 1, faulted="w"), pin(0, 1, "FOLL_LONGTERM"), sc.Release(0), pin(0, 1, "FOLL_LONGTERM"),
              kernel=kernel)
    assert run.livelock is None
    assert run.results[2].result == 1


@pytest.mark.parametrize("kernel, steps", [
    ("v4.8", ["fault", "cow", "fault", "reuse"]),
    ("v5.9", ["fault", "cow", "fault", "cow"]),  # the LRU batch's reference forbids reuse (no drain before v5.18)
    ("v5.18", ["fault", "cow", "fault", "reuse"]),
    ("mainline", ["fault", "cow"]),  # 5535be309971 (v6.0): the exclusive anon copy is followed at once
])
def test_forced_write_into_a_fresh_private_file_page_needs_a_second_fault_before_v6_0(
        kernel: str, steps: list[str]) -> None:
    """do_cow_fault() does not return VM_FAULT_WRITE (only do_wp_page() does), so before v6.0
    GUP neither sets FOLL_COW nor drops FOLL_WRITE after it: the lookup fails again and a
    write-protect fault follows, which reuses the copy or, on v5.9..v5.17, copies it again."""
    run = one(sc.Vma(0, 1, prot="r", backing="file"), pin(0, 1, "FOLL_WRITE", "FOLL_FORCE", api="get_user_pages"),
              kernel=kernel)
    assert run.results[0].result == 1
    assert [e.kind for e in run.events_of(run.results[0]) if e.kind in ("fault", "cow", "reuse")] == steps


def test_fault_around_stops_at_the_page_table_boundary() -> None:
    """do_fault_around(): the window never crosses the PMD the fault is in (PTRS_PER_PTE = 512
    pages): a read fault at page 510 of a cached file VMA over 500..519 maps 500..511, not 512."""
    run = one(sc.Vma(500, 20, backing="file"), sc.CpuRead(510))
    assert sorted(run.kernel.mms[0].ptes) == list(range(500, 512))


@pytest.mark.parametrize("backing, writable", [("file", False), ("shmem", True)])
def test_read_fault_in_a_shared_mapping_is_writable_only_without_write_notify(backing: str, writable: bool) -> None:
    """A read fault maps with vm_page_prot: a shared writable shmem mapping gets a writable PTE,
    an ext4 file that needs writeback a read-only one, so the first write faults and
    page_mkwrite() sees it (vma_wants_writenotify)."""
    run = one(sc.Vma(0, 1, share="shared", backing=backing), sc.CpuRead(0))
    assert run.kernel.mms[0].ptes[0].write == writable


@pytest.mark.parametrize("kernel", ["v5.18", "v6.1", "mainline"])
def test_reuse_after_the_lru_drain_leaves_the_page_on_the_lru(kernel: str) -> None:
    """wp_can_reuse_anon_folio (d4c470970d45, v5.18): a page still in the LRU add batch is
    drained to the LRU before the refcount test, so after fork + exit the parent's write
    reuses it and it is on the LRU: a later long-term pin can isolate and migrate it out of
    ZONE_MOVABLE (off the LRU it could not, and the pin would retry forever)."""
    run = one(sc.Vma(0, 1, faulted="w", placement="movable"), sc.Fork(), sc.Exit(1), sc.CpuWrite(0),
              pin(0, 1, "FOLL_LONGTERM"), kernel=kernel)
    assert run.livelock is None
    assert run.results[3].result == 1
    assert [g.zone for g in run.results[3].grabbed] == ["NORMAL"]


@pytest.mark.parametrize("kernel, api", [("v5.4", "get_user_pages"), ("v5.10", "pin_user_pages")])
def test_a_one_page_longterm_pin_of_a_cma_page_is_migrated_before_v5_13(kernel: str, api: str) -> None:
    """check_and_migrate_cma_pages (v5.2..v5.12) runs whenever the GUP pinned anything (nr > 0),
    a single page included: the page leaves CMA and the pin holds the copy."""
    run = one(sc.Vma(0, 1, faulted="w", placement="cma"), pin(0, 1, "FOLL_LONGTERM", api=api), kernel=kernel)
    assert run.results[0].result == 1
    assert [g.migratetype for g in run.results[0].grabbed] == ["MOVABLE"]


# -- second sample (seed 20261126, benchmarks/srcmut_model.md) ------------------------------------

@pytest.mark.parametrize("kernel", ["v4.8", "v5.18", "mainline"])
def test_a_forced_read_of_a_prot_none_mapping_is_allowed(kernel: str) -> None:
    """check_vma_flags: a read without VM_READ needs FOLL_FORCE and VM_MAYREAD, which every
    mmap() VMA has: /proc/PID/mem (FOLL_FORCE) reads a PROT_NONE page, a plain GUP may not.
    Kills gup.py:79:11 Not-drop (the VM_MAYREAD test inverted)."""
    run = one(sc.Vma(0, 1, prot="none", faulted="w"), sc.Gup("proc_mem_read", 0, 1),
              sc.Gup("get_user_pages_remote", 0, 1), kernel=kernel)
    assert [r.result for r in run.results] == [1, -14]


@pytest.mark.parametrize("kernel", ["v5.13", "v6.0"])
def test_a_page_on_the_lru_is_not_drained_before_v6_17_so_a_batch_reference_fails_migration(kernel: str) -> None:
    """check_and_migrate_movable_pages (v5.13..v6.0) drains the LRU batches only for a folio
    that is off the LRU (and at most once): a folio on its LRU with another CPU's batch
    reference is isolated undrained, migration meets the extra reference and the pin gets
    -ENOMEM (98c6d259319e, v6.17, drains on the refcount instead; tested in
    test_driver_and_isolation). Kills gup.py:448:34 And-Or (a drain for the first folio whatever it needs)."""
    run = one(sc.Vma(0, 1, faulted="w", placement="movable"), sc.BatchRef(0), pin(0, 1, "FOLL_LONGTERM"),
              kernel=kernel)
    result = run.results[1]
    assert result.result == -12
    assert "drain" not in [e.kind for e in run.events_of(result)]


@pytest.mark.parametrize("kernel, layout", [
    ("v5.19-rc1", sc.Vma(0, 1, faulted="r")),  # the zero page counts as unpinnable and cannot be isolated
    ("mainline", sc.Vma(0, 1, share="shared", backing="mixedmap", faulted="w", placement="cma")),  # a driver's CMA page
])
def test_a_longterm_livelock_report_numbers_its_rounds_from_one(kernel: str, layout: sc.Vma) -> None:
    """The report of a __gup_longterm_locked loop says which round repeated which: the second
    round starts where the first did. Kills gup.py:576:19 AugAdd-Sub and 576:22 Int-1 (rounds
    counted -1, -2, ... or all 0)."""
    run = one(layout, pin(0, 1, "FOLL_LONGTERM"), kernel=kernel)
    assert run.livelock is not None and run.livelock.loop == "__gup_longterm_locked"
    assert run.livelock.rounds == 2
    assert run.livelock.reason == "round 2 starts in the same state as round 1"


@pytest.mark.parametrize("kernel", ["v5.10", "mainline"])
@pytest.mark.parametrize("backing", ["shmem", "mixedmap"])
def test_a_read_fault_in_a_read_only_shared_mapping_maps_read_only(kernel: str, backing: str) -> None:
    """A read fault maps with vm_page_prot, which has no write bit without VM_WRITE (shmem
    read faults, a VM_MIXEDMAP driver's vmf_insert_page): so a write GUP-fast finds a
    read-only PTE, leaves it to the slow path, and check_vma_flags refuses the write.
    Kills fault.py:117:58 BitAnd-BitOr and fault.py:62:43 And-Or (read-only shared mappings
    mapped writable)."""
    run = one(sc.Vma(0, 1, prot="r", share="shared", backing=backing), sc.CpuRead(0),
              sc.Gup("get_user_pages_fast", 0, 1, ("FOLL_WRITE",)), kernel=kernel)
    assert not run.kernel.mms[0].ptes[0].write
    assert run.results[1].result == -14


@pytest.mark.parametrize("backing", ["shmem", "file"])
def test_a_shared_write_fault_maps_the_page_writable_at_once(backing: str) -> None:
    """do_shared_fault(): page_mkwrite (if any), then finish_fault maps the page writable and
    dirty: a write GUP on an untouched shared page takes one fault, not a read-only mapping
    and a second (write-protect) fault. Kills fault.py:103:41 True-False."""
    run = one(sc.Vma(0, 1, share="shared", backing=backing), pin(0, 1, "FOLL_WRITE"))
    assert run.results[0].result == 1
    assert [e.kind for e in run.events_of(run.results[0])].count("fault") == 1
    assert run.kernel.mms[0].ptes[0].write


@pytest.mark.parametrize("kernel, writable_pin", [("v6.2", 1), ("v6.5", -14), ("mainline", -14)])
def test_gup_fast_leaves_a_writable_longterm_pin_of_a_writeback_file_to_the_slow_path(
        kernel: str, writable_pin: int) -> None:
    """a6e79df92e4a (v6.5, with 8ac268436e6d): GUP-fast checks the folio's mapping and
    leaves a FOLL_LONGTERM|FOLL_WRITE pin of a shared ext4 page to the slow path, whose
    check_vma_flags refuses it; a read-only long-term pin still goes through GUP-fast. Kills
    gup.py:687:16 Stmt-pass, which only the live conform test caught (it skips without root)."""
    run = one(sc.Vma(0, 1, share="shared", backing="file", faulted="w"),
              sc.Gup("pin_user_pages_fast", 0, 1, ("FOLL_LONGTERM", "FOLL_WRITE")),
              sc.Gup("pin_user_pages_fast", 0, 1, ("FOLL_LONGTERM",)), kernel=kernel)
    assert [r.result for r in run.results] == [writable_pin, 1]
    assert "fast" in [e.kind for e in run.events_of(run.results[1])]
