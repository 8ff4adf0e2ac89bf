"""Each property's live side: whether and how it can be judged from what the running kernel shows.

A table keyed by property name (the model properties in properties/ are not touched): for
each, a capability ("yes": the whole promise is observable; "partial": the part named in
`how`; "no": why not) and, unless "no", a check over a live run. A check returns a
LiveVerdict: the failure (None = holds) and how many steps it actually judged, so a report
can say how much of a hunt exercised each property. Checks judge only what the kernel shows
and the scenario says; they never consult the model, and where the scenario leaves the state
unclear they judge nothing (they must never report a bug the kernel does not have).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import attrs

from .. import scenario as sc
from ..model.flags import errno_name
from ..oracle.probe import writer_of
from ..run import describe_op
from .history import CALLER_WRITES, FORCED, UNKNOWN, History

CAPABILITIES = ("yes", "partial", "no")


@attrs.frozen
class LiveVerdict:
    failure: str | None
    #: steps (op observations, device accesses, probes) this property judged
    checked: int = 0


LiveCheckFn = Callable[[History], LiveVerdict]


@attrs.frozen
class LiveCheck:
    name: str
    capability: str
    how: str
    check: LiveCheckFn | None = None

    @property
    def checkable(self) -> bool:
        return self.capability != "no" and self.check is not None


LIVE: dict[str, LiveCheck] = {}


def live_check(name: str, capability: str, how: str) -> Callable[[LiveCheckFn], LiveCheckFn]:
    """Register `check` as the live side of property `name`."""
    assert capability in ("yes", "partial")

    def register(check: LiveCheckFn) -> LiveCheckFn:
        add(LiveCheck(name, capability, how, check))
        return check

    return register


def add(entry: LiveCheck) -> None:
    if entry.name in LIVE:
        raise ValueError(f"live check {entry.name!r} registered twice")
    LIVE[entry.name] = entry


@contextmanager
def registered(entry: LiveCheck) -> Iterator[LiveCheck]:
    """A live check that exists only inside the block (tests add deliberately wrong ones)."""
    add(entry)
    try:
        yield entry
    finally:
        del LIVE[entry.name]


def not_checkable(name: str, why: str) -> None:
    add(LiveCheck(name, "no", why))


def capability(name: str) -> LiveCheck:
    """The live side of a property; one registered nowhere here is not checkable live."""
    return LIVE.get(name) or LiveCheck(name, "no", "no live check is declared for it")


def _where(h: History, index: int) -> str:
    return f"op {index} ({describe_op(h.scenario.ops[index])})"


# ---- the checks -------------------------------------------------------------------------

@live_check("terminates", "yes", "every op returns within the oracle's bound; otherwise the scenario's "
            "processes are killed and the op that was running is named")
def terminates(h: History) -> LiveVerdict:
    done = len(h.live.steps)
    if h.live.error != "timeout":
        return LiveVerdict(None, done)
    if not h.live.initial:
        return LiveVerdict("setting up the layout did not finish within the bound", done)
    return LiveVerdict(f"{_where(h, done)} did not return within the bound (killed)", done)


@live_check("pin_coherence", "partial", "io_uring's long-term R/W pins: a device write through the pin "
            "must be what the pinning process reads at that address, and a device read must return what "
            "it maps there, until it unmaps/zaps the address or exits (R/O long-term pins: not drivable)")
def pin_coherence(h: History) -> LiveVerdict:
    checked = 0
    for dma in h.live.dma:
        op = h.scenario.ops[dma.op]
        assert isinstance(op, (sc.DmaRead, sc.DmaWrite))
        gup = h.scenario.ops[op.of]
        if not isinstance(gup, sc.Gup) or gup.api != "io_uring_register_buffers" or dma.coherent is None:
            continue  # a vmsplice reference is FOLL_GET: no promise
        page = gup.start + op.index
        if h.detached(op.of, page, dma.op):
            continue
        checked += 1
        if not dma.coherent:
            what = "wrote" if dma.kind == "dma_write" else "read"
            return LiveVerdict(f"{_where(h, dma.op)}: the device {what} page {page} through the pin of op {op.of}, "
                               f"but process {gup.process}'s mapping there shows other contents: the pin and the "
                               "mapping no longer hold the same page", checked)
    return LiveVerdict(None, checked)


@live_check("private_stays_private", "partial", "page contents: every write stores a byte naming its op; no "
            "write through a private mapping may show in a backing file (read through a separate fd), nor in "
            "a process or a device read through another process's pin or pipe, unless that process was forked "
            "from the writer after the write (CPU reads of present pages in every process, after every op)")
def private_stays_private(h: History) -> LiveVerdict:
    checked = 0

    def leak(value: int, reader: int | None) -> str | None:
        """Why `reader` (None: the page cache) may not see `value`, or None if it may."""
        if writer_of(value) is None:
            return None
        writes = h.writes_of(value)
        if not writes or any(not w.private for w in writes):
            return None  # not attributable, or (also) written through a shared mapping
        if reader is not None and any(h.sees(w.process, w.op, reader) for w in writes):
            return None
        w = writes[0]
        where = "the layout" if w.op < 0 else _where(h, w.op)
        return f"process {w.process}'s {w.via} write at page {w.page} ({where}) through a private mapping"

    for probe in h.live.probes:
        if probe.op is None:
            continue
        after = "after the layout" if probe.op < 0 else f"after {_where(h, probe.op)}"
        for number, values in probe.files.items():
            checked += 1
            vma = h.scenario.layout[number]
            for j, value in enumerate(values):
                why = leak(value, None)
                if why:
                    return LiveVerdict(f"{after}: {why} reached the page cache: page {j} of the file behind the "
                                       f"VMA at page {vma.start} reads it back", checked)
        for process, view in probe.views.items():
            checked += 1
            for page, seen in enumerate(view):
                why = leak(seen, process) if seen is not None else None
                if why:
                    return LiveVerdict(f"{after}: process {process} reads at page {page} {why}, made after "
                                       "they separated", checked)
    for dma in h.live.dma:
        if dma.kind != "dma_read" or dma.seen is None:
            continue
        op = h.scenario.ops[dma.op]
        assert isinstance(op, sc.DmaRead)
        holder = h.scenario.ops[op.of]
        assert isinstance(holder, sc.Gup)
        checked += 1
        why = leak(dma.seen, holder.process)
        if why:
            return LiveVerdict(f"{_where(h, dma.op)}: a device read through process {holder.process}'s {holder.api} "
                               f"hold of op {op.of} shows {why}, made after they separated", checked)
    return LiveVerdict(None, checked)


@live_check("zero_page_never_pinned_writable", "partial", "a successful FOLL_WRITE get/pin by process 0 "
            "(io_uring, O_DIRECT read, process_vm_writev, /proc/self/mem write) leaves no page of its range "
            "mapping the zero page (pagemap + kpageflags); what GUP returned is not visible itself")
def zero_page_never_pinned_writable(h: History) -> LiveVerdict:
    checked = 0
    for step in h.live.steps:
        op = h.scenario.ops[step.op]
        if (not isinstance(op, sc.Gup) or op.process != 0 or not CALLER_WRITES.get(op.api)
                or step.result is None or step.result <= 0):
            continue
        checked += 1
        for page in range(op.start, min(op.start + step.result, len(step.pages))):
            if step.pages[page].zero:
                return LiveVerdict(f"{_where(h, step.op)} returned {step.result} page(s) for a write, yet page "
                                   f"{page} still maps the zero page", checked)
    return LiveVerdict(None, checked)


@live_check("pin_balance", "partial", "pinned-vm accounting: process 0's VmPin is back to its starting value "
            "whenever it holds no io_uring registration, and after the final release and exit (page refcounts "
            "are not visible from userspace)")
def pin_balance(h: History) -> LiveVerdict:
    probes = h.live.probes
    if not probes or probes[0].op != -1 or probes[0].vmpin is None:
        return LiveVerdict(None, 0)
    start = probes[0].vmpin
    registrations = [i for i, op in enumerate(h.scenario.ops)
                     if isinstance(op, sc.Gup) and op.api == "io_uring_register_buffers" and op.process == 0
                     and (h.results.get(i) or 0) > 0]
    checked = 0
    for probe in probes[1:]:
        if probe.vmpin is None:
            continue
        if probe.op is not None and any(of <= probe.op and h.held(of, probe.op) for of in registrations):
            continue
        checked += 1
        if probe.vmpin != start:
            after = "after the final clean-up (everything released, every process gone)" if probe.op is None \
                else f"after {_where(h, probe.op)}, with no io_uring registration held"
            return LiveVerdict(f"{after}, VmPin is {probe.vmpin} kB; it was {start} kB after the layout", checked)
    return LiveVerdict(None, checked)


@live_check("pinned_anon_exclusive", "partial", "process 0's io_uring pins: while held, a pinned anon page still "
            "mapped where it was pinned (same PFN since the pin) is mapped exactly once (pagemap bit 56; "
            "PG_anon_exclusive itself is not visible, but an exclusive small page has one mapping)")
def pinned_anon_exclusive(h: History) -> LiveVerdict:
    checked = 0
    steps = {s.op: s for s in h.live.steps}
    for of, op in enumerate(h.scenario.ops):
        if not (isinstance(op, sc.Gup) and op.api == "io_uring_register_buffers" and op.process == 0
                and h.results.get(of) == op.pages):
            continue
        for page in range(op.start, op.start + op.pages):
            for at in range(of, len(h.scenario.ops)):
                step = steps.get(at)
                if step is None or page >= len(step.pages) or (at > of and not h.held(of, at)):
                    break
                seen = step.pages[page]
                if not seen.present or (at > of and seen.identity != "same"):
                    break  # unmapped, zapped or replaced: the pinned page is no longer what is mapped
                if not seen.anon:
                    break
                checked += 1
                if not seen.mapped_once:
                    return LiveVerdict(f"after {_where(h, at)}, the anon page at page {page} that op {of} pinned "
                                       "is mapped more than once, so it is not PG_anon_exclusive", checked)
    return LiveVerdict(None, checked)


def _refused(view: object, write: bool, forced: bool) -> str | None:
    """check_vma_flags()'s refusals for a userspace caller (every VMA here is VM_MAYREAD|VM_MAYWRITE:
    private, or shared on a file/memfd opened read-write)."""
    if view is None:
        return "there is no VMA there"
    assert isinstance(view, tuple)
    prot, share = view
    if write and prot != "rw":
        if not forced:
            return "the VMA is not writable and the call is not forced"
        if share == "shared":
            return "a forced write may only break COW in a private mapping"
    if not write and prot == "none" and not forced:
        return "the VMA is not readable and the call is not forced"
    return None


@live_check("permissions_respected", "partial", "the userspace callers' page counts: a call that transferred or "
            "pinned N pages got the first N pages of its range, so none of them may lie in a hole or in a VMA "
            "check_vma_flags() refuses for the caller's fixed flags (VMAs as the layout and the accepted "
            "mprotect/munmap calls left them; MADV_POPULATE returns no pages)")
def permissions_respected(h: History) -> LiveVerdict:
    checked = 0
    for i, op in enumerate(h.scenario.ops):
        result = h.results.get(i)
        if not isinstance(op, sc.Gup) or op.api not in CALLER_WRITES or result is None or result <= 0:
            continue
        view = h.vmas_before.get(i)
        if view is None:
            continue
        pages = range(op.start, op.start + result)
        if any(view.get(p) == UNKNOWN for p in pages):
            continue
        checked += 1
        for page in pages:
            why = _refused(view.get(page), CALLER_WRITES[op.api], op.api in FORCED)
            if why:
                return LiveVerdict(f"{_where(h, i)} got {result} page(s), including page {page}, though {why}",
                                   checked)
    return LiveVerdict(None, checked)


@live_check("fork_copies_address_space", "partial", "contents right after each fork: at every page both the "
            "parent and the new child map present and readable, the child reads what the parent reads (a page "
            "fork left out for the child to refault is not read: reading would fault it in)")
def fork_copies_address_space(h: History) -> LiveVerdict:
    checked = 0
    forks = {forked_at: (parent, child) for child, (parent, forked_at) in h.births.items()}
    for probe in h.live.probes:
        if probe.op is None or probe.op not in forks:
            continue
        parent, child = forks[probe.op]
        mine, theirs = probe.views.get(parent), probe.views.get(child)
        if mine is None or theirs is None:
            continue
        checked += 1
        for page, (a, b) in enumerate(zip(mine, theirs)):
            if a is not None and b is not None and a != b:
                return LiveVerdict(f"after {_where(h, probe.op)}, the new child (process {child}) reads {b:#04x} at "
                                   f"page {page} where its parent reads {a:#04x}", checked)
    return LiveVerdict(None, checked)


not_checkable("user_held_pins_longterm", "no CMA or ZONE_MOVABLE on this machine, and a PFN's zone or migratetype "
              "is not visible")
not_checkable("refcount_accounting", "page refcounts are invisible from userspace (/proc/kpagecount is the "
              "mapcount)")
not_checkable("longterm_pins_only_on_pinnable", "no CMA or ZONE_MOVABLE on this machine, and a PFN's zone or "
              "migratetype is not visible")
not_checkable("call_contract", "it is the contract of the kernel's get/pin APIs; the userspace callers turn "
              "GUP's result into their own (conform compares those with the model)")
not_checkable("mapcount_matches_page_tables", "pagemap's 'mapped once' bit is computed from the mapcount, so "
              "the two cannot be told apart from userspace")


#: every userspace caller, and whether its GUP call writes (MADV_POPULATE_* fault in without taking pages)
GRANT_CALLERS = {**CALLER_WRITES, "madv_populate_read": False, "madv_populate_write": True}


@live_check("granted_requests_succeed", "partial", "only the plainest grants: a userspace caller's range wholly "
            "inside one anonymous or shmem VMA (no file: the writeback and O_DIRECT rules) whose protection "
            "allows the access without FOLL_FORCE, from a live process, must get the full count")
def granted_requests_succeed(h: History) -> LiveVerdict:
    checked = 0
    for i, op in enumerate(h.scenario.ops):
        result = h.results.get(i)
        view = h.vmas_before.get(i)
        if not isinstance(op, sc.Gup) or op.api not in GRANT_CALLERS or result is None or view is None:
            continue
        pages = range(op.start, op.start + op.pages)
        vmas = {h.scenario.vma_at(p) for p in pages}
        states = {view.get(p) for p in pages}
        if len(vmas) != 1 or len(states) != 1:
            continue  # a hole, several VMAs, or one split by mprotect/munmap
        vma, state = vmas.pop(), states.pop()
        if vma is None or vma.backing not in ("anon", "shmem") or not isinstance(state, tuple):
            continue
        if _refused(state, GRANT_CALLERS[op.api], forced=False):
            continue
        checked += 1
        if result != op.pages:
            got = errno_name(result) if result < 0 else f"{result} of {op.pages} pages"
            return LiveVerdict(f"{_where(h, i)} returned {got}, though its whole range lies in one "
                               f"{state[1]} {vma.backing} VMA with protection {state[0]}", checked)
    return LiveVerdict(None, checked)
not_checkable("returned_entry_is_mapped_page", "the pages a call returns are not visible; for io_uring, "
              "pin_coherence's device accesses see them")


@live_check("no_bug_no_warn", "partial", "the kernel log (/dev/kmsg) after every op: no WARNING/BUG/Oops logged "
            "together with a record naming a scenario process's pid (the model's own BUG/WARN conditions, e.g. a "
            "refcount below zero, show only when the kernel has a check for them and it is built in)")
def no_bug_no_warn(h: History) -> LiveVerdict:
    checked = 0
    for probe in h.live.probes:
        if probe.kernel_log is None:
            continue
        checked += 1
        if probe.kernel_log:
            after = ("after the final clean-up" if probe.op is None else "while setting up the layout"
                     if probe.op < 0 else f"in {_where(h, probe.op)}")
            more = f" (and {len(probe.kernel_log) - 1} more)" if len(probe.kernel_log) > 1 else ""
            return LiveVerdict(f"the kernel logged {probe.kernel_log[0]!r}{more} {after}", checked)
    return LiveVerdict(None, checked)
