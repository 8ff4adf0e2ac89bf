"""What a live run's scenario did, worked out from the scenario and the kernel's answers alone.

The live properties judge the kernel without the model: who exists when (fork, exit), which
VMA each process has at each page before each call (layout, then the munmap/mprotect calls
the kernel accepted), what each write stored where (probe.tag), and which holds are live.
Where the kernel's answer leaves the state unclear (an mprotect or munmap that failed may
have applied to part of its range), the pages are marked unknown and nothing is judged there.
"""

from __future__ import annotations

from functools import cached_property

import attrs

from .. import scenario as sc
from ..oracle import LiveRun
from ..oracle.probe import LAYOUT_TAG, tag

#: a page whose VMA is not known for sure (in vmas_before, where a page's entry is otherwise
#: the (prot, share) of its VMA, or None for no VMA)
UNKNOWN = "?"
#: callers whose GUP call writes the pages it gets, with what they store there
WRITING_CALLERS = ("process_vm_writev", "proc_mem_write", "odirect_read")
#: FOLL flags of each userspace caller (GUP_HISTORY.md section 8): write? forced?
CALLER_WRITES = {"io_uring_register_buffers": True, "odirect_read": True, "odirect_write": False,
                 "process_vm_readv": False, "process_vm_writev": True, "vmsplice": False,
                 "proc_mem_write": True, "proc_mem_read": False}
FORCED = ("proc_mem_write", "proc_mem_read")


@attrs.frozen
class Write:
    """`process` stored `value` at `page` in op `op` (-1: the layout), through a private mapping or not."""

    op: int
    process: int
    page: int
    value: int
    private: bool
    via: str


def owner(scenario: sc.Scenario, op: sc.Op) -> int:
    """The process an op runs in (Release and device accesses: where their Gup ran)."""
    if isinstance(op, (sc.Release, sc.DmaRead, sc.DmaWrite)):
        gup = scenario.ops[op.of]
        return gup.process if isinstance(gup, sc.Gup) else 0
    return getattr(op, "process", 0)


@attrs.define
class History:
    scenario: sc.Scenario
    live: LiveRun

    @cached_property
    def results(self) -> dict[int, int | None]:
        """op -> what the kernel answered, for every op that completed."""
        return {step.op: step.result for step in self.live.steps}

    @cached_property
    def births(self) -> dict[int, tuple[int, int]]:
        """process number -> (parent, op of the fork), for forks that ran in a live process."""
        born: dict[int, tuple[int, int]] = {}
        count = 0
        dead: set[int] = set()
        for i, op in enumerate(self.scenario.ops):
            if i not in self.results:
                break
            if isinstance(op, sc.Fork):
                count += 1
                if op.process in dead or (op.process != 0 and op.process not in born):
                    dead.add(count)  # never born (the oracle answers its ops as for a dead process)
                else:
                    born[count] = (op.process, i)
            elif isinstance(op, sc.Exit):
                dead.add(op.process)
        return born

    @cached_property
    def exits(self) -> dict[int, int]:
        """process number -> op of its exit."""
        gone: dict[int, int] = {}
        for i, op in enumerate(self.scenario.ops):
            if isinstance(op, sc.Exit) and i in self.results:
                gone.setdefault(op.process, i)
        return gone

    def alive(self, process: int, before: int) -> bool:
        """Did `process` exist (born, not exited) when op `before` started?"""
        if process != 0 and (process not in self.births or self.births[process][1] >= before):
            return False
        gone = self.exits.get(process)
        return gone is None or gone >= before

    def sees(self, writer: int, when: int, reader: int) -> bool:
        """May `reader` legitimately read what `writer` stored through a private mapping at op `when`?
        Only the writer itself, and processes forked from it (or from such a process) after the write."""
        if reader == writer:
            return True
        child = reader
        while child in self.births:
            parent, forked_at = self.births[child]
            if parent == writer:
                return when < forked_at
            child = parent
        return False

    # ---- VMAs ------------------------------------------------------------------------
    @cached_property
    def vmas_before(self) -> dict[int, dict[int, object]]:
        """op -> {page: PageVma} of the op's process when the op started (for completed ops)."""
        span = self.scenario.span + 1
        initial: dict[int, object] = {}
        for page in range(span):
            vma = self.scenario.vma_at(page)
            initial[page] = None if vma is None else (vma.prot, vma.share)
        views: dict[int, dict[int, object]] = {0: initial}
        before: dict[int, dict[int, object]] = {}
        forks = 0
        for i, op in enumerate(self.scenario.ops):
            if i not in self.results:
                break
            process = owner(self.scenario, op)
            if isinstance(op, sc.Fork):
                forks += 1
            if process not in views or not self.alive(process, i):
                continue
            view = views[process]
            before[i] = dict(view)
            ok = self.results[i] == 0
            if isinstance(op, sc.Fork) and forks in self.births:
                views[forks] = dict(view)
            elif isinstance(op, sc.Munmap):
                for page in range(op.start, op.start + op.pages):
                    view[page] = None if ok else UNKNOWN
            elif isinstance(op, sc.Mprotect):
                for page in range(op.start, op.start + op.pages):
                    current = view.get(page)
                    if not ok:
                        view[page] = UNKNOWN
                    elif isinstance(current, tuple):
                        view[page] = (op.prot, current[1])
            elif isinstance(op, sc.Exit):
                views.pop(process, None)
        return before

    # ---- writes ----------------------------------------------------------------------
    def _private(self, page: int) -> bool:
        vma = self.scenario.vma_at(page)
        return vma is not None and vma.share == "private"

    @cached_property
    def writes(self) -> tuple[Write, ...]:
        """Every store the kernel accepted, with the byte it left (probe.tag)."""
        found: list[Write] = []
        for vma in self.scenario.layout:
            for j in range(vma.pages):
                if vma.fault_of(j) == "w":
                    found.append(Write(-1, 0, vma.start + j, LAYOUT_TAG, vma.share == "private", "layout"))
        for i, op in enumerate(self.scenario.ops):
            result = self.results.get(i)
            if result is None or result < 0:
                continue
            process = owner(self.scenario, op)
            if isinstance(op, sc.CpuWrite) and result == 0:
                found.append(Write(i, process, op.page, tag(i), self._private(op.page), "CPU"))
            elif isinstance(op, sc.Gup) and op.api in WRITING_CALLERS:
                for page in range(op.start, op.start + result):
                    found.append(Write(i, process, page, tag(i), self._private(page), op.api))
            elif isinstance(op, sc.DmaWrite) and result == 0:
                gup = self.scenario.ops[op.of]
                assert isinstance(gup, sc.Gup)
                page = gup.start + op.index
                found.append(Write(i, process, page, tag(i), self._private(page), "device"))
        return tuple(found)

    def writes_of(self, value: int) -> tuple[Write, ...]:
        return tuple(w for w in self.writes if w.value == value)

    # ---- holds -----------------------------------------------------------------------
    def held(self, of: int, at: int) -> bool:
        """Does the call of op `of` still hold its pages when op `at` runs (or after it, for `at`
        itself being a later observation)? Not released, and its process has not exited."""
        gup = self.scenario.ops[of]
        assert isinstance(gup, sc.Gup)
        for i in range(of + 1, at + 1):
            op = self.scenario.ops[i] if i < len(self.scenario.ops) else None
            if isinstance(op, sc.Release) and op.of == of and i in self.results:
                return False
            if isinstance(op, sc.Exit) and op.process == gup.process and i in self.results:
                return False
        return True

    def detached(self, of: int, page: int, upto: int) -> bool:
        """Has the holder of op `of` unmapped or zapped `page`, or exited, in ops of+1 .. upto-1?
        That ends the promise that its pin and its mapping show the same page."""
        gup = self.scenario.ops[of]
        assert isinstance(gup, sc.Gup)
        for i in range(of + 1, upto):
            op = self.scenario.ops[i]
            if isinstance(op, sc.Exit) and op.process == gup.process:
                return True
            if (isinstance(op, (sc.Munmap, sc.MadvDontneed)) and op.process == gup.process
                    and op.start <= page < op.start + op.pages):
                return True
        return False
