"""Pins must keep showing the process's own page, and private data must stay private."""

from __future__ import annotations

from harness.model.flags import FOLL, foll_names
from harness.run import Run, describe_op

from .accounting import _Where
from .registry import prop


@prop("pin_coherence", snapshots=True)
def pin_coherence(run: Run) -> str | None:
    """While a pin is held, the page behind it is the page the pinning process maps at that
    address, after every operation that must preserve that (its own CPU writes, fork,
    mprotect, other pins); a munmap, MADV_DONTNEED or exit of the address ends the promise.

    Promised for FOLL_WRITE pins (fork copies pinned pages for the child since 70e806e4e645,
    and a pinned page is never reused by someone else's COW since 09854ba94c6a) and for R/O
    FOLL_LONGTERM pins (unshare of anon pages since v5.19, of the zero page and page cache in
    COW mappings since 84209e87c696, v6.2). A device writing through such a pin must be seen
    by the process, and the process's writes by the device."""
    for snap in run.snapshots:
        for held in snap.held:
            if not held.pin or held.detached or not (held.write or held.longterm):
                continue
            mapped = snap.maps.get((held.process, held.addr))
            if mapped is None or mapped == held.pfn:
                continue
            op = run.scenario.ops[snap.after]
            kind = "R/W" if held.write else "R/O long-term"
            return (f"after op {snap.after} ({describe_op(op)}), the {kind} pin of op {held.op} holds pfn {held.pfn} "
                    f"but process {held.process} maps pfn {mapped} at page {held.addr}: the device and the "
                    f"process no longer see the same memory")
    return None


@prop("private_stays_private")
def private_stays_private(run: Run) -> str | None:
    """Data written through a MAP_PRIVATE mapping (a CPU write, a forced GUP write, a device
    write through a pin) never reaches the page cache or another process; after fork, neither
    process sees the other's later writes through a shared page or a pin.

    Dirty COW (CVE-2016-5195, fixed by 19be0eaffa3a) let a forced write land in the page cache;
    GUP after fork (CVE-2020-29374, 17839856fd58 / 09854ba94c6a) let a child keep reading the
    parent's later writes through a reference it took on a shared anon page. A device write
    through a FOLL_GET reference carries no promise about other processes: DMA belongs
    behind FOLL_PIN (Documentation/core-api/pin_user_pages.rst), which fork honours."""
    for result in run.results:
        if not result.flags & FOLL.WRITE:
            continue
        for grab in result.grabbed:
            if grab.cow_mapping and not grab.anon and not grab.zero:
                return (f"op {result.index} ({describe_op(result.op)}) got write access ({foll_names(result.flags)}) "
                        f"to page-cache pfn {grab.pfn} through a private mapping at page {grab.addr}")
    for write in run.writes:
        if not write.private:
            continue
        where = _Where(write.op, run.scenario.ops[write.op])  # rendered only for a message
        if write.page_cache:
            return (f"{where}: a {write.via} write through process {write.process}'s private mapping at page "
                    f"{write.addr} landed in page-cache pfn {write.pfn}, i.e. in the file")
        if write.through_get:
            continue
        if write.also_mapped_by:
            return (f"{where}: process {write.process}'s {write.via} write at page {write.addr} went into pfn "
                    f"{write.pfn}, which process(es) {', '.join(map(str, write.also_mapped_by))} still map privately")
        if write.also_held_by:
            op, process = write.also_held_by[0]
            return (f"{where}: process {write.process}'s {write.via} write at page {write.addr} went into pfn "
                    f"{write.pfn}, which process {process} still holds through op {op}")
    return None


@prop("fork_copies_address_space")
def fork_copies_address_space(run: Run) -> str | None:
    """Right after fork(), the child reads at every address of the parent's mappings what
    the parent reads there: fork gives the child a copy of the address space (fork(2):
    "the child process ... has its own copy of the parent's memory"; dup_mmap() copies the
    VMAs, copy_page_range() the PTEs it must, and what it leaves out must refault to the same
    contents).

    What is compared is the contents a CPU read would return (the page mapped, or for an
    address not populated, the zero page or the page cache), not the page frame: fork may
    share a page, copy it for the child (a pinned anon page since 70e806e4e645, v5.9) or
    leave the PTE out for the child to refault (vma_needs_copy()). Addresses with no page
    contents to compare (PFN maps, driver mappings without a page) are skipped."""
    for result in run.results:
        for addr, parent, child in result.fork_views:
            if parent is None or child is None or parent == child:
                continue
            op = run.scenario.ops[result.index]
            return (f"after op {result.index} ({describe_op(op)}), the new child reads {child} at page {addr} "
                    f"where its parent reads {parent}: the child did not get a copy of the parent's memory")
    return None
