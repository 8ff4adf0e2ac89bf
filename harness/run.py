"""The runner: executes a scenario on a kernel profile and returns a Run.

Deterministic: the same scenario on the same profile gives the same Run. A call that does
not terminate is recorded as the run's `livelock` and ends the run (the process would be
stuck in the kernel); whatever is still held is then released, so properties can look at
the final state. A BUG the model reaches (`KernelBug`, see model/bug.py) ends the run the
same way and is recorded as the run's `bug`; WARN splats are kept in `warnings`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import NoReturn

import attrs

from . import scenario as sc
from .model import vmops
from .model.accounting import explained_refcount, structural_refs
from .model.budget import Budget, Livelock
from .model.bug import KernelBug, Warn
from .model.callers import (
    CALLERS,
    Caller,
    call_api,
    caller_missing,
    entry_point,
    io_uring_refused_vma,
    may_drop_mmap_lock,
    populate,
)
from .model.flags import FOLL, Errno, foll_from_names, foll_names
from .model.gup import check_vma_flags, gup_put_folio, sanity_check_pinned_pages
from .model.kernel import Kernel
from .model.kernels import Profile, get_profile
from .model.memory import REFCOUNT_MAX, Folio, wrap_refcount
from .model.mm import MM, is_cow_mapping
from .model.trace import Event
from .observe import PageObservation, StepObservation
from .repeat import MAX_REAL_REPETITIONS, Step, refcounts, shape


@attrs.frozen
class Grab:
    """One page a GUP call returned."""

    addr: int
    pfn: int
    zero: bool
    anon: bool
    #: the page's VMA is a COW mapping (private, may be written)
    cow_mapping: bool
    #: the page's placement when it was returned
    zone: str
    migratetype: str
    #: the folio was referenced (refcount not 0, not freed) when the call returned it
    live: bool = True
    #: PG_anon_exclusive when the call returned
    exclusive: bool = False
    #: pfn the calling process mapped at addr when the call returned (None: nothing mapped)
    mapped: int | None = None


@attrs.frozen
class Held:
    """One page an earlier call still holds, as seen after an operation."""

    op: int
    process: int
    addr: int
    pfn: int
    pin: bool
    write: bool
    longterm: bool
    #: a munmap, MADV_DONTNEED or exit has since removed the address the page was pinned at
    detached: bool
    #: the folio is anonymous, and PG_anon_exclusive, at the time of the snapshot
    anon: bool = False
    exclusive: bool = False


@attrs.frozen
class Write:
    """A store into a page: by a CPU, by a device through a pin, or by a caller's GUP write."""

    op: int
    process: int
    addr: int
    pfn: int
    via: str  # "cpu", "dma", or the caller's name
    #: the writer's mapping at addr is private (a COW mapping)
    private: bool
    #: the page is in a page cache (not an anonymous copy)
    page_cache: bool
    #: other processes that map the page through a private mapping at the time
    also_mapped_by: tuple[int, ...]
    #: (op, process) of references/pins held by other processes on the page
    also_held_by: tuple[tuple[int, int], ...]
    #: a device write through a FOLL_GET reference rather than a FOLL_PIN pin
    through_get: bool = False


@attrs.frozen
class Snapshot:
    """The state after one top-level operation, for properties that check every step."""

    after: int
    held: tuple[Held, ...]
    #: (pid, addr) -> pfn of every present PTE with a struct page
    maps: dict[tuple[int, int], int]
    #: (pfn, refcount, refcount explained by mappings, page cache, batch and held gets/pins)
    accounting: tuple[tuple[int, int, int], ...]
    #: PTEs that point at a freed folio: (pid, addr, pfn)
    dangling: tuple[tuple[int, int, int], ...]
    #: (pfn, mapcount) of every live folio but the zero page (whose mappings are not counted)
    mapcounts: tuple[tuple[int, int], ...] = ()


@attrs.define
class OpResult:
    index: int
    op: sc.Op
    #: page count or -errno; None for operations without a result
    result: int | None = None
    #: the FOLL flags GUP ran with (callers' and API's flags included); 0 for non-GUP ops
    flags: FOLL = FOLL(0)
    #: the pages the call returned, held or not
    grabbed: tuple[Grab, ...] = ()
    #: where this op's events start and end in Run.trace
    events: tuple[int, int] = (0, 0)
    not_applicable: str | None = None
    #: GUP calls: every page of the range lay in a VMA of the calling process that
    #: check_vma_flags() accepts for the call's flags, both when the call started and when
    #: it returned (no hole, no refused VMA, the process alive); None for non-GUP ops
    range_permitted: bool | None = None
    #: GUP calls: a PTE of the range maps memory without a struct page (vm_normal_page() NULL)
    #: when the call started or returned
    no_struct_page: bool = False
    #: GUP calls: a FOLL_LONGTERM pin could not isolate or migrate a folio out of movable/CMA memory
    migration_failed: bool = False
    #: a slab allocation the call made failed (scenario.FailSlab)
    alloc_failed: bool = False
    #: an overflow guard refused a reference during the call (a WARN with guard=True)
    guard_refused: bool = False
    #: GUP calls: the user-space caller itself refused the memory GUP had pinned in full and
    #: dropped the pins (io_uring before v6.5: a file-backed VMA, -EOPNOTSUPP)
    caller_refused: bool = False
    #: addr -> (VM flags, vma_is_anonymous()) of the caller's VMA there when the call started
    #: (None: no VMA), so properties can judge the access against the documented rules
    vmas_at_start: dict[int, tuple[int, bool] | None] = attrs.field(factory=dict)
    #: Fork ops: (addr, parent's contents, child's contents) for every address of the parent's
    #: VMAs right after the fork, as a CPU read would see them (vmops.peek; None: not a page)
    fork_views: tuple[tuple[int, int | None, int | None], ...] = ()


@attrs.define(eq=False)
class Run:
    scenario: sc.Scenario
    profile: Profile
    results: list[OpResult]
    trace: list[Event]
    livelock: Livelock | None
    observations: list[StepObservation]
    #: the machine after the run and after everything held was released
    kernel: Kernel
    #: op index -> pages still held when the scenario ended (released by the runner afterwards)
    held_at_end: dict[int, list[int]]
    #: folio pfn -> (refcount, pincount) right after the layout was mapped
    baseline: dict[int, tuple[int, int]]
    not_applicable: str | None = None
    #: the state after each top-level operation; NotTaken when the run was made without them
    #: (run_scenario(snapshots=False): no property checked reads them)
    snapshots: Sequence[Snapshot] = attrs.field(factory=list)
    writes: list[Write] = attrs.field(factory=list)
    #: the BUG that ended the run (during an op, or while releasing what was held)
    bug: KernelBug | None = None
    #: the op the BUG happened in; None when it happened while mapping the layout (then no
    #: op ran) or while releasing at the end
    bug_at: int | None = None
    #: WARN splats the run reached, in order
    warnings: list[Warn] = attrs.field(factory=list)
    #: canonical fingerprint of the machine before the final release (run_scenario(final_state=True))
    final_state: Hashable | None = None

    def events_of(self, result: OpResult) -> list[Event]:
        return self.trace[result.events[0]:result.events[1]]


#: the smallest value a 32-bit atomic_t holds
_INT_MIN = -REFCOUNT_MAX - 1


class NotApplicable(Exception):
    """The operation did not exist in this kernel (e.g. FOLL_PIN before v5.6)."""


#: called with the machine after the layout (op -1, no snapshot) and after each op (its snapshot)
StepHook = Callable[["Kernel", int, "Snapshot | None"], None]


class NotTaken(Sequence[Snapshot]):
    """Run.snapshots of a run made without them: reading it is a mistake, said loudly (a
    property that reads snapshots declares it: @prop(..., snapshots=True))."""

    def _refuse(self) -> NoReturn:
        raise RuntimeError("this run took no snapshots: a property that reads Run.snapshots must be "
                           "registered with @prop(..., snapshots=True)")

    def __len__(self) -> int:
        self._refuse()

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        self._refuse()

    def __iter__(self) -> Iterator[Snapshot]:
        self._refuse()


def run_scenario(scenario: sc.Scenario, profile: Profile | str, *, budget: int | None | str = "default",
                 trace: bool = True, final_state: bool = False, on_step: StepHook | None = None,
                 configure: Callable[[Kernel], None] | None = None, snapshots: bool = True) -> Run:
    """Run `scenario`; with `final_state`, also fingerprint the machine after the last op and
    before anything held is released (harness/state.py), for the explorer's de-duplication.
    `on_step` looks at the machine after the layout and after every op (conform's full view);
    `configure` sets the machine up before anything runs (harness/outcomes.py's choices).
    `snapshots=False` skips the per-operation bookkeeping that only some properties read
    (properties.need_snapshots() says whether they do); on_step still gets them."""
    if isinstance(profile, str):
        profile = get_profile(profile)
    k = Kernel(profile=profile)
    if budget != "default":
        k.budget = Budget(budget)  # type: ignore[arg-type]
    k.trace.enabled = trace
    if configure is not None:
        configure(k)
    mm0 = MM(pid=0)
    k.mms[0] = mm0
    livelock: Livelock | None = None
    bug: KernelBug | None = None
    bug_at: int | None = None
    try:
        vmops.mmap_layout(k, mm0, scenario.layout)
    except Livelock as exc:  # only a broken model gets here; no operation runs then
        livelock = exc
    except KernelBug as exc:
        k.trace("bug", str(exc))
        bug = exc
    baseline = {f.pfn: (f.refcount, f.pincount) for f in k.mem.live()}
    executor = _Executor(k, scenario)
    observations: list[StepObservation] = []
    span = scenario.span  # a property that walks the layout: once per run, not per op
    _, previous = observe(k, span, None)
    if on_step is not None and livelock is None and bug is None:
        on_step(k, -1, None)
    not_applicable: str | None = None
    taken: list[Snapshot] = []
    take = snapshots or on_step is not None
    for index, op in enumerate(scenario.ops if livelock is None and bug is None else ()):
        start = len(k.trace.events)
        result = OpResult(index, op)
        executor.results.append(result)
        try:
            executor.execute(index, op, result)
        except Livelock as exc:
            livelock = exc
            result.events = (start, len(k.trace.events))
            break
        except KernelBug as exc:
            bug, bug_at = exc, index
            k.trace("bug", str(exc))
            result.events = (start, len(k.trace.events))
            break
        except NotApplicable as exc:
            result.not_applicable = not_applicable = str(exc)
            result.events = (start, len(k.trace.events))
            break
        result.events = (start, len(k.trace.events))
        if take:
            taken.append(executor.snapshot(index))
        if on_step is not None:
            on_step(k, index, taken[-1])
        now, previous = observe(k, span, previous)
        observations.append(StepObservation(index, result.result, now))
    held_at_end = {i: [f.pfn for f in pages] for i, pages in executor.held.items()}
    state = None
    if final_state and livelock is None and not_applicable is None and bug is None:
        from .state import fingerprint
        state = fingerprint(k, executor.held, executor.held_meta, executor.detached, executor.held_times)
    try:
        executor.release_all()
    except KernelBug as exc:  # e.g. an unpin that drops a count below zero
        k.trace("bug", str(exc))
        bug = bug or exc
    return Run(scenario, profile, executor.results, k.trace.events, livelock, observations, k,
               held_at_end, baseline, not_applicable, taken if take else NotTaken(), executor.writes, bug=bug,
               bug_at=bug_at,
               warnings=k.warnings, final_state=state)


class _Executor:
    def __init__(self, k: Kernel, scenario: sc.Scenario) -> None:
        self.k = k
        self.scenario = scenario
        self.results: list[OpResult] = []
        #: op index -> (pages held, FOLL_PIN or FOLL_GET)
        self.held: dict[int, list[Folio]] = {}
        #: op index -> per held entry: how many times it is held (Gup.repeat), and its page
        #: offset in the call's range (entry i is page i unless repetitions returned other pages)
        self.held_times: dict[int, list[int]] = {}
        self.held_offsets: dict[int, list[int]] = {}
        self.held_kind: dict[int, FOLL] = {}
        #: op index -> (process, first address, FOLL flags) of what it holds
        self.held_meta: dict[int, tuple[int, int, FOLL]] = {}
        #: (op index, page index) of held pages whose address was unmapped since
        self.detached: set[tuple[int, int]] = set()
        self.writes: list[Write] = []
        self.current_op = 0

    def mm(self, process: int) -> MM | None:
        mm = self.k.mms.get(process)
        return None if mm is None or mm.exited else mm

    def execute(self, index: int, op: sc.Op, result: OpResult) -> None:
        k = self.k
        self.current_op = index
        if k.trace.enabled:  # rendering the op costs more than running it: only when recorded
            k.trace("op", f"op {index}: {describe_op(op)}")
        k.trace.depth += 1
        try:
            self._execute(index, op, result)
        finally:
            k.trace.depth -= 1
        if result.result is not None:
            k.trace("return", f"= {format_result(result.result)}")

    def _execute(self, index: int, op: sc.Op, result: OpResult) -> None:
        k = self.k
        if isinstance(op, sc.Gup):
            self._gup(index, op, result)
            return
        if isinstance(op, sc.Release):
            pages = self.held.pop(op.of, [])
            kind = self.held_kind.pop(op.of, FOLL.PIN)
            self.held_meta.pop(op.of, None)
            self.held_offsets.pop(op.of, None)
            times = self.held_times.pop(op.of, [1] * len(pages))
            _release(k, pages, kind, times)
            result.result = len(pages)
            return
        if isinstance(op, (sc.DmaWrite, sc.DmaRead)):
            pages = self.held.get(op.of, [])
            offsets = self.held_offsets.get(op.of, [])
            if op.index not in offsets:
                result.result = -Errno.EFAULT
                return
            folio = pages[offsets.index(op.index)]
            if isinstance(op, sc.DmaWrite):
                folio.data = k.new_token()
                folio.dirty = True
                k.trace("dma", f"device writes {folio.data} into pfn {folio.pfn}")
                process, start, flags = self.held_meta[op.of]
                self._record_write(process, start + op.index, folio, "dma", through_get=not flags & FOLL.PIN)
            else:
                k.trace("dma", f"device reads {folio.data} from pfn {folio.pfn}")
            result.result = 0
            return
        if isinstance(op, sc.Fork):
            parent = self.mm(op.process)
            if parent is not None:
                child = vmops.fork(k, parent, len(k.mms))
                result.fork_views = tuple((addr, vmops.peek(parent, addr), vmops.peek(child, addr))
                                          for vma in parent.vmas for addr in range(vma.start, vma.end))
            return
        mm = self.mm(getattr(op, "process", 0))
        if mm is None:
            result.result = -Errno.EFAULT  # the process has exited
            return
        if isinstance(op, sc.CpuRead):
            result.result = vmops.cpu_access(k, mm, op.page, write=False)
        elif isinstance(op, sc.CpuWrite):
            result.result = vmops.cpu_access(k, mm, op.page, write=True)
            pte = mm.ptes.get(op.page)
            if result.result == 0 and pte is not None and pte.folio is not None:
                self._record_write(mm.pid, op.page, pte.folio, "cpu")
        elif isinstance(op, sc.Exit):
            vmops.exit_mm(k, mm)
            self._detach(mm.pid, 0, 1 << 30)
        elif isinstance(op, sc.Munmap):
            result.result = vmops.munmap(k, mm, op.start, op.pages)
            self._detach(mm.pid, op.start, op.start + op.pages)
        elif isinstance(op, sc.Mprotect):
            result.result = vmops.mprotect(k, mm, op.start, op.pages, op.prot)
        elif isinstance(op, sc.MadvDontneed):
            result.result = vmops.madv_dontneed(k, mm, op.start, op.pages)
            self._detach(mm.pid, op.start, op.start + op.pages)
        elif isinstance(op, sc.BatchRef):
            batch_ref(k, mm, op.page)
        else:  # pragma: no cover - validate() keeps this out
            raise TypeError(op)

    def _gup(self, index: int, op: sc.Gup, result: OpResult) -> None:
        k = self.k
        caller = CALLERS[op.api]
        flags = foll_from_names(op.flags) | caller.flags
        _check_applicable(k.profile, caller, foll_from_names(op.flags), flags)
        _check_race_possible(op, flags)
        mm = self.mm(op.process)
        if mm is None:
            result.result = -Errno.ESRCH
            return
        hook = None
        racing = [inner for inner in op.interleave if not isinstance(inner, (sc.Isolate, sc.FailSlab))]
        if racing:
            def hook() -> None:
                for inner_index, inner in enumerate(racing):
                    self._execute(index, inner, OpResult(inner_index, inner))
        # isolations race with the long-term check instead (gup.start_racing_isolations)
        k.racing_isolations = [(self.k.mms[inner.process], inner.page) for inner in op.interleave
                               if isinstance(inner, sc.Isolate) and inner.process in self.k.mms]
        # fault injection lasts for this call only (reset with the isolations below)
        k.failslab = any(isinstance(inner, sc.FailSlab) for inner in op.interleave)
        result.vmas_at_start = _vma_views(mm, op.start, op.pages)
        kind = FOLL(0) if caller.populate else FOLL.PIN if caller.api.startswith("pin_") else FOLL.GET
        permitted = _range_permitted(k, mm, op.start, op.pages, flags | kind)
        no_page = _no_struct_page(mm, op.start, op.pages)
        # an overflow guard refusing during this call (also populate's: it takes no reference,
        # but try_grab_folio()'s guard, 8fde12ca79af, tests the count before the flags)
        warnings = len(k.warnings)
        if caller.populate:
            k.racing_isolations = []
            k.failslab = False
            result.flags = flags
            result.result = populate(k, mm, op.start, op.pages, flags)
            result.guard_refused = any(w.guard for w in k.warnings[warnings:])
            result.range_permitted = permitted and _range_permitted(k, mm, op.start, op.pages, flags)
            result.no_struct_page = no_page or _no_struct_page(mm, op.start, op.pages)
            return
        failures = k.migration_failures
        alloc_failures = k.alloc_failures
        if op.repeat > 1:
            k.racing_isolations = []  # a repeated call has no interleaved operations
            self._gup_repeated(index, op, result, mm, flags)
            return
        pages: list[Folio] = []
        api = entry_point(k.profile, caller)
        if k.trace.enabled:
            k.trace("call", f"{api}(page {op.start}, {op.pages}, {_names(flags)})"
                    + (f" for {caller.name}" if caller.name != api else ""))
        k.trace.depth += 1
        try:
            ret = call_api(k, api, mm, op.start, op.pages, flags, pages, hook)
        finally:
            k.trace.depth -= 1
            k.racing_isolations = []
            k.failslab = False
        result.range_permitted = permitted and self.mm(op.process) is not None and _range_permitted(
            k, mm, op.start, op.pages, flags | kind)
        result.no_struct_page = no_page or _no_struct_page(mm, op.start, op.pages)
        result.migration_failed = k.migration_failures != failures
        result.alloc_failed = k.alloc_failures != alloc_failures
        result.guard_refused = any(w.guard for w in k.warnings[warnings:])
        result.flags = flags | kind
        result.grabbed = tuple(_grab(mm, op.start + i, folio) for i, folio in enumerate(pages[:max(ret, 0)]))
        dead = [g for g in result.grabbed if not g.live]
        if dead:
            result.result = ret
            raise _freed_entry(api, dead[0].addr, dead[0].pfn)
        refused = self._caller_refuses(caller, mm, op, ret)
        if refused:
            _release(k, pages[:ret], kind)
            ret = -Errno.EOPNOTSUPP
            result.caller_refused = True
        elif ret > 0 and caller.all_or_nothing and ret < op.pages:
            k.trace("call", f"{caller.name}: {ret} of {op.pages} pages is a failure: unpin them")
            _release(k, pages[:ret], kind)
            ret = -Errno.EFAULT
        elif ret > 0 and caller.dma is not None:
            for i, folio in enumerate(pages[:ret]):
                if caller.dma == "write":
                    folio.data = k.new_token()
                    folio.dirty = True
                    self._record_write(mm.pid, op.start + i, folio, caller.name)
            k.trace("dma", f"{caller.name}: device {'writes' if caller.dma == 'write' else 'reads'} {ret} page(s)")
        if 0 < ret < op.pages and caller.short_error is not None:
            k.trace("call", f"{caller.name}: {ret} of {op.pages} pages: the I/O fails as a whole")
            _release(k, pages[:ret], kind)
            ret = caller.short_error
        elif ret > 0 and caller.holds:
            self.held[index] = pages[:ret]
            self.held_times[index] = [1] * ret
            self.held_offsets[index] = list(range(ret))
            self.held_kind[index] = kind
            self.held_meta[index] = (mm.pid, op.start, flags | kind)
            # Racing zaps ran before this call's pins were registered: the user removed those
            # addresses while GUP worked, so the pins there promise nothing either.
            for inner in op.interleave:
                if isinstance(inner, (sc.MadvDontneed, sc.Munmap)):
                    self._detach(inner.process, inner.start, inner.start + inner.pages)
        elif ret > 0:
            _release(k, pages[:ret], kind)
        if ret <= 0 and caller.error is not None:
            ret = caller.error
        result.result = ret

    def _caller_refuses(self, caller: Caller, mm: MM, op: sc.Gup, ret: int) -> bool:
        """io_uring's own look at the memory GUP pinned in full (io_uring_refused_vma()): True
        if it fails the registration, whose pins the runner then drops."""
        if caller.name != "io_uring_register_buffers" or ret != op.pages:
            return False
        vma = io_uring_refused_vma(self.k.profile, mm, op.start, op.pages)
        if vma is None:
            return False
        self.k.trace("call", f"{caller.name}: VMA {vma.start}-{vma.end} is file-backed ({vma.backing}): "
                             "-EOPNOTSUPP, every pin dropped")
        return True

    def _gup_repeated(self, index: int, op: sc.Gup, result: OpResult, mm: MM, flags: FOLL) -> None:
        """The same holding call `op.repeat` times (see harness/repeat.py): for real until the
        state is steady, then identical repetitions in bulk. Stops at the first repetition that
        does not return the whole range; it keeps what it got, except that io_uring's
        registration fails as a whole (every buffer of it is unpinned)."""
        k = self.k
        caller = CALLERS[op.api]
        kind = FOLL.PIN if caller.api.startswith("pin_") else FOLL.GET
        result.flags = flags | kind
        done = real = 0
        previous: Step | None = None
        ret = 0
        api = entry_point(k.profile, caller)
        #: the shape the last repetition left (Step.shape_after); None: compute it
        shape_now: tuple | None = None
        while done < op.repeat:
            shape_before = shape_now if shape_now is not None else shape(k)
            refs_before = refcounts(k)
            pages: list[Folio] = []
            if k.trace.enabled:  # naming the flags costs more than the call: only when recorded
                k.trace("call", f"{api}(page {op.start}, {op.pages}, {_names(flags)})"
                        + (f" for {caller.name}" if caller.name != api else "")
                        + f", repetition {done + 1} of {op.repeat}")
            k.trace.depth += 1
            try:
                ret = call_api(k, api, mm, op.start, op.pages, flags, pages, None)
            finally:
                k.trace.depth -= 1
            real += 1
            got = pages[:max(ret, 0)]
            result.grabbed = tuple(_grab(mm, op.start + i, folio) for i, folio in enumerate(got))
            # each repetition is the whole call: a freed entry (gup.NotAPage too) is the same BUG
            # as in _gup(); a count that wrapped to zero here is not freed (the next get BUGs)
            freed = next((i for i, folio in enumerate(got) if folio.freed), None)
            if freed is not None:
                result.result = ret
                raise _freed_entry(api, op.start + freed, got[freed].pfn)
            refused = self._caller_refuses(caller, mm, op, ret)
            if (ret != op.pages or refused) and caller.all_or_nothing:
                k.trace("call", f"{caller.name}: repetition {done + 1} "
                                + ("is refused" if refused else f"got {ret}")
                                + ": the registration fails, every buffer of it is unpinned")
                for folio in got:
                    gup_put_folio(k, folio, kind)
                self._release_op(index)
                ret = -Errno.EOPNOTSUPP if refused else -Errno.EFAULT if ret >= 0 else ret
                result.caller_refused = refused
                break
            entries = self._hold(index, mm.pid, op.start, flags | kind, got)
            if ret != op.pages:
                break
            done += 1
            step = Step.between(k, shape_before, refs_before, got)
            shape_now = step.shape_after  # nothing below changes more than refcounts
            if step.repeats(previous):
                n = step.room(k, op.repeat - done)
                if n:
                    step.apply(k, n)
                    for entry in entries:
                        self.held_times[index][entry] += n
                    done += n
                    k.trace("repeat", f"{n} more identical repetition(s) added arithmetically: "
                            + ", ".join(f"pfn {pfn} ref +{n * d} -> {k.mem.folios[pfn].refcount}"
                                        for pfn, d in step.deltas))
                    # the next repetition crosses a threshold: make it, and the one after, for real
                    previous = None
                    continue
            elif real >= MAX_REAL_REPETITIONS and done < op.repeat:
                raise NotApplicable(f"repeat: the call still changes more than reference counts after "
                                    f"{real} repetitions (e.g. it copies a new page each time); the model adds "
                                    "up identical repetitions only")
            previous = step
        result.result = ret

    def _hold(self, index: int, pid: int, start: int, flags: FOLL, pages: list[Folio]) -> list[int]:
        """Register one more holding of `pages` by op `index`; returns the entries it counted on."""
        if not pages:
            return []
        if index not in self.held:
            kind = FOLL.PIN if flags & FOLL.PIN else FOLL.GET
            self.held[index], self.held_times[index], self.held_offsets[index] = [], [], []
            self.held_kind[index] = kind
            self.held_meta[index] = (pid, start, flags)
        held, times, offsets = self.held[index], self.held_times[index], self.held_offsets[index]
        # (offset, folio) -> its first entry: a repeated call's entries looked up by dict, not by
        # a scan of every entry per page (the folio by identity, as `is` compared them)
        first: dict[tuple[int, int], int] = {}
        for e, (held_offset, held_folio) in enumerate(zip(offsets, held)):
            first.setdefault((held_offset, id(held_folio)), e)
        entries = []
        for offset, folio in enumerate(pages):
            entry = first.get((offset, id(folio)))
            if entry is None:
                held.append(folio)
                times.append(0)
                offsets.append(offset)
                entry = first[(offset, id(folio))] = len(held) - 1
            times[entry] += 1
            entries.append(entry)
        return entries

    def _release_op(self, index: int) -> None:
        for folio, n in zip(self.held.pop(index, []), self.held_times.pop(index, [])):
            gup_put_folio(self.k, folio, self.held_kind[index], n)
        self.held_kind.pop(index, None)
        self.held_meta.pop(index, None)
        self.held_offsets.pop(index, None)

    def _record_write(self, process: int, addr: int, folio: Folio, via: str, through_get: bool = False) -> None:
        mm = self.k.mms[process]
        vma = mm.find_vma(addr)
        others = tuple(sorted({other.pid for other, _a, _pte in self.k.rmap(folio)
                               if other.pid != process and _private_at(other, _a)}))
        holders = tuple((op, meta[0]) for op, meta in self.held_meta.items()
                        if meta[0] != process and any(f is folio for f in self.held[op]))
        self.writes.append(Write(
            self.current_op, process, addr, folio.pfn, via,
            private=vma is not None and is_cow_mapping(vma.flags),
            page_cache=folio.mapping is not None and not folio.anon,
            also_mapped_by=others, also_held_by=holders, through_get=through_get,
        ))

    def _detach(self, process: int, start: int, end: int) -> None:
        for op, (pid, first, _flags) in self.held_meta.items():
            if pid != process:
                continue
            for i, offset in enumerate(self.held_offsets[op]):
                if start <= first + offset < end:
                    self.detached.add((op, i))

    def snapshot(self, after: int) -> Snapshot:
        """The state after op `after`. This runs after every operation of every example, so
        it is written for speed: one pass over the held pages, the PTEs and the live folios;
        a folio nobody holds is explained by its structures alone (explained_refcount with
        no gets and no pins is exactly structural_refs)."""
        k = self.k
        held = []
        gets: dict[int, int] = {}
        pins: dict[int, int] = {}
        detached = self.detached
        for op, pages in self.held.items():
            pid, first, flags = self.held_meta[op]
            pin, write, longterm = bool(flags & FOLL.PIN), bool(flags & FOLL.WRITE), bool(flags & FOLL.LONGTERM)
            counts = pins if pin else gets
            for i, (folio, times, offset) in enumerate(zip(pages, self.held_times[op], self.held_offsets[op])):
                pfn = folio.pfn
                counts[pfn] = counts.get(pfn, 0) + times
                held.append(Held(op, pid, first + offset, pfn, pin, write, longterm, (op, i) in detached,
                                 anon=folio.anon, exclusive=folio.anon_exclusive))
        maps: dict[tuple[int, int], int] = {}
        dangling = []
        for mm in k.mms.values():
            pid = mm.pid
            for addr, pte in mm.ptes.items():
                mapped = pte.folio
                if mapped is None:
                    continue
                if mapped.freed:
                    dangling.append((pid, addr, pte.pfn))
                # (a loop body that ends in an `if` gets a back-edge without a line number on
                # Python 3.11: a timeout landing there breaks pytest's traceback rendering)
                maps[(pid, addr)] = pte.pfn
        zero_pins_counted = not k.has("zero_page_pin_uncounted")
        # the holders' count as the kernel's 32-bit atomic_t holds it (a count that overflowed
        # is explained modulo 2**32; the overflow itself is the guards' business)
        accounting = []
        mapcounts = []
        for f in k.mem.folios.values():  # mem.live(), inlined
            if f.freed:
                continue
            pfn = f.pfn
            if pfn in gets or pfn in pins:
                explained = explained_refcount(f, gets.get(pfn, 0), pins.get(pfn, 0),
                                               zero_pins_counted=zero_pins_counted)
            else:
                explained = structural_refs(f)
            if not _INT_MIN <= explained <= REFCOUNT_MAX:  # wrap_refcount() is the identity in between
                explained = wrap_refcount(explained)
            if not f.is_zero:
                mapcounts.append((pfn, f.mapcount))
            accounting.append((pfn, f.refcount, explained))  # last: see the PTE loop
        return Snapshot(after, tuple(held), maps, tuple(accounting), tuple(dangling), tuple(mapcounts))

    def release_all(self) -> None:
        """What a process exit or driver teardown does: every remaining pin/reference goes.
        Everything is released even past a BUG; the first BUG is raised afterwards."""
        first: KernelBug | None = None
        for index in sorted(self.held):
            kind, pages = self.held_kind[index], self.held[index]
            if kind & FOLL.PIN:
                try:
                    sanity_check_pinned_pages(self.k, list(pages))
                except KernelBug as exc:
                    first = first or exc  # reported once the rest is released
            for folio, times in zip(pages, self.held_times[index]):
                try:
                    gup_put_folio(self.k, folio, kind, times)
                except KernelBug as exc:
                    first = first or exc
        self.held.clear()
        if first is not None:
            raise first


def _freed_entry(api: str, addr: int, pfn: int) -> KernelBug:
    """What KASAN (or the VM_BUG_ON in the eventual put) reports: a returned entry the caller
    would use or unpin is a freed page, not a live page of the range."""
    return KernelBug(api, f"returned entry for page {addr} is freed pfn {pfn}")


def _release(k: Kernel, pages: list[Folio], kind: FOLL, times: list[int] | None = None) -> None:
    """unpin_user_pages() (with its CONFIG_DEBUG_VM sanity check) or put_page() per page;
    `times`: how many repetitions of a repeated call each page stands for."""
    if kind & FOLL.PIN:
        sanity_check_pinned_pages(k, list(pages))
    for folio, n in zip(pages, times or [1] * len(pages)):
        gup_put_folio(k, folio, kind, n)


def batch_ref(k: Kernel, mm: MM, addr: int) -> None:
    """Another CPU's folio batch takes a reference to the folio mapped at addr while the LRU
    flag stays set (the mlock batch, and before 33dfe9204f29 every batch). A folio still in
    the LRU-add batch it was allocated through reaches its LRU first (that CPU drained it:
    the op stands for time passing). Folios never on an LRU (zero page, driver pages) are
    not taken."""
    pte = mm.ptes.get(addr)
    folio = pte.folio if pte is not None else None
    if folio is not None and folio.in_lru_batch:
        folio.in_lru_batch = False
        folio.lru = True
        k.mem.put(folio)
    if folio is None or not folio.lru or folio.freed:
        k.trace("batch", f"page {addr}: no folio on an LRU there; no batch takes it")
        return
    folio.batch_refs += 1
    folio.ref_add(1)
    k.trace("batch", f"another CPU's folio batch holds pfn {folio.pfn} (ref {folio.refcount}), still on the LRU")


def _private_at(mm: MM, addr: int) -> bool:
    vma = mm.find_vma(addr)
    return vma is not None and is_cow_mapping(vma.flags)


def _check_applicable(profile: Profile, caller: Caller, asked: FOLL, flags: FOLL) -> None:
    """Refuse what this kernel did not have: an API, a flag or a user-space entry point."""
    api = entry_point(profile, caller)
    missing = caller_missing(profile, caller)  # a caller that is not there at all says so first
    if missing:
        raise NotApplicable(missing)
    if api.startswith("pin_") and not profile.has("foll_pin"):
        raise NotApplicable(f"{api} does not exist before v5.6 (FOLL_PIN, eddb1c228f79)")
    if flags & FOLL.PIN and not profile.has("foll_pin"):
        raise NotApplicable("FOLL_PIN does not exist before v5.6 (eddb1c228f79)")
    if flags & FOLL.LONGTERM and not profile.has("foll_longterm"):
        raise NotApplicable("FOLL_LONGTERM does not exist before v5.2 (932f4a630a69)")
    if flags & FOLL.NOFAULT and not profile.has("foll_nofault"):
        raise NotApplicable("FOLL_NOFAULT does not exist before v5.16 (55b8fe703bc5)")
    if api.endswith("_fast") and not profile.has("gup_fast_flags") and asked & ~FOLL.WRITE:
        raise NotApplicable(f"{api}() takes only a 'write' bool before v5.2 (73b0140bf0fe): "
                            f"{foll_names(asked & ~FOLL.WRITE)} cannot be passed")


def _check_race_possible(op: sc.Gup, flags: FOLL) -> None:
    """munmap and mprotect take the mmap lock for writing: they can only run inside a GUP
    call that drops it (see callers.may_drop_mmap_lock)."""
    writers = [sc.OP_NAMES[type(inner)] for inner in op.interleave if isinstance(inner, (sc.Munmap, sc.Mprotect))]
    if writers and not may_drop_mmap_lock(op.api, flags):
        raise NotApplicable(f"{writers[0]} inside {op.api}: it needs the mmap lock for writing, which this call "
                            "holds for reading throughout (it never drops it: not FOLL_UNLOCKABLE)")


def _grab(mm: MM, addr: int, folio: Folio) -> Grab:
    vma = mm.find_vma(addr)
    cow = vma is not None and is_cow_mapping(vma.flags)
    pte = None if mm.exited else mm.ptes.get(addr)
    return Grab(addr, folio.pfn, folio.is_zero, folio.anon, cow, folio.zone, folio.migratetype,
                live=not folio.freed and folio.refcount != 0, exclusive=folio.anon_exclusive,
                mapped=None if pte is None else pte.pfn)


def _vma_views(mm: MM, start: int, pages: int) -> dict[int, tuple[int, bool] | None]:
    views: dict[int, tuple[int, bool] | None] = {}
    for addr in range(start, start + pages):
        vma = mm.find_vma(addr)
        views[addr] = None if vma is None else (int(vma.flags), vma.is_anonymous())
    return views


def _range_permitted(k: Kernel, mm: MM, start: int, pages: int, flags: FOLL) -> bool:
    """Every page of the range lies in a VMA check_vma_flags() accepts (the model's own rule)."""
    if mm.exited:
        return False
    for addr in range(start, start + pages):
        vma = mm.find_vma(addr)
        if vma is None or check_vma_flags(k, vma, flags):
            return False
    return True


def _no_struct_page(mm: MM, start: int, pages: int) -> bool:
    """A PTE of the range maps memory without a struct page (vm_normal_page() would be NULL)."""
    return any(pte.folio is None for addr, pte in mm.ptes.items() if start <= addr < start + pages)


def _names(flags: FOLL) -> str:
    return foll_names(flags)


def observe(k: Kernel, span: int, previous: dict[int, int] | None, process: int = 0
            ) -> tuple[tuple[PageObservation, ...], dict[int, int]]:
    """What /proc/self/pagemap and /proc/kpageflags would show for a process's test area
    (process 0's unless told), and the PFN at each present address (to judge identity at the
    next observation)."""
    mm = k.mms[process]
    pfns: dict[int, int] = {}
    if mm.exited:
        return (_ABSENT,) * span, pfns
    # written for speed (after every operation of every example): the present PTEs only,
    # in address order, over a row of absent pages
    ptes = mm.ptes
    before_of = {} if previous is None else previous
    pages = [_ABSENT] * span
    for addr in sorted(ptes):
        if not 0 <= addr < span:
            continue
        pte = ptes[addr]
        pfn = pfns[addr] = pte.pfn
        before = before_of.get(addr)
        identity = "new" if before is None else "same" if before == pfn else "replaced"
        folio = pte.folio
        if folio is None:  # PFN map: no struct page behind it
            key = (False, False, False, identity)
        else:
            # pagemap's "exclusively mapped" bit is page_mapcount() == 1; the zero page has no
            # struct page for pagemap (vm_normal_page() is NULL), so never
            zero = folio.is_zero
            key = (zero, folio.anon, not zero and folio.mapcount == 1, identity)
        seen = _PRESENT.get(key)
        pages[addr] = seen if seen is not None else _present(*key)
    return tuple(pages), pfns


#: observations are immutable and take few distinct values: shared, rather than built for
#: every page after every operation of every example
_ABSENT = PageObservation(present=False)
_PRESENT: dict[tuple[bool, bool, bool, str], PageObservation] = {}


def _present(zero: bool, anon: bool, mapped_once: bool, identity: str) -> PageObservation:
    key = (zero, anon, mapped_once, identity)
    seen = _PRESENT.get(key)
    if seen is None:
        seen = _PRESENT[key] = PageObservation(present=True, zero=zero, anon=anon, mapped_once=mapped_once,
                                               identity=identity)
    return seen


def describe_op(op: sc.Op) -> str:
    name = sc.OP_NAMES[type(op)]
    fields = {f.name: getattr(op, f.name) for f in attrs.fields(type(op))}
    parts = []
    for key, value in fields.items():
        if key == "interleave" and not value:
            continue
        if key == "process" and value == 0:
            continue
        if key == "repeat" and value == 1:
            continue
        if key == "flags":
            value = "|".join(value) if value else "0"
        if key == "interleave":
            value = "[" + "; ".join(describe_op(v) for v in value) + "]"
        parts.append(f"{key}={value}")
    return f"{name}({', '.join(parts)})"


def format_result(value: int) -> str:
    if value < 0:
        try:
            return f"-{Errno(-value).name}"
        except ValueError:
            return str(value)
    return str(value)
