"""Scenarios: what a test does, as plain data.

A scenario is a layout (the VMAs of one process, with how their pages were faulted
in beforehand) and a sequence of operations. It is frozen, comparable and
JSON-serialisable, so that a shrunk counterexample can be stored as a regression
file and replayed years later, independently of Hypothesis' internal encoding.

Addresses are page numbers (4 KiB pages) relative to the start of the test area.
"""

from __future__ import annotations

from typing import Union

import attrs

PROTS = ("rw", "r", "none")
SHARES = ("private", "shared")
#: anon: anonymous memory (MAP_SHARED|MAP_ANONYMOUS is shmem inside the kernel);
#: shmem: a memfd/tmpfs file; file: a file on a writeback filesystem (ext4);
#: pfnmap: a VM_IO|VM_PFNMAP driver mapping without struct pages;
#: mixedmap: a VM_MIXEDMAP driver mapping (MAP_SHARED only) whose pages, page by page, are the
#: driver's own (struct page, never on an LRU) or memory without a struct page (special PTEs).
BACKINGS = ("anon", "shmem", "file", "pfnmap", "mixedmap")
#: where a VMA's pages sit: normal memory, ZONE_MOVABLE, a CMA pageblock, or a CMA pageblock
#: that alloc_contig_range() is isolating right now (migratetype ISOLATE)
PLACEMENTS = ("normal", "movable", "cma", "isolate")
#: where a mixedmap driver allocates its pages: alloc_page() or cma_alloc()
DRIVER_PLACEMENTS = ("normal", "cma")
#: per-page state before the operations run: untouched, read-faulted, written.
FAULT_CHARS = "-rw"
#: per-page kind of a mixedmap VMA: `p` the driver's own page (struct page, vmf_insert_page),
#: `s` memory without a struct page (vmf_insert_mixed: a special PTE)
DRIVER_CHARS = "ps"

#: GUP entry points as the kernel exports them.
KERNEL_APIS = (
    "get_user_pages",
    "pin_user_pages",
    "get_user_pages_fast",
    "pin_user_pages_fast",
    "get_user_pages_remote",
    "pin_user_pages_remote",
)
#: Userspace-reachable callers: each is a fixed GUP call (see harness/model/callers.py).
CALLER_APIS = (
    "io_uring_register_buffers",
    "odirect_read",
    "odirect_write",
    "process_vm_readv",
    "process_vm_writev",
    "vmsplice",
    "proc_mem_write",
    "proc_mem_read",
    "madv_populate_read",
    "madv_populate_write",
)
APIS = KERNEL_APIS + CALLER_APIS

#: FOLL flags a caller may name. FOLL_GET/FOLL_PIN are normally set by the API itself;
#: a caller naming them is one of the invalid mixes is_valid_gup_args() refuses.
CALLER_FLAGS = (
    "FOLL_WRITE",
    "FOLL_FORCE",
    "FOLL_LONGTERM",
    "FOLL_GET",
    "FOLL_PIN",
    "FOLL_NOFAULT",
    "FOLL_ANON",
)

#: callers whose GUP call carries FOLL_WRITE by itself
WRITING_CALLERS = ("io_uring_register_buffers", "odirect_read", "process_vm_writev", "proc_mem_write",
                   "madv_populate_write")


def writes_through(op: Gup) -> bool:
    """Did the call ask for write access (so a device may write through what it got)?"""
    return "FOLL_WRITE" in op.flags or op.api in WRITING_CALLERS


#: callers that keep what they got after the call returns, so repeating the call piles up
#: references on the same pages: the kernel APIs, io_uring buffers, vmsplice pipes
HOLDING_APIS = KERNEL_APIS + ("io_uring_register_buffers", "vmsplice")
#: bound on Gup.repeat: enough to wrap a 32-bit refcount all the way round with FOLL_GET
#: references (2**32), checked before anything runs
MAX_REPEAT = 1 << 32

#: GUP retry points at which an Interleave operation can run (see Gup.interleave).
RETRY_POINTS = ("after_fault",)


@attrs.frozen
class Vma:
    """One mapping of the layout."""

    start: int
    pages: int
    prot: str = "rw"
    share: str = "private"
    backing: str = "anon"
    #: one character per page from FAULT_CHARS; "" means all untouched. Faults are
    #: applied with write permission and the protection is set afterwards, as a
    #: program that fills a buffer and then mprotects it would.
    faulted: str = ""
    placement: str = "normal"
    #: mixedmap only: one character per page from DRIVER_CHARS; "" means all `p`
    driver: str = ""

    @property
    def end(self) -> int:
        return self.start + self.pages

    def fault_of(self, index: int) -> str:
        return self.faulted[index] if self.faulted else "-"


@attrs.frozen
class Gup:
    """A get/pin call. The returned pages are held until a Release names this op."""

    api: str
    start: int
    pages: int
    flags: tuple[str, ...] = ()
    #: operations run at GUP's first retry point (after a fault, before the page is
    #: looked up again): how a race such as Dirty COW becomes a plain, shrinkable scenario.
    interleave: tuple[Op, ...] = ()
    process: int = 0
    #: the same call made this many times in a row, each keeping what it got (vmsplice with
    #: `repeat` iovecs of the same range, io_uring registering the same buffer `repeat` times,
    #: a driver pinning the same user buffer again and again). The runner adds the
    #: references of identical repetitions arithmetically, so the 2**31 of a refcount overflow
    #: cost microseconds. Only for callers that keep their pages (see HOLDING_APIS).
    repeat: int = 1


@attrs.frozen
class Isolate:
    """Only inside a Gup's interleave: compaction (or another migration, or another long-term
    pin's collect step) isolates the folio mapped at `page` from the LRU while the call holds
    its pins, and puts it back once the call's first long-term check is over. In a call
    without a long-term check it has nothing to race with and does nothing."""

    page: int
    process: int = 0


@attrs.frozen
class BatchRef:
    """Another CPU's folio batch (mlock, activate, rotate) takes a reference to the folio
    mapped at `page`, which stays on its LRU; lru_add_drain_all() releases it. Nothing
    happens if no folio on an LRU is mapped there."""

    page: int
    process: int = 0


@attrs.frozen
class FailSlab:
    """Only inside a Gup's interleave: every slab allocation the call makes fails, as under
    fault injection (CONFIG_FAILSLAB with /proc/thread-self/make-it-fail, or fail-nth) or when
    memory is exhausted. GUP's own allocations are the long-term path's temporary arrays: the
    vmas array of v5.2..v5.10 and the folio array of v6.11. Page allocations (faults,
    migration targets) are not affected. In a call that allocates nothing it does nothing."""


@attrs.frozen
class Release:
    """Unpin (FOLL_PIN) or put (FOLL_GET) every page an earlier Gup op still holds."""

    of: int


@attrs.frozen
class CpuRead:
    page: int
    process: int = 0


@attrs.frozen
class CpuWrite:
    page: int
    process: int = 0


@attrs.frozen
class DmaWrite:
    """A device writes through the pin held by op `of`, into its `index`-th page."""

    of: int
    index: int = 0


@attrs.frozen
class DmaRead:
    of: int
    index: int = 0


@attrs.frozen
class Fork:
    """The process forks; the child becomes process number (number of forks so far)."""

    process: int = 0


@attrs.frozen
class Exit:
    process: int


@attrs.frozen
class Munmap:
    start: int
    pages: int
    process: int = 0


@attrs.frozen
class Mprotect:
    start: int
    pages: int
    prot: str
    process: int = 0


@attrs.frozen
class MadvDontneed:
    start: int
    pages: int
    process: int = 0


Op = Union[Gup, Release, CpuRead, CpuWrite, DmaWrite, DmaRead, Fork, Exit, Munmap, Mprotect, MadvDontneed,
           Isolate, BatchRef, FailSlab]
OP_CLASSES: tuple[type, ...] = (
    Gup, Release, CpuRead, CpuWrite, DmaWrite, DmaRead, Fork, Exit, Munmap, Mprotect, MadvDontneed, Isolate, BatchRef,
    FailSlab,
)
#: JSON tag of each operation class.
OP_NAMES: dict[type, str] = {
    Gup: "gup",
    Release: "release",
    CpuRead: "cpu_read",
    CpuWrite: "cpu_write",
    DmaWrite: "dma_write",
    DmaRead: "dma_read",
    Fork: "fork",
    Exit: "exit",
    Munmap: "munmap",
    Mprotect: "mprotect",
    MadvDontneed: "madv_dontneed",
    Isolate: "isolate",
    BatchRef: "batch_ref",
    FailSlab: "fail_slab",
}


@attrs.frozen
class Scenario:
    layout: tuple[Vma, ...]
    ops: tuple[Op, ...]

    def vma_at(self, page: int) -> Vma | None:
        for vma in self.layout:
            if vma.start <= page < vma.end:
                return vma
        return None

    @property
    def span(self) -> int:
        """Number of pages from 0 to the end of the last VMA."""
        return max((v.end for v in self.layout), default=0)


class ScenarioError(ValueError):
    """A scenario that cannot exist; `where` names the field (e.g. 'layout[1].pages')."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


#: Resource limits of the format, checked before anything is allocated: a scenario is a small
#: counterexample, and a file asking for a billion pages must be refused, not run.
MAX_VMAS = 32
#: highest page number + 1 that a VMA or an operation may reach (4 MiB of address space)
MAX_SPAN = 1024
MAX_OPS = 64
MAX_PROCESSES = 16


def validate(scenario: Scenario) -> Scenario:
    """Check that the scenario describes something a process can do; raise ScenarioError."""
    if not scenario.layout:
        raise ScenarioError("layout", "needs at least one VMA")
    if len(scenario.layout) > MAX_VMAS:
        raise ScenarioError("layout", f"{len(scenario.layout)} VMAs, more than the format allows ({MAX_VMAS})")
    nested = sum(len(op.interleave) for op in scenario.ops if isinstance(op, Gup))
    if len(scenario.ops) + nested > MAX_OPS:
        raise ScenarioError("ops", f"{len(scenario.ops) + nested} operations (interleaved ones included), more "
                            f"than the format allows ({MAX_OPS})")
    previous: Vma | None = None
    for i, vma in enumerate(scenario.layout):
        _validate_vma(f"layout[{i}]", vma)
        if previous is not None and vma.start < previous.end:
            raise ScenarioError(f"layout[{i}].start", f"VMA at page {vma.start} overlaps or precedes the previous one (ends at {previous.end}); list VMAs in address order without overlap")
        previous = vma
    processes = 1
    gups: dict[int, Gup] = {}
    released: set[int] = set()
    for i, op in enumerate(scenario.ops):
        processes = _validate_op(f"ops[{i}]", i, op, processes, gups, released)
    return scenario


def _validate_vma(where: str, vma: Vma) -> None:
    if vma.start < 0:
        raise ScenarioError(f"{where}.start", "must be >= 0")
    if vma.pages < 1:
        raise ScenarioError(f"{where}.pages", "a VMA needs at least one page")
    _within_span(where, vma.start, vma.pages)
    _choice(f"{where}.prot", vma.prot, PROTS)
    _choice(f"{where}.share", vma.share, SHARES)
    _choice(f"{where}.backing", vma.backing, BACKINGS)
    _choice(f"{where}.placement", vma.placement, PLACEMENTS)
    _per_page(f"{where}.faulted", vma.faulted, vma.pages, FAULT_CHARS, "page state")
    if vma.backing == "pfnmap":
        if vma.faulted.strip("-"):
            raise ScenarioError(f"{where}.faulted", "a PFN map has no struct pages to fault in (its PTEs are set up by the driver)")
        if vma.placement != "normal":
            raise ScenarioError(f"{where}.placement", "a PFN map is device memory, not normal/movable/CMA RAM")
    if vma.driver and vma.backing != "mixedmap":
        raise ScenarioError(f"{where}.driver", "only a mixedmap VMA has driver pages")
    if vma.backing == "mixedmap":
        if vma.share != "shared":
            raise ScenarioError(f"{where}.share", "a mixedmap driver mapping is MAP_SHARED in the model (private "
                                "driver mappings and their COW are not modelled)")
        _choice(f"{where}.placement", vma.placement, DRIVER_PLACEMENTS)
        _per_page(f"{where}.driver", vma.driver, vma.pages, DRIVER_CHARS, "driver page kind")


def _validate_op(where: str, index: int, op: Op, processes: int, gups: dict[int, Gup], released: set[int],
                 inside: bool = False) -> int:
    process = getattr(op, "process", 0)
    if not 0 <= process < processes:
        raise ScenarioError(f"{where}.process", f"process {process} does not exist at this point (there are {processes})")
    if isinstance(op, Gup):
        _choice(f"{where}.api", op.api, APIS)
        for j, flag in enumerate(op.flags):
            _choice(f"{where}.flags[{j}]", flag, CALLER_FLAGS)
        if op.start < 0:
            raise ScenarioError(f"{where}.start", "must be >= 0")
        if op.pages < 1:
            raise ScenarioError(f"{where}.pages", "a call covers at least one page")
        _within_span(where, op.start, op.pages)
        if not 1 <= op.repeat <= MAX_REPEAT:
            raise ScenarioError(f"{where}.repeat", f"must be between 1 and {MAX_REPEAT} (2**32)")
        if op.repeat > 1:
            if op.api not in HOLDING_APIS:
                raise ScenarioError(f"{where}.repeat", f"{op.api} keeps nothing after the call, so repeating it "
                                    f"piles up no references (repeat works with: {', '.join(HOLDING_APIS)})")
            if op.interleave:
                raise ScenarioError(f"{where}.repeat", "a repeated call cannot also have interleaved operations")
        for j, inner in enumerate(op.interleave):
            if not isinstance(inner, (CpuRead, CpuWrite, Munmap, Mprotect, MadvDontneed, Isolate, FailSlab)):
                raise ScenarioError(f"{where}.interleave[{j}]", f"{OP_NAMES[type(inner)]} cannot run inside a GUP call (only CPU accesses, munmap, mprotect, madv_dontneed, isolate, fail_slab)")
            _validate_op(f"{where}.interleave[{j}]", index, inner, processes, gups, released, inside=True)
        gups[index] = op
    elif isinstance(op, Isolate):
        if not inside:
            raise ScenarioError(where, "isolate races with a GUP call: it belongs in a gup operation's interleave")
        if op.page < 0:
            raise ScenarioError(f"{where}.page", "must be >= 0")
    elif isinstance(op, FailSlab):
        if not inside:
            raise ScenarioError(where, "fail_slab fails a GUP call's allocations: it belongs in a gup operation's "
                                "interleave")
    elif isinstance(op, (Release, DmaRead, DmaWrite)):
        if op.of not in gups:
            raise ScenarioError(f"{where}.of", f"op {op.of} is not an earlier gup operation")
        if op.of in released:
            raise ScenarioError(f"{where}.of", f"the pages of op {op.of} were already released")
        if isinstance(op, Release):
            released.add(op.of)
        elif not 0 <= op.index < gups[op.of].pages:
            raise ScenarioError(f"{where}.index", f"op {op.of} covers {gups[op.of].pages} pages")
        elif isinstance(op, DmaWrite) and not writes_through(gups[op.of]):
            raise ScenarioError(f"{where}.of", f"op {op.of} took its pages without FOLL_WRITE: a device may not "
                                "write through them")
    elif isinstance(op, (Munmap, Mprotect, MadvDontneed)):
        if op.start < 0 or op.pages < 1:
            raise ScenarioError(f"{where}", "needs start >= 0 and pages >= 1")
        _within_span(where, op.start, op.pages)
        if isinstance(op, Mprotect):
            _choice(f"{where}.prot", op.prot, PROTS)
    elif isinstance(op, (CpuRead, CpuWrite, BatchRef)):
        if op.page < 0:
            raise ScenarioError(f"{where}.page", "must be >= 0")
        _within_span(where, op.page, 1)
    elif isinstance(op, Fork):
        if processes >= MAX_PROCESSES:
            raise ScenarioError(where, f"more than {MAX_PROCESSES} processes, more than the format allows")
        return processes + 1
    return processes


def _per_page(where: str, value: str, pages: int, allowed: str, what: str) -> None:
    """A per-page string ('' = all default): one known character per page."""
    if not value:
        return
    if len(value) != pages:
        raise ScenarioError(where, f"has {len(value)} characters for {pages} pages")
    bad = set(value) - set(allowed)
    if bad:
        raise ScenarioError(where, f"unknown {what} {sorted(bad)[0]!r} (use one of {allowed!r})")


def _within_span(where: str, start: int, pages: int) -> None:
    if start + pages > MAX_SPAN:
        field = f"{where}.pages" if start < MAX_SPAN else f"{where}.start"
        raise ScenarioError(field, f"reaches page {start + pages - 1}, beyond the format's limit of {MAX_SPAN} pages")


def _choice(where: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ScenarioError(where, f"unknown value {value!r} (expected one of: {', '.join(allowed)})")
