"""Scenarios the live-kernel oracle can drive (harness.oracle), for the differential check.

Restricted to what a userspace process on the running kernel can do (LIVE_KERNEL.md):
anonymous, shmem and ext4-file VMAs in normal memory; the userspace callers of GUP with
their own fixed flags; CPU accesses, fork, MADV_DONTNEED, mprotect, munmap; device
accesses only through what a caller keeps (io_uring buffers; a vmsplice pipe for reads).

Valid by construction (no filtering), simplest first everywhere, so that a mismatch
shrinks towards one private anonymous page and one call.
"""

from __future__ import annotations

from hypothesis import strategies as st

from harness import scenario as sc

MAX_VMAS = 3
MAX_PAGES = 6
MAX_GAP = 2
MAX_OPS = 8

#: simplest first: the long-term pin of io_uring, then the short-term pins, the FOLL_GET
#: callers and the fault-in-only ones
DRIVABLE_APIS = sc.CALLER_APIS
DRIVABLE_BACKINGS = ("anon", "shmem", "file")
#: callers whose pages stay held after the call, so a device can reach them afterwards
#: (io_uring: reads and writes through fixed buffers; vmsplice: a pipe reader sees the pages)
DMA_WRITE_HOLDERS = ("io_uring_register_buffers",)
DMA_READ_HOLDERS = ("io_uring_register_buffers", "vmsplice")


@st.composite
def drivable_vmas(draw: st.DrawFn, start: int = 0, max_pages: int = MAX_PAGES) -> sc.Vma:
    pages = draw(st.integers(1, max_pages))
    prot = draw(st.sampled_from(("rw", "rw", "r", "none")))  # rw first and twice as likely
    share = draw(st.sampled_from(sc.SHARES))
    backing = draw(st.sampled_from(DRIVABLE_BACKINGS))
    faulted = "".join(draw(st.lists(st.sampled_from(sc.FAULT_CHARS), min_size=pages, max_size=pages)))
    return sc.Vma(start, pages, prot, share, backing, "" if not faulted.strip("-") else faulted)


@st.composite
def drivable_layouts(draw: st.DrawFn, max_vmas: int = MAX_VMAS) -> tuple[sc.Vma, ...]:
    count = draw(st.integers(1, max_vmas))
    result = []
    start = draw(st.integers(0, MAX_GAP))
    for _ in range(count):
        vma = draw(drivable_vmas(start=start))
        result.append(vma)
        start = vma.end + draw(st.integers(0, MAX_GAP))
    return tuple(result)


@st.composite
def page_range(draw: st.DrawFn, layout: tuple[sc.Vma, ...], max_pages: int | None = None) -> tuple[int, int]:
    """(start, pages): simplest first, inside one VMA; otherwise anywhere from page 0 to the
    guard page after the layout, crossing VMA boundaries and holes."""
    span = max(v.end for v in layout)
    if draw(st.sampled_from(("inside", "anywhere"))) == "inside":
        vma = draw(st.sampled_from(layout))
        start = draw(st.integers(vma.start, vma.end - 1))
        last = vma.end - start
    else:
        start = draw(st.integers(0, span))  # span itself: the range starts in the guard hole
        last = max(span - start, 1) + 1
    return start, draw(st.integers(1, last if max_pages is None else min(last, max_pages)))


@st.composite
def drivable_gup(draw: st.DrawFn, layout: tuple[sc.Vma, ...], processes: int) -> sc.Gup:
    """A caller's GUP call, with no flags beyond its own."""
    api = draw(st.sampled_from(DRIVABLE_APIS))
    start, pages = draw(page_range(layout))
    process = draw(st.integers(0, processes - 1))
    return sc.Gup(api, start, pages, process=process)


@st.composite
def drivable_other(draw: st.DrawFn, layout: tuple[sc.Vma, ...], processes: int, held: dict[int, sc.Gup]) -> sc.Op:
    """Anything but a GUP call. `held`: op index -> Gup not yet released."""
    span = max(v.end for v in layout)
    process = draw(st.integers(0, processes - 1))
    kind = draw(st.sampled_from(("cpu_write", "cpu_read", "fork", "release", "dma_write", "dma_read",
                                 "madv_dontneed", "mprotect", "munmap")))
    page = draw(st.integers(0, span - 1))
    if kind == "cpu_write":
        return sc.CpuWrite(page, process)
    if kind == "cpu_read":
        return sc.CpuRead(page, process)
    if kind == "fork":
        return sc.Fork(process)
    if kind in ("release", "dma_write", "dma_read"):
        holders = DMA_WRITE_HOLDERS if kind == "dma_write" else DMA_READ_HOLDERS if kind == "dma_read" else None
        candidates = sorted(i for i, g in held.items() if holders is None or g.api in holders)
        if candidates:
            of = draw(st.sampled_from(candidates))
            if kind == "release":
                return sc.Release(of)
            index = draw(st.integers(0, held[of].pages - 1))
            return sc.DmaWrite(of, index) if kind == "dma_write" else sc.DmaRead(of, index)
        return sc.CpuWrite(page, process)  # nothing to release or reach: the simplest op instead
    start, pages = draw(page_range(layout, max_pages=4))
    if kind == "madv_dontneed":
        return sc.MadvDontneed(start, pages, process)
    if kind == "mprotect":
        return sc.Mprotect(start, pages, draw(st.sampled_from(sc.PROTS)), process)
    return sc.Munmap(start, pages, process)


@st.composite
def drivable_scenarios(draw: st.DrawFn, max_ops: int = MAX_OPS) -> sc.Scenario:
    """A drivable layout and 1..max_ops operations, the first a GUP call by a userspace caller."""
    layout = draw(drivable_layouts())
    processes = 1
    ops: list[sc.Op] = [draw(drivable_gup(layout, processes))]
    held: dict[int, sc.Gup] = {0: ops[0]}  # type: ignore[dict-item]
    for index in range(1, draw(st.sampled_from(range(1, max_ops + 1)))):  # uniform, 1 first
        if draw(st.integers(0, 2)) == 0:
            op: sc.Op = draw(drivable_gup(layout, processes))
            held[index] = op  # type: ignore[assignment]
        else:
            op = draw(drivable_other(layout, processes, held))
            if isinstance(op, sc.Release):
                del held[op.of]
            elif isinstance(op, sc.Fork):
                processes += 1
        ops.append(op)
    return sc.validate(sc.Scenario(layout, tuple(ops)))


def not_drivable(scenario: sc.Scenario) -> str | None:
    """Why the live-kernel oracle cannot drive `scenario` (one line), or None if it can.

    The same rules harness/oracle/execute.py applies while running (NotDrivable), decided
    up front from the scenario alone: a C export or a live comparison of a scenario that
    would stop halfway is refused before anything runs. What depends on the machine (root,
    io_uring, a block filesystem for file VMAs and O_DIRECT) is not decided here.
    """
    from harness.oracle.execute import CALLER_IMPLIED

    for i, vma in enumerate(scenario.layout):
        if vma.backing == "pfnmap":
            return f"layout[{i}]: pfnmap not drivable on the live kernel (no userspace PFN map)"
        if vma.placement != "normal":
            return f"layout[{i}]: placement {vma.placement!r} not drivable on the live kernel (no CMA/ZONE_MOVABLE here)"
    for i, op in enumerate(scenario.ops):
        if not isinstance(op, sc.Gup):
            continue
        if op.api in sc.KERNEL_APIS:
            return f"op {i}: {op.api} is a kernel API, not drivable on the live kernel"
        if op.interleave:
            return f"op {i}: interleave (ops at GUP's retry point) not drivable on the live kernel"
        if op.repeat > 1:
            return (f"op {i}: repeat={op.repeat} not drivable on the live kernel (refcounts cannot be observed "
                    "there, and driving them near overflow would WARN the host)")
        extra = set(op.flags) - CALLER_IMPLIED.get(op.api, set())
        if extra:
            return f"op {i}: {op.api} cannot add {', '.join(sorted(extra))} on the live kernel (its GUP flags are fixed)"
    return None
