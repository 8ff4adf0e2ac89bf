"""The live checks on hand-made kernel answers: each sees the breakage it claims to see, and
stays silent where the scenario ends the promise or leaves the state unclear. No kernel
needed: a LiveRun is what the oracle would have returned."""

from __future__ import annotations

import os
from collections.abc import Sequence

from harness import scenario as sc
from harness.live import LIVE, LiveCheck, capability, registered
from harness.live.history import History
from harness.observe import PageObservation, StepObservation
from harness.oracle import DmaCheck, LiveRun, Probe
from harness.oracle.probe import LAYOUT_TAG, tag

ANON = PageObservation(True, anon=True, mapped_once=True, identity="same")
SHARED_ANON = PageObservation(True, anon=True, mapped_once=False, identity="same")
ZERO = PageObservation(True, zero=True, identity="same")
ABSENT = PageObservation(False)
URING = "io_uring_register_buffers"


def judge(name: str, layout: tuple[sc.Vma, ...], ops: tuple[sc.Op, ...], results: Sequence[int | None],
          pages: list[tuple[PageObservation, ...]] | None = None, **live: object) -> str | None:
    """The verdict of property `name`'s live check on a run where op i answered results[i]."""
    span = max(v.end for v in layout)
    steps = tuple(StepObservation(i, r, pages[i] if pages else (ANON,) * span) for i, r in enumerate(results))
    run = LiveRun(steps=steps, initial=(ABSENT,) * span, **live)  # type: ignore[arg-type]
    check = LIVE[name].check
    assert check is not None
    return check(History(sc.validate(sc.Scenario(layout, ops)), run)).failure


def test_terminates_names_the_op_that_hung() -> None:
    layout = (sc.Vma(0, 1),)
    ops = (sc.CpuWrite(0), sc.Gup(URING, 0, 1), sc.CpuRead(0))
    why = judge("terminates", layout, ops, [0], error="timeout")
    assert why is not None and "op 1 (" in why and "io_uring" in why
    assert judge("terminates", layout, ops, [0, 1, 0]) is None


def test_pin_coherence_until_the_holder_unmaps() -> None:
    layout = (sc.Vma(0, 2),)
    ops = (sc.Gup(URING, 0, 2), sc.DmaWrite(0, 1))
    broken = (DmaCheck(1, "dma_write", False),)
    assert "pin of op 0" in (judge("pin_coherence", layout, ops, [2, 0], dma=broken) or "")
    assert judge("pin_coherence", layout, ops, [2, 0], dma=(DmaCheck(1, "dma_write", True),)) is None
    zapped = (sc.Gup(URING, 0, 2), sc.MadvDontneed(1, 1), sc.DmaWrite(0, 1))
    assert judge("pin_coherence", layout, zapped, [2, 0, 0], dma=(DmaCheck(2, "dma_write", False),)) is None
    # a vmsplice reference is FOLL_GET: no promise
    spliced = (sc.Gup("vmsplice", 0, 2), sc.DmaRead(0, 0))
    assert judge("pin_coherence", layout, spliced, [2, 0], dma=(DmaCheck(1, "dma_read", False),)) is None


def test_private_write_in_the_page_cache_is_a_leak() -> None:
    layout = (sc.Vma(0, 1, backing="file"), sc.Vma(1, 1, share="shared", backing="file"))
    ops = (sc.Gup("proc_mem_write", 0, 1), sc.CpuWrite(1))
    leaked = (Probe(0, {0: (tag(0), 0xA1)}, {0: (tag(0),), 1: (0xA0,)}),)
    why = judge("private_stays_private", layout, ops, [1, 0], probes=leaked)
    assert why is not None and "page cache" in why and "proc_mem_write" in why
    shared = (Probe(1, {0: (tag(0), tag(1))}, {0: (0xA0,), 1: (tag(1),)}),)
    assert judge("private_stays_private", layout, ops, [1, 0], probes=shared) is None


def test_a_child_sees_the_parents_writes_only_from_before_the_fork() -> None:
    layout = (sc.Vma(0, 1, faulted="w"),)
    ops = (sc.CpuWrite(0), sc.Fork(), sc.CpuWrite(0))
    before = (Probe(2, {0: (tag(2),), 1: (tag(0),)}),)
    assert judge("private_stays_private", layout, ops, [0, None, 0], probes=before) is None
    layout_write = (Probe(1, {0: (LAYOUT_TAG,), 1: (LAYOUT_TAG,)}),)
    assert judge("private_stays_private", layout, ops, [0, None, 0], probes=layout_write) is None
    after = (Probe(2, {0: (tag(2),), 1: (tag(2),)}),)
    why = judge("private_stays_private", layout, ops, [0, None, 0], probes=after)
    assert why is not None and "process 1 reads at page 0" in why and "op 2" in why


def test_a_device_read_through_the_childs_reference_must_not_show_the_parents_later_write() -> None:
    """CVE-2020-29374's shape: the child vmsplices a page shared at fork; the parent writes later."""
    layout = (sc.Vma(0, 1, faulted="w"),)
    ops = (sc.Fork(), sc.Gup("vmsplice", 0, 1, process=1), sc.CpuWrite(0), sc.DmaRead(1, 0))
    results = [None, 1, 0, 0]
    why = judge("private_stays_private", layout, ops, results, dma=(DmaCheck(3, "dma_read", True, tag(2)),))
    assert why is not None and "device read" in why
    assert judge("private_stays_private", layout, ops, results,
                 dma=(DmaCheck(3, "dma_read", True, LAYOUT_TAG),)) is None


def test_the_child_reads_what_the_parent_reads_right_after_fork() -> None:
    layout = (sc.Vma(0, 2, faulted="ww"),)
    ops = (sc.CpuWrite(0), sc.Fork(), sc.CpuWrite(1))
    same = (Probe(1, {0: (tag(0), LAYOUT_TAG), 1: (tag(0), None)}),)  # page 1 left out for the child: not read
    assert judge("fork_copies_address_space", layout, ops, [0, None, 0], probes=same) is None
    differs = (Probe(1, {0: (tag(0), LAYOUT_TAG), 1: (LAYOUT_TAG, None)}),)
    why = judge("fork_copies_address_space", layout, ops, [0, None, 0], probes=differs)
    assert why is not None and "process 1" in why and "page 0" in why
    later = (Probe(2, {0: (tag(0), tag(2)), 1: (tag(0), LAYOUT_TAG)}),)  # after a later write: not judged
    assert judge("fork_copies_address_space", layout, ops, [0, None, 0], probes=later) is None


def test_zero_page_after_a_write_pin() -> None:
    layout = (sc.Vma(0, 2),)
    ops = (sc.Gup(URING, 0, 2),)
    assert "zero page" in (judge("zero_page_never_pinned_writable", layout, ops, [2], [(ANON, ZERO)]) or "")
    assert judge("zero_page_never_pinned_writable", layout, ops, [2], [(ANON, ANON)]) is None
    reads = (sc.Gup("process_vm_readv", 0, 2),)  # no FOLL_WRITE: the zero page is fine
    assert judge("zero_page_never_pinned_writable", layout, reads, [2], [(ZERO, ZERO)]) is None


def test_pin_balance_reads_vmpin_whenever_nothing_is_registered() -> None:
    layout = (sc.Vma(0, 1),)
    ops = (sc.Gup(URING, 0, 1), sc.Release(0))
    good = (Probe(-1, vmpin=0), Probe(0, vmpin=4), Probe(1, vmpin=0), Probe(None, vmpin=0))
    assert judge("pin_balance", layout, ops, [1, 1], probes=good) is None
    leaked = (Probe(-1, vmpin=0), Probe(0, vmpin=4), Probe(1, vmpin=4), Probe(None, vmpin=4))
    why = judge("pin_balance", layout, ops, [1, 1], probes=leaked)
    assert why is not None and "after op 1" in why and "4 kB" in why


def test_pinned_anon_page_mapped_twice_is_not_exclusive() -> None:
    layout = (sc.Vma(0, 1),)
    ops = (sc.Gup(URING, 0, 1), sc.Fork())
    assert judge("pinned_anon_exclusive", layout, ops, [1, None], [(ANON,), (SHARED_ANON,)]) is not None
    assert judge("pinned_anon_exclusive", layout, ops, [1, None], [(ANON,), (ANON,)]) is None
    released = (sc.Gup(URING, 0, 1), sc.Release(0), sc.Fork())
    assert judge("pinned_anon_exclusive", layout, released, [1, 1, None], [(ANON,), (ANON,), (SHARED_ANON,)]) is None


def test_permissions_follow_the_accepted_mprotects() -> None:
    layout = (sc.Vma(0, 1, prot="r"),)
    write = (sc.Gup("process_vm_writev", 0, 1),)
    assert "not writable" in (judge("permissions_respected", layout, write, [1]) or "")
    assert judge("permissions_respected", layout, write, [-14]) is None
    forced = (sc.Gup("proc_mem_write", 0, 1),)  # FOLL_FORCE breaks COW in a private mapping
    assert judge("permissions_respected", layout, forced, [1]) is None
    opened = (sc.Mprotect(0, 1, "rw"), sc.Gup("process_vm_writev", 0, 1))
    assert judge("permissions_respected", layout, opened, [0, 1]) is None
    # a failed mprotect may have applied to part of its range: nothing is judged there
    unclear = (sc.Mprotect(0, 2, "rw"), sc.Gup("process_vm_writev", 0, 1))
    assert judge("permissions_respected", layout, unclear, [-12, 1]) is None
    hole = (sc.Gup("process_vm_readv", 0, 2),)
    assert "no VMA" in (judge("permissions_respected", layout, hole, [2]) or "")


def test_granted_only_in_one_anon_or_shmem_vma_that_allows_the_access() -> None:
    layout = (sc.Vma(0, 2), sc.Vma(2, 1, prot="r"), sc.Vma(3, 1, backing="file"))
    pin = (sc.Gup(URING, 0, 2),)
    why = judge("granted_requests_succeed", layout, pin, [-12])
    assert why is not None and "ENOMEM" in why and "one private anon VMA" in why
    assert judge("granted_requests_succeed", layout, pin, [2]) is None
    for ops, result in (((sc.Gup(URING, 2, 1),), -14),            # read-only: refused, not granted
                        ((sc.Gup(URING, 1, 2),), -14),            # two VMAs
                        ((sc.Gup(URING, 3, 1),), -95),            # a file: not judged
                        ((sc.Gup("proc_mem_write", 2, 1),), -14),  # granted only when forcing it
                        ((sc.Mprotect(0, 1, "r"), sc.Gup(URING, 0, 2)), -14)):  # split by mprotect
        assert judge("granted_requests_succeed", layout, ops, [0] * (len(ops) - 1) + [result]) is None, ops
    assert judge("granted_requests_succeed", layout, (sc.Gup("process_vm_readv", 2, 1),), [0]) is not None


def test_a_splat_naming_a_scenario_process_breaks_no_bug_no_warn() -> None:
    layout = (sc.Vma(0, 1),)
    ops = (sc.Gup(URING, 0, 1),)
    splat = (Probe(-1, kernel_log=()), Probe(0, kernel_log=("WARNING: CPU: 0 PID: 77 at mm/gup.c:1 x",)))
    assert "in op 0" in (judge("no_bug_no_warn", layout, ops, [1], probes=splat) or "")
    quiet = (Probe(-1, kernel_log=()), Probe(0, kernel_log=()), Probe(None, kernel_log=None))
    assert judge("no_bug_no_warn", layout, ops, [1], probes=quiet) is None


def test_kernel_log_keeps_splats_only_with_a_scenario_pid() -> None:
    from harness.oracle.probe import KernelLog

    log = KernelLog()
    log.close()
    assert log.splats([1]) is None  # nothing to read: nothing judged
    r, w = os.pipe()
    log.fd = r  # records as /dev/kmsg hands them out, one per read
    os.set_blocking(r, False)
    os.write(w, b"4,1,5,-;WARNING: CPU: 1 PID: 4242 at mm/gup.c:10 f+0x1\n")
    assert log.splats([4242]) == ("WARNING: CPU: 1 PID: 4242 at mm/gup.c:10 f+0x1",)
    os.write(w, b"4,2,6,-;WARNING: CPU: 1 PID: 999 at mm/gup.c:10 f+0x1\n")
    assert log.splats([4242]) == ()
    os.close(w)
    log.close()


def test_every_property_says_whether_it_is_checkable_live() -> None:
    from properties import PROPERTIES

    for name in PROPERTIES:
        entry = capability(name)
        assert entry.capability in ("yes", "partial", "no") and entry.how
        assert entry.checkable == (entry.capability != "no")
    assert not capability("no_such_property").checkable


def test_a_check_registered_in_a_block_is_gone_after_it() -> None:
    entry = LiveCheck("scratch_check", "partial", "for this test", lambda h: None)  # type: ignore[arg-type,return-value]
    with registered(entry):
        assert LIVE["scratch_check"] is entry
    assert "scratch_check" not in LIVE
