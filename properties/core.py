"""The first three properties: termination, pin balance, no writable zero-page pins."""

from __future__ import annotations

from harness.model.accounting import explained_refcount
from harness.model.flags import FOLL, foll_names
from harness.run import Run, describe_op

from .registry import prop


@prop("terminates")
def terminates(run: Run) -> str | None:
    """Every call returns.

    A GUP call must finish in a bounded number of steps. The seed bug: with the zero page
    unpinnable (1c563432588d), __gup_longterm_locked() pinned it, could not isolate it,
    unpinned everything and retried, forever."""
    if run.livelock is None:
        return None
    lock = run.livelock
    op = run.results[-1]
    return f"op {op.index} ({describe_op(op.op)}) never returns: {lock}"


@prop("pin_balance")
def pin_balance(run: Run) -> str | None:
    """After everything the scenario pinned or got is released, every folio's refcount and
    pincount are back to what its mappings and the page cache explain.

    Holds also when a call failed or partly succeeded: __get_user_pages keeps exactly the
    pages it reports, and the long-term path drops every pin it does not return. A call that
    never returns (see `terminates`) keeps whatever it pinned so far, e.g. a GUP-fast prefix
    while the slow path loops: that run is not judged here, nor one that ended in a BUG
    (nothing is released after it)."""
    if run.livelock is not None or run.bug is not None:
        return None
    k = run.kernel
    problems = []
    for folio in k.mem.live():
        expected = explained_refcount(folio, gets=0, pins=0)  # nothing is held any more
        if folio.refcount != expected or folio.pincount != 0:
            problems.append(f"{folio.describe()}: refcount {folio.refcount}, expected {expected}"
                            + (f", pincount {folio.pincount}" if folio.pincount else ""))
    zero = k.mem.zero_page
    base = run.baseline.get(zero.pfn)
    if base is not None and zero.refcount != base[0] and not problems:
        problems.append(f"zero page refcount {zero.refcount}, was {base[0]} before the run")
    if not problems:
        return None
    return "references leaked or lost after releasing everything: " + "; ".join(problems)


@prop("zero_page_never_pinned_writable")
def zero_page_never_pinned_writable(run: Run) -> str | None:
    """No FOLL_WRITE get or pin returns the shared zero page; on profiles where R/O long-term
    pins in COW mappings unshare (84209e87c696, v6.2+), those never return it either.

    A write through such a page would change what every process reads as zeroes; a R/O
    long-term pin of it would keep showing zeroes after the process writes its own copy."""
    unshares = run.profile.has("unshare_ro_longterm_cow")
    for result in run.results:
        for grab in result.grabbed:
            if not grab.zero:
                continue
            if result.flags & FOLL.WRITE:
                return (f"op {result.index} ({describe_op(result.op)}) returned the zero page at page {grab.addr} "
                        f"for a write ({foll_names(result.flags)})")
            longterm_ro_pin = (result.flags & (FOLL.PIN | FOLL.LONGTERM)) == (FOLL.PIN | FOLL.LONGTERM)
            if unshares and longterm_ro_pin and grab.cow_mapping:
                return (f"op {result.index} ({describe_op(result.op)}) long-term pinned the zero page at page "
                        f"{grab.addr} R/O in a COW mapping, which 84209e87c696 promises to unshare")
    return None
