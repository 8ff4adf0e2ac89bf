"""Conform's full view of a step: what every live process of the scenario shows, the backing
files' contents and the step's device accesses, for the model and for the kernel alike.

The kernel's side is the oracle's probes (harness/oracle/probe.py, also the live hunt's) and
its DMA checks; the model's side is read off the machine by a hook in run_scenario (ModelViewer).
Both speak one vocabulary, so diff_views() compares them field by field:
- per live process: its page observations (harness/observe.py; identity against that process's
  previous view, "new" in its first, right after its fork), the map count of each present page
  (/proc/kpagecount: the mapcount, 0 for the zero page), the contents a CPU read of each present,
  readable page returns, and VmPin (mm->pinned_vm);
- per file/shmem VMA of the layout: the contents of each page of its file, read through the file;
- per device access of the step: whether the pin and the holder's mapping agreed (coherent;
  None when the mapping could not be read without a fault) and, for a read, what it returned.
Contents are named by their writer (content_label): every write the oracle makes stores a byte
naming its op (probe.tag), and the model's page contents are tokens whose op is known.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import attrs

from . import scenario as sc
from .model.flags import VM
from .observe import PageObservation
from .oracle.probe import LAYOUT_TAG, UNTAGGED, tag, writer_of
from .run import observe

if TYPE_CHECKING:
    from .model.kernel import Kernel
    from .oracle import LiveRun
    from .run import Snapshot

#: the callers that charge the pages they pin to the caller's mm->pinned_vm (VmPin), page by
#: page: io_uring's buffer registration (io_account_mem(); the model's registrations hold small
#: pages, so the compound-head de-duplication of io_buffer_account_pin() never applies). The
#: count belongs to the registering process's mm: a fork starts the child at 0 (mm_init()).
VMPIN_CALLERS = frozenset({"io_uring_register_buffers"})
#: fields compared beyond process 0's StepObservation, in the order differences are reported
VIEW_FIELDS = ("processes", "process pages", "mapcount", "contents", "vmpin", "file contents", "dma coherent",
               "dma seen")


def content_label(value: int | None) -> str | None:
    """Who wrote the byte a read returned: "op N", "layout", "unwritten" (zero-filled or the
    file's initial pattern), "unattributed" (an op too late to have a tag of its own); None
    for no read (the page was not present and readable)."""
    if value is None:
        return None
    writer = writer_of(value)
    if writer is not None:
        return "layout" if writer < 0 else f"op {writer}"
    return "unwritten" if value in UNTAGGED else "unattributed"


@attrs.frozen
class ProcessView:
    pages: tuple[PageObservation, ...]
    #: map count of each present page (None: absent)
    mapcounts: tuple[int | None, ...]
    #: content_label of what a CPU read of each page returns (None: not present and readable)
    contents: tuple[str | None, ...]
    #: VmPin in kB (None: unreadable)
    vmpin: int | None


@attrs.frozen
class DmaView:
    kind: str
    coherent: bool | None
    #: a device read: content_label of what it read; None for a write
    seen: str | None = None


@attrs.frozen
class StepView:
    """After op `op` (-1: after the layout was set up)."""

    op: int
    processes: dict[int, ProcessView]
    #: layout index of a file/shmem VMA -> content_label of each page of its file
    files: dict[int, tuple[str | None, ...]]
    dma: tuple[DmaView, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"processes": {str(n): {"pages": [p.short() + ("" if p.identity == "same" else f"({p.identity})")
                                                 for p in v.pages],
                                       "mapcounts": list(v.mapcounts), "contents": list(v.contents),
                                       "vmpin": v.vmpin} for n, v in sorted(self.processes.items())},
                "files": {str(n): list(v) for n, v in sorted(self.files.items())},
                "dma": [attrs.asdict(d) for d in self.dma]}


# -- the model's side -----------------------------------------------------------------------

class ModelViewer:
    """A run_scenario on_step hook that records a StepView after the layout and after each op."""

    def __init__(self, scenario: sc.Scenario) -> None:
        self.scenario = scenario
        self.views: dict[int, StepView] = {}
        #: (op, the next token when it finished): a token below an op's mark and at or above the
        #: previous one was written by that op
        self._marks: list[tuple[int, int]] = []
        self._previous: dict[int, dict[int, int] | None] = {}

    def __call__(self, k: Kernel, op: int, snapshot: Snapshot | None) -> None:
        self._marks.append((op, k.next_token))
        processes = {}
        for pid, mm in sorted(k.mms.items()):
            if mm.exited:
                continue
            pages, pfns = observe(k, self.scenario.span, self._previous.get(pid), pid)
            self._previous[pid] = pfns
            counts: list[int | None] = []
            contents: list[str | None] = []
            for addr in range(self.scenario.span):
                pte = mm.ptes.get(addr)
                folio = None if pte is None else pte.folio
                vma = mm.find_vma(addr)
                counts.append(None if folio is None else 0 if folio.is_zero else folio.mapcount)
                readable = folio is not None and vma is not None and vma.flags & VM.READ
                contents.append(self.label(folio.data) if readable and folio is not None else None)
            processes[pid] = ProcessView(pages, tuple(counts), tuple(contents), self._vmpin(pid, snapshot))
        self.views[op] = StepView(op, processes, self._files(k), self._dma(k, op, snapshot))

    def label(self, token: int) -> str | None:
        """The content_label of a model page holding `token` (0: never written)."""
        if token == 0:
            return content_label(0)
        writer = next((op for op, mark in self._marks if token < mark), None)
        return content_label(LAYOUT_TAG if writer == -1 else tag(writer) if writer is not None else None)

    def _vmpin(self, pid: int, snapshot: Snapshot | None) -> int:
        held = () if snapshot is None else snapshot.held
        ops = self.scenario.ops
        return 4 * sum(1 for h in held if h.process == pid and getattr(ops[h.op], "api", None) in VMPIN_CALLERS)

    def _files(self, k: Kernel) -> dict[int, tuple[str | None, ...]]:
        """The file behind each shmem/file VMA, as pread() through a separate fd shows it."""
        files = iter(k.files)  # vmops.mmap_layout makes them in layout order, shared anon too
        shown: dict[int, tuple[str | None, ...]] = {}
        for number, spec in enumerate(self.scenario.layout):
            if spec.backing not in ("shmem", "file") and not (spec.backing == "anon" and spec.share == "shared"):
                continue
            file = next(files)
            if spec.backing == "anon":
                continue  # no fd to read a shared anonymous mapping through
            row = []
            for index in range(spec.pages):
                cached = file.pages.get(index)
                data = cached.data if cached is not None and not cached.freed else file.disk.get(index, 0)
                row.append(self.label(data))
            shown[number] = tuple(row)
        return shown

    def _dma(self, k: Kernel, op: int, snapshot: Snapshot | None) -> tuple[DmaView, ...]:
        """A device access through what op.of holds: its page against the holder's mapping there."""
        access = self.scenario.ops[op] if op >= 0 else None
        if not isinstance(access, (sc.DmaRead, sc.DmaWrite)) or snapshot is None:
            return ()
        holder = self.scenario.ops[access.of]
        assert isinstance(holder, sc.Gup)
        addr = holder.start + access.index
        held = next((h for h in snapshot.held if h.op == access.of and h.addr == addr), None)
        if held is None:
            return ()  # -EFAULT: nothing held there, no access made
        folio = k.mem.folios[held.pfn]
        mm = k.mms[held.process]
        pte = None if mm.exited else mm.ptes.get(addr)
        vma = mm.find_vma(addr)
        mapped = pte.folio if pte is not None and vma is not None and vma.flags & VM.READ else None
        coherent = None if mapped is None else mapped.data == folio.data
        read = isinstance(access, sc.DmaRead)
        return (DmaView("dma_read" if read else "dma_write", coherent, self.label(folio.data) if read else None),)


# -- the kernel's side ----------------------------------------------------------------------

def kernel_views(live: LiveRun) -> dict[int, StepView]:
    """The oracle's probes (run_live(..., probe=True)) and DMA checks as StepViews, by op."""
    dma: dict[int, list[DmaView]] = {}
    for check in live.dma:
        seen = content_label(check.seen) if check.kind == "dma_read" else None
        dma.setdefault(check.op, []).append(DmaView(check.kind, check.coherent, seen))
    views = {}
    for probe in live.probes:
        if probe.op is None:
            continue
        processes = {n: ProcessView(probe.pages[n], probe.mapcounts[n],
                                    tuple(content_label(v) for v in probe.views[n]), probe.vmpins[n])
                     for n in sorted(probe.pages)}
        files = {n: tuple(content_label(v) for v in values) for n, values in probe.files.items()}
        views[probe.op] = StepView(probe.op, processes, files, tuple(dma.get(probe.op, ())))
    return views


# -- the comparison ---------------------------------------------------------------------------

#: (what, field, model value, kernel value)
ViewDifference = tuple[str, str, Any, Any]


def diff_views(model: StepView, kernel: StepView) -> tuple[list[ViewDifference], Counter[str]]:
    """Every field that differs, and how many comparisons each field made. Process 0's page
    observations are not repeated here (conform compares them as the step's own pages)."""
    found: list[ViewDifference] = []
    compared: Counter[str] = Counter()

    def field(what: str, name: str, m: Any, k: Any) -> None:
        compared[name] += 1
        if m != k:
            found.append((what, name, m, k))

    field("processes", "processes", sorted(model.processes), sorted(kernel.processes))
    for number in sorted(set(model.processes) & set(kernel.processes)):
        m, k = model.processes[number], kernel.processes[number]
        who = f"process {number}"
        for index, (mp, kp) in enumerate(zip(m.pages, k.pages)):
            if number:
                for name in ("present", "zero", "anon", "mapped_once", "identity"):
                    field(f"{who} page {index} {name}", "process pages", getattr(mp, name), getattr(kp, name))
            field(f"{who} page {index} mapcount", "mapcount", m.mapcounts[index], k.mapcounts[index])
            field(f"{who} page {index} contents", "contents", m.contents[index], k.contents[index])
        field(f"{who} vmpin", "vmpin", m.vmpin, k.vmpin)
    for number in sorted(set(model.files) | set(kernel.files)):
        mf, kf = model.files.get(number), kernel.files.get(number)
        if mf is None or kf is None or len(mf) != len(kf):
            field(f"file of layout[{number}]", "file contents", mf, kf)
            continue
        for index, (a, b) in enumerate(zip(mf, kf)):
            field(f"file of layout[{number}] page {index} contents", "file contents", a, b)
    if model.dma or kernel.dma:
        field("device accesses", "dma coherent", len(model.dma), len(kernel.dma))
    for md, kd in zip(model.dma, kernel.dma):
        field(f"{md.kind} coherent", "dma coherent", md.coherent, kd.coherent)
        if md.kind == "dma_read":
            field(f"{md.kind} seen", "dma seen", md.seen, kd.seen)
    return found, compared
