"""The model's own consistency: no BUG or WARN, and returned entries that are the mapped pages."""

from __future__ import annotations

from harness import scenario as sc
from harness.run import Run, describe_op

from .accounting import _Where
from .registry import prop


@prop("no_bug_no_warn")
def no_bug_no_warn(run: Run) -> str | None:
    """No BUG/VM_BUG_ON and no WARN_ON is reached.

    The kernel's consistency checks, as the model meets them: a reference count dropped
    below zero (VM_BUG_ON_PAGE in put_page_testzero()), a get/pin of a folio without
    references (WARN_ON_ONCE in try_grab_folio()), a pinned anonymous page that is not
    PG_anon_exclusive when pinned or unpinned (sanity_check_pinned_pages(), CONFIG_DEBUG_VM,
    v5.19+), a returned entry that is a freed page (what KASAN reports on its first use),
    and, before 8fde12ca79af (v5.1), get_page() on a count that overflowed. A BUG ends the
    run where it happens; a WARN is logged and the run goes on.

    Not a failure: the WARN of an overflow guard (8fde12ca79af's try_get_page() and GUP-fast
    checks) refusing a reference count already past INT_MAX. Reaching it takes 2**31
    references to one page; the guard firing and refusing (-ENOMEM) is the kernel's designed
    answer since v5.1, where the count used to wrap to zero and free a page still in use
    (CVE-2019-11487, a BUG here)."""
    if run.bug is not None:
        if run.bug_at is None and not run.results:
            where = "while mapping the layout"
        elif run.bug_at is None:
            where = "while releasing what the scenario still held"
        else:
            where = f"in op {run.bug_at} ({describe_op(run.scenario.ops[run.bug_at])})"
        return f"{run.bug} {where}"
    splats = [w for w in run.warnings if not w.guard]
    if splats:
        more = f" (and {len(splats) - 1} more)" if len(splats) > 1 else ""
        return f"{splats[0]}{more}"
    return None


def _touched_by_race(op: sc.Gup) -> set[int]:
    """Addresses of the caller's that an interleaved operation may have remapped."""
    touched: set[int] = set()
    for inner in op.interleave:
        if getattr(inner, "process", 0) != op.process:
            continue  # another process's accesses and unmaps leave the caller's PTEs alone
        if isinstance(inner, (sc.CpuRead, sc.CpuWrite)):
            touched.add(inner.page)
        elif isinstance(inner, (sc.Munmap, sc.MadvDontneed)):
            touched.update(range(inner.start, inner.start + inner.pages))
    return touched


@prop("returned_entry_is_mapped_page")
def returned_entry_is_mapped_page(run: Run) -> str | None:
    """pages[i] is a live folio, and the one the calling process maps at start + i when the
    call returns (the page GUP found there, or faulted, unshared or COW-copied in itself).

    The kernel-doc of get_user_pages() promises the page "that would be accessed if a user
    thread accesses the given user virtual address at that instant", and that it is not
    freed; it does not promise the page is still mapped on return, because anything running
    concurrently (in the model: the operations interleaved at GUP's retry point) may zap,
    COW or refault the address after GUP took its page. So addresses an interleaved
    operation of the caller touched (a CPU access, MADV_DONTNEED, munmap) are exempt; every
    other entry must match the mapping at return. Covers the GUP-fast prefix and the slow
    rest, the zero page (mapped by a read fault), unsharing and migration before a
    long-term pin (the new page is what is mapped), and user-space callers."""
    for result in run.results:
        op = result.op
        if not isinstance(op, sc.Gup) or not result.grabbed or result.result is None:
            continue  # nothing returned, or the call never returned (a BUG or a livelock in it)
        touched = _touched_by_race(op)
        where = _Where(result.index, op)
        for grab in result.grabbed:
            if not grab.live:
                return f"{where} returned pfn {grab.pfn} for page {grab.addr}, which is freed"
            if grab.addr in touched or grab.mapped == grab.pfn:
                continue
            mapped = "nothing" if grab.mapped is None else f"pfn {grab.mapped}"
            return (f"{where} returned pfn {grab.pfn} for page {grab.addr}, but process {op.process} maps "
                    f"{mapped} there when the call returns")
    return None
