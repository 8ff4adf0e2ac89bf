"""The live-kernel oracle against facts of Linux 6.18 measured on this project's machines.

Each test pins one thing the running kernel does, observed only through pagemap and
kpageflags. They skip (with the reason) where the oracle cannot observe: not Linux,
not root (PFNs read as zero), no io_uring, no /proc/kpageflags.
"""

from __future__ import annotations

import os
import re

import pytest

from harness.observe import StepObservation
from harness.oracle import LiveRun, availability, run_live
from harness.oracle.server import executor_pid
from harness.scenario import (
    CpuRead,
    CpuWrite,
    DmaRead,
    DmaWrite,
    Exit,
    Fork,
    Gup,
    MadvDontneed,
    Mprotect,
    Munmap,
    Release,
    Scenario,
    Vma,
)

AVAILABLE = availability()
pytestmark = [pytest.mark.live, pytest.mark.skipif(not AVAILABLE.ok, reason=f"live-kernel oracle: {AVAILABLE.reason}")]

EFAULT, EIO, ENOMEM, EINVAL = 14, 5, 12, 22


def live(layout: tuple[Vma, ...], ops: tuple) -> LiveRun:
    return run_live(Scenario(layout=layout, ops=ops))


def steps(layout: tuple[Vma, ...], ops: tuple) -> tuple[StepObservation, ...]:
    """Run and insist that the live kernel drove every op."""
    run = live(layout, ops)
    assert run.error is None, run.error
    assert [s.op for s in run.steps] == list(range(len(ops)))
    return run.steps


def pin(start: int, pages: int, process: int = 0) -> Gup:
    return Gup("io_uring_register_buffers", start, pages, process=process)


# ---- faults -------------------------------------------------------------------------

def test_private_anon_read_fault_maps_the_zero_page_and_a_write_replaces_it() -> None:
    run = live((Vma(0, 1, faulted="r"),), (CpuWrite(0),))
    assert run.error is None
    assert run.steps[0].result == 0
    zero = run.initial[0]
    assert zero.present and zero.zero and not zero.anon
    page = run.steps[0].pages[0]
    assert (page.identity, page.anon, page.zero, page.mapped_once) == ("replaced", True, False, True)


def test_shared_ext4_file_read_fault_maps_the_page_cache_page() -> None:
    run = live((Vma(0, 1, share="shared", backing="file", faulted="r"),), (CpuRead(0),))
    page = run.steps[0].pages[0]
    assert (page.present, page.anon, page.zero, page.identity) == (True, False, False, "same")


def test_cpu_access_without_permission_reports_efault_instead_of_crashing() -> None:
    (read, write) = steps((Vma(0, 1, prot="none"),), (CpuRead(0), CpuWrite(0)))
    assert (read.result, write.result) == (-EFAULT, -EFAULT)
    assert not read.pages[0].present


# ---- io_uring: long-term FOLL_PIN|FOLL_WRITE ---------------------------------------------

def test_io_uring_pin_of_untouched_anon_faults_in_writable_anon_pages() -> None:
    (step,) = steps((Vma(0, 2),), (pin(0, 2),))
    assert step.result == 2
    assert all(p.present and p.anon and not p.zero and p.identity == "new" for p in step.pages)


def test_io_uring_pin_of_the_zero_page_cows_it_away() -> None:
    (step,) = steps((Vma(0, 1, faulted="r"),), (pin(0, 1),))
    assert step.result == 1
    page = step.pages[0]
    assert (page.identity, page.anon, page.zero) == ("replaced", True, False)


def test_io_uring_pin_of_read_only_mapping_fails_with_efault() -> None:
    (step,) = steps((Vma(0, 1, prot="r", faulted="w"),), (pin(0, 1),))
    assert step.result == -EFAULT
    assert step.pages[0].identity == "same"


def test_io_uring_longterm_pin_of_shared_ext4_file_is_refused() -> None:
    """FOLL_LONGTERM on a writeback-filesystem shared mapping: -EFAULT (since v6.5)."""
    (step,) = steps((Vma(0, 1, share="shared", backing="file", faulted="w"),), (pin(0, 1),))
    assert step.result == -EFAULT


def test_fork_copies_the_pinned_page_for_the_child_and_shares_the_rest() -> None:
    _, fork = steps((Vma(0, 2, faulted="ww"),), (pin(0, 1), Fork()))
    pinned, unpinned = fork.pages
    assert (pinned.identity, pinned.mapped_once) == ("same", True)
    assert (unpinned.identity, unpinned.mapped_once) == ("same", False)


def test_device_access_through_a_pin_stays_coherent_across_fork() -> None:
    ops = (pin(0, 1), DmaWrite(0), Fork(), CpuWrite(0), DmaRead(0), DmaWrite(0), Release(0))
    run = live((Vma(0, 1, faulted="w"),), ops)
    assert run.error is None
    assert [(c.op, c.kind, c.coherent) for c in run.dma] == [
        (1, "dma_write", True), (4, "dma_read", True), (5, "dma_write", True)]
    assert [s.result for s in run.steps] == [1, 0, None, 0, 0, 0, 1]
    assert {s.pages[0].identity for s in run.steps[1:]} == {"same"}


def test_child_pin_of_a_shared_page_gives_the_child_its_own_copy() -> None:
    fork, child_pin, write, exit_ = steps((Vma(0, 1, faulted="w"),), (Fork(), pin(0, 1, process=1), CpuWrite(0), Exit(1)))
    assert not fork.pages[0].mapped_once
    assert child_pin.result == 1
    assert (child_pin.pages[0].identity, child_pin.pages[0].mapped_once) == ("same", True)
    assert write.pages[0].identity == "same"


# ---- vmsplice: FOLL_GET, read-only --------------------------------------------------------

def test_vmsplice_then_fork_then_write_cows_the_parent_page() -> None:
    splice, fork, write = steps((Vma(0, 1, faulted="w"),), (Gup("vmsplice", 0, 1), Fork(), CpuWrite(0)))
    assert splice.result == 1
    assert not fork.pages[0].mapped_once
    assert (write.pages[0].identity, write.pages[0].mapped_once) == ("replaced", True)


def test_vmsplice_pipe_keeps_the_old_content_after_the_parent_cows() -> None:
    run = live((Vma(0, 1, faulted="w"),), (Gup("vmsplice", 0, 1), DmaRead(0), Fork(), CpuWrite(0), DmaRead(0), Release(0)))
    assert run.error is None
    assert [(c.op, c.coherent) for c in run.dma] == [(1, True), (4, False)]
    assert run.steps[-1].result == 1  # Release: the one page the pipe held


def test_vmsplice_beyond_default_pipe_size_and_of_untouched_memory_takes_zero_pages() -> None:
    splice, release = steps((Vma(0, 40),), (Gup("vmsplice", 0, 40), Release(0)))
    assert splice.result == 40 and release.result == 40
    assert all(p.zero and p.identity == "new" for p in splice.pages)
    assert all(p.identity == "same" for p in release.pages)


# ---- fault-in only -------------------------------------------------------------------------

def test_madv_populate_read_maps_the_zero_page() -> None:
    (step,) = steps((Vma(0, 1),), (Gup("madv_populate_read", 0, 1),))
    assert step.result == 1
    assert step.pages[0].zero and step.pages[0].identity == "new"


def test_madv_populate_write_on_read_only_mapping_is_einval() -> None:
    (step,) = steps((Vma(0, 1, prot="r"),), (Gup("madv_populate_write", 0, 1),))
    assert step.result == -EINVAL
    assert not step.pages[0].present


# ---- /proc/self/mem: FOLL_FORCE ---------------------------------------------------------

def test_forced_write_to_read_only_exclusive_anon_page_writes_in_place() -> None:
    (step,) = steps((Vma(0, 1, prot="r", faulted="w"),), (Gup("proc_mem_write", 0, 1),))
    assert step.result == 1
    assert (step.pages[0].identity, step.pages[0].anon, step.pages[0].mapped_once) == ("same", True, True)


def test_forced_write_to_read_only_zero_page_cows() -> None:
    (step,) = steps((Vma(0, 1, prot="r", faulted="r"),), (Gup("proc_mem_write", 0, 1),))
    assert step.result == 1
    assert (step.pages[0].identity, step.pages[0].anon) == ("replaced", True)


def test_proc_mem_on_unmapped_first_page_is_eio() -> None:
    (step,) = steps((Vma(1, 1),), (Gup("proc_mem_write", 0, 2),))
    assert step.result == -EIO


# ---- O_DIRECT and process_vm -------------------------------------------------------------

@pytest.mark.skipif(AVAILABLE.block_dir is None, reason="no block filesystem for O_DIRECT")
def test_odirect_read_into_the_zero_page_cows_and_write_leaves_pages_alone() -> None:
    read, write = steps((Vma(0, 2, faulted="r-"),), (Gup("odirect_read", 0, 2), Gup("odirect_write", 0, 2)))
    assert read.result == 2
    assert [p.identity for p in read.pages] == ["replaced", "new"]
    assert all(p.anon for p in read.pages)
    assert write.result == 2 and all(p.identity == "same" for p in write.pages)


def test_process_vm_readv_and_writev_on_own_pid() -> None:
    read, write = steps((Vma(0, 2, faulted="r-"),), (Gup("process_vm_readv", 0, 2), Gup("process_vm_writev", 0, 2)))
    assert read.result == 2 and all(p.zero for p in read.pages)
    assert write.result == 2 and [p.identity for p in write.pages] == ["replaced", "replaced"]


def test_partial_transfer_stops_at_a_hole() -> None:
    (step,) = steps((Vma(0, 1), Vma(2, 1)), (Gup("process_vm_writev", 0, 3),))
    assert step.result == 1
    assert [p.present for p in step.pages] == [True, False, False]


# ---- layout ops ---------------------------------------------------------------------------

def test_munmap_mprotect_dontneed_results() -> None:
    ops = (Mprotect(1, 1, "r"), Munmap(0, 1), Mprotect(0, 1, "r"), MadvDontneed(1, 1))
    mprotect, munmap, mprotect_hole, dontneed = steps((Vma(0, 2, faulted="ww"),), ops)
    assert (mprotect.result, munmap.result, mprotect_hole.result, dontneed.result) == (0, 0, -ENOMEM, 0)
    assert munmap.pages[0].identity == "absent" and dontneed.pages[1].identity == "absent"


# ---- what the live kernel cannot drive ------------------------------------------------------

def test_kernel_api_is_reported_not_driven() -> None:
    run = live((Vma(0, 1),), (CpuWrite(0), Gup("pin_user_pages", 0, 1)))
    assert run.error is not None and "not drivable" in run.error and "pin_user_pages" in run.error
    assert len(run.steps) == 1  # the ops before it still ran


@pytest.mark.parametrize("vma", [Vma(0, 1, backing="pfnmap"), Vma(0, 1, placement="cma")])
def test_undrivable_layouts_are_reported(vma: Vma) -> None:
    run = live((vma,), (CpuRead(0),))
    assert run.steps == () and run.error is not None and "not drivable" in run.error


def test_repeated_call_is_reported_not_driven() -> None:
    run = live((Vma(0, 1, faulted="w"),), (Gup("vmsplice", 0, 1, repeat=2),))
    assert run.steps == () and run.error is not None and "not drivable" in run.error and "repeat" in run.error


def test_timeout_kills_the_child() -> None:
    run = run_live(Scenario((Vma(0, 1),), (CpuRead(0),)), timeout=0.0)
    assert run.error == "timeout"


def test_caller_flags_beyond_its_own_are_reported_not_driven() -> None:
    same = live((Vma(0, 1),), (Gup("io_uring_register_buffers", 0, 1, flags=("FOLL_WRITE", "FOLL_LONGTERM")),))
    assert same.error is None and same.steps[0].result == 1
    forced = live((Vma(0, 1),), (Gup("io_uring_register_buffers", 0, 1, flags=("FOLL_FORCE",)),))
    assert forced.error is not None and "FOLL_FORCE" in forced.error


def test_device_access_needs_something_held() -> None:
    transient, splice_write = live((Vma(0, 1, faulted="w"),), (Gup("odirect_write", 0, 1), DmaRead(0))), \
        live((Vma(0, 1, faulted="w"),), (Gup("vmsplice", 0, 1), DmaWrite(0)))
    assert transient.error is None and [s.result for s in transient.steps] == [1, -EFAULT]
    assert splice_write.error is not None and "not drivable" in splice_write.error


# ---- processes ------------------------------------------------------------------------------

def test_exit_of_the_child_makes_the_parent_page_exclusive_again() -> None:
    fork, exit_ = steps((Vma(0, 1, faulted="w"),), (Fork(), Exit(1)))
    assert not fork.pages[0].mapped_once
    assert (exit_.pages[0].identity, exit_.pages[0].mapped_once) == ("same", True)


def test_exit_of_process_zero_unmaps_everything_and_later_ops_fail() -> None:
    ops = (pin(0, 1), Fork(), Exit(0), CpuRead(0), Gup("vmsplice", 0, 1), Release(0), CpuWrite(0, process=1))
    pinned, fork, exit_, read, gup, release, child_write = steps((Vma(0, 1, faulted="w"),), ops)
    assert [p.identity for p in exit_.pages] == ["absent"]
    assert (read.result, gup.result, release.result, child_write.result) == (-EFAULT, -3, 0, 0)


# ---- hygiene --------------------------------------------------------------------------------

def _children(parent: int | None = None) -> set[int]:
    """The child processes of `parent` (default: this one), zombies included (/proc/*/stat's ppid)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == (os.getpid() if parent is None else parent):
                found.add(int(entry))
    return found


def _left_behind(before: dict[str, set[str]]) -> dict[str, set[str]]:
    """Names that appeared in each directory since `before`, but those other processes own:
    tempfile's (tmpXXXXXXXX) and per-process scratch names ending in a live pid (pytest's and
    the other xdist worker's tests run beside this one and come and go). The oracle makes its
    files with O_TMPFILE and names none, so any other new name is one it left behind."""
    def foreign(name: str) -> bool:
        owner = re.search(r"-(\d+)$", name)
        return bool(re.fullmatch(r"tmp[a-z0-9_]{8}", name)) or (owner is not None
                                                                and os.path.exists(f"/proc/{owner.group(1)}"))

    return {d: {name for name in set(os.listdir(d)) - names if not foreign(name)} for d, names in before.items()}


@pytest.mark.slow
def test_fifty_scenarios_leave_no_fds_files_or_children() -> None:
    layout = (Vma(0, 2, faulted="w-"), Vma(3, 1, share="shared", backing="file", faulted="r"), Vma(4, 1, backing="shmem", share="shared"))
    ops = (pin(0, 2), Fork(), Gup("vmsplice", 0, 1), Gup("odirect_read", 1, 1), Fork(process=1), DmaWrite(0), CpuWrite(3))
    assert live(layout, ops).error is None  # the executor process is up from here on
    executor = executor_pid()
    assert executor is not None
    children_before = _children()
    fds_before = set(os.listdir("/proc/self/fd"))
    executor_fds_before = set(os.listdir(f"/proc/{executor}/fd"))
    dirs = [d for d in ("/var/tmp", "/tmp", AVAILABLE.block_dir) if d]
    files_before = {d: set(os.listdir(d)) for d in dirs}
    for _ in range(50):
        assert live(layout, ops).error is None
    assert set(os.listdir("/proc/self/fd")) == fds_before
    assert set(os.listdir(f"/proc/{executor}/fd")) == executor_fds_before
    assert _left_behind(files_before) == {d: set() for d in dirs}
    assert _children() == children_before
    assert _children(executor) == set()  # every scenario process was reaped by the executor


def test_the_test_run_itself_never_forks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scenario children are forked by the single-threaded executor, not by this (threaded) process."""

    def no_fork() -> int:
        raise AssertionError("the calling process forked")

    monkeypatch.setattr(os, "fork", no_fork)
    run = live((Vma(0, 1, faulted="w"),), (pin(0, 1), Fork(), CpuWrite(0)))
    assert run.error is None and len(run.steps) == 3


def test_not_root_is_reported_as_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    availability.cache_clear()
    try:
        assert not availability().ok and "not root" in (availability().reason or "")
        run = run_live(Scenario((Vma(0, 1),), (CpuRead(0),)))
        assert run.steps == () and run.error is not None and "not root" in run.error
    finally:
        monkeypatch.undo()
        availability.cache_clear()


def test_forced_write_in_the_child_unshares_from_the_parent() -> None:
    """/proc/self/mem of process 1 is its own mm: its forced write COWs it a private copy."""
    _, fork, child_write = steps((Vma(0, 1, faulted="w"),), (Gup("proc_mem_write", 0, 1), Fork(), Gup("proc_mem_write", 0, 1, process=1)))
    assert not fork.pages[0].mapped_once
    assert child_write.result == 1
    assert (child_write.pages[0].identity, child_write.pages[0].mapped_once) == ("same", True)
