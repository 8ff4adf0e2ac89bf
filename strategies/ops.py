"""GUP calls with FOLL flag mixes, and short operation sequences around them.

Speed matters here: strategies are built once at import and composite functions draw
primitive choices, instead of building fresh `st.builds`/`st.one_of` objects per example
(which Hypothesis re-validates every time). Each choice lists its simplest value first, and
operations aim at the pages earlier calls touched, where the interactions are: a `Story`
tracks the holder of the latest call, live processes and the pages shared at the latest fork,
and MOTIFS draw the few multi-operation interactions (harness/families.py) that independent
draws would make too rarely. `gupharness stats` shows how often each family comes up.
"""

from __future__ import annotations

from functools import cache

import attrs
from hypothesis import strategies as st

from harness import scenario as sc
from harness.model.callers import CALLERS, caller_missing, may_drop_mmap_lock
from harness.model.flags import FOLL, foll_from_names
from harness.model.kernels import Profile

from .layouts import layouts, small_count
from .swarm import NONE, SWARM, Swarm

#: simplest first: the plain pin; the slow, fast and remote entry points of both kinds
GUP_APIS = ("pin_user_pages", "get_user_pages", "pin_user_pages_fast", "get_user_pages_fast",
            "pin_user_pages_remote", "get_user_pages_remote")
#: user-space callers (io_uring, O_DIRECT, process_vm_*, vmsplice, /proc/pid/mem, MADV_POPULATE_*):
#: each makes its own fixed GUP call, so they are drawn without scenario flags
CALLER_APIS = sc.CALLER_APIS
#: how often a call goes through a caller rather than a kernel API: entries of the API table
#: are the kernel APIs KERNEL_WEIGHT times over, then each caller once (index 0 shrinks to the plain pin)
KERNEL_WEIGHT = 4
#: flags a caller plausibly passes; FOLL_GET/FOLL_PIN from a caller are the invalid mixes
#: every entry point, weighted as above (what `for_profile` narrows to what a profile had)
ALL_APIS = GUP_APIS * KERNEL_WEIGHT + CALLER_APIS
COMMON_FLAGS = ("FOLL_LONGTERM", "FOLL_WRITE", "FOLL_FORCE")
RARE_FLAGS = ("FOLL_GET", "FOLL_PIN", "FOLL_NOFAULT", "FOLL_ANON")

#: operation kinds, simplest (and most useful) first; a kind may repeat to weigh it. The
#: "+" kinds are motifs: two or three operations that make one interaction family together
#: (harness/families.py), which independent draws make rarely (their product of chances):
#: a call then a CPU write by its process into its range ("+gup_write"); a held call then a
#: fork by its process ("+pin_fork"), and then the holder's write ("+pin_fork_write"); a fork
#: then a call on the pages now shared, in parent or child ("+fork_gup"); a call then a zap of
#: its page by its process ("+gup_zap"); a fork, a call in the child, the child's exit or zap of
#: the page ("+fork_gup_exit"); both fork motifs end, half the time, with the other process's
#: write into the call's range. They come last in each table, so shrinking turns a motif into a
#: single operation.
MOTIFS = ("+gup_write", "+pin_fork", "+fork_gup", "+gup_zap", "+pin_fork_write", "+fork_gup_exit")
KINDS = ("gup", "cpu_write", "fork", "gup", "cpu_write", "fork", "gup", "release", "dma_write", "cpu_read",
         "madv_dontneed", "mprotect", "munmap", "exit", "dma_read") + MOTIFS
#: once a process has forked, the interactions live in what the two processes do to the pages
#: they share: the holder writing, a device writing through a pin, a zap or exit dropping one
#: side's mapping, a GUP in either process
AFTER_FORK_KINDS = ("gup", "cpu_write", "madv_dontneed", "gup", "cpu_write", "dma_write", "exit", "release",
                    "madv_dontneed", "munmap", "cpu_read", "fork", "dma_write", "mprotect", "dma_read", "exit",
                    "cpu_write", "+gup_write", "+gup_zap")
#: a CPU read races too: it can refault a page GUP just zapped or COWed (the FOLL_COW dirty test)
#: "zap_refault" is a race motif: MADV_DONTNEED then a CPU read of the same page, so the retry
#: finds a different, clean page than the one it faulted (the Dirty COW family), which two
#: independent race draws make rarely
RACES = ("madv_dontneed", "madv_dontneed", "cpu_write", "mprotect", "munmap", "cpu_read", "zap_refault",
         "zap_refault")
RACE_COUNT = st.integers(1, 2)

#: Gup.repeat, simplest first: once (five draws in eight); twice; 1024 references, where
#: folio_maybe_dma_pinned() starts to say "pinned"; 2**21 + 1 pins or 2**32 gets, enough to push a
#: 32-bit refcount past INT_MAX and meet the overflow guard (or, before 8fde12ca79af, get_page's BUG)
REPEATS = (1,) * 10 + (2, 1024, 2**21 + 1, 2**32, 2**21 + 1, 2**32)
REPEAT_INDEX = st.integers(0, len(REPEATS) - 1)

BOOL = st.booleans()
KIND_INDEX = st.integers(0, len(KINDS) - 1)
#: with the "fork" feature: gup, cpu_write, fork, exit and device writes come up more often still
FORK_KINDS = KINDS + ("fork", "cpu_write", "gup", "exit", "dma_write", "fork", "cpu_write", "gup", "exit",
                      "+pin_fork", "+fork_gup", "+pin_fork_write", "+fork_gup_exit")
FORK_KIND_INDEX = st.integers(0, len(FORK_KINDS) - 1)
AFTER_FORK_INDEX = st.integers(0, len(AFTER_FORK_KINDS) - 1)
RACE_INDEX = st.integers(0, len(RACES) - 1)
PROT = st.sampled_from(sc.PROTS)
#: which process runs an operation once there are several: 0-1 the process of the latest call
#: (the holder: the one that writes afterwards), 2 the other side of the latest fork, 3 any
#: live process. Shrinks to the holder, which is the parent once the calls shrink to it.
PROCESS_PICK = st.integers(0, 3)
ONE_IN_FOUR = st.integers(0, 3)
ONE_IN_EIGHT = st.integers(0, 7)
WHERE = st.integers(0, 7)


@st.composite
def foll_flags(draw: st.DrawFn, common: tuple[str, ...] = COMMON_FLAGS,
               rare: tuple[str, ...] = RARE_FLAGS) -> tuple[str, ...]:
    """A flag set as bits of one integer: one draw instead of one per flag, and shrinking
    the integer towards 0 drops flags (the highest first)."""
    bits = draw(_bits(len(common)))
    chosen = [f for i, f in enumerate(common) if bits >> i & 1]
    if draw(ONE_IN_EIGHT) == 7:  # invalid or unusual mixes, about one call in eight
        bits = draw(_bits(len(rare)))
        chosen += [f for i, f in enumerate(rare) if bits >> i & 1]
    return tuple(chosen)


_BITS = {n: st.integers(0, (1 << n) - 1) for n in range(0, 8)}


def _bits(n: int) -> st.SearchStrategy[int]:
    return _BITS[n]


def for_profile(profile: Profile) -> dict:
    """The APIs and flags a kernel had: no FOLL_PIN before v5.6, no FOLL_LONGTERM before v5.2,
    no FOLL_NOFAULT before v5.16, get_user_pages_fast() with a write bool only before v5.2.
    (Asking an old profile for them is reported as not applicable, which wastes examples.)"""
    kernel = tuple(a for a in GUP_APIS if profile.has("foll_pin") or not a.startswith("pin_"))
    callers = tuple(a for a in CALLER_APIS if (profile.has("foll_pin") or not CALLERS[a].api.startswith("pin_"))
                    and caller_missing(profile, CALLERS[a]) is None)
    apis = kernel * KERNEL_WEIGHT + callers
    common = tuple(f for f in COMMON_FLAGS if profile.has("foll_longterm") or f != "FOLL_LONGTERM")
    rare = tuple(f for f in RARE_FLAGS if (profile.has("foll_pin") or f != "FOLL_PIN")
                 and (profile.has("foll_nofault") or f != "FOLL_NOFAULT"))
    return {"apis": apis, "common": common, "rare": rare, "fast_write_only": not profile.has("gup_fast_flags")}


def _pick(draw: st.DrawFn, items: list | tuple):  # type: ignore[no-untyped-def]
    return items[draw(st.integers(0, len(items) - 1))]


@attrs.define
class Story:
    """What the operations drawn so far did, so the next one can aim at an interaction:
    which processes are alive, who made the latest call, which pages the calls touched and
    which were present (so shared) when the latest fork happened."""

    layout: tuple[sc.Vma, ...]
    processes: int = 1
    exited: set[int] = attrs.field(factory=set)
    #: process of the latest GUP call: the one that holds, and often writes afterwards
    holder: int = 0
    #: (parent, child) of the latest fork
    fork: tuple[int, int] | None = None
    touched: list[int] = attrs.field(factory=list)
    #: pages the processes shared at the latest fork: faulted in by the layout or touched before
    shared: list[int] = attrs.field(factory=list)

    def cow_candidates(self) -> list[int]:
        """Pages the layout read-faulted in writable private mappings: mapped read-only, so the
        next write takes a COW fault (from the zero page or the page cache)."""
        return [v.start + i for v in self.layout if v.share == "private" and v.prot == "rw"
                for i, c in enumerate(v.faulted) if c == "r"]

    def _faulted(self, page: int) -> str:
        return next(v.faulted[page - v.start] for v in self.layout if v.start <= page < v.end)

    def live(self) -> list[int]:
        return [p for p in range(self.processes) if p not in self.exited]

    def forked(self, parent: int) -> None:
        child = self.processes
        self.processes += 1
        self.fork = (parent, child)
        # written pages first: those are the anonymous pages fork shares copy-on-write (a page
        # only read is the zero page or the file's page-cache page, shared no differently after
        # the fork than before it)
        present = sorted((v.start + i for v in self.layout if v.share == "private" for i, c in enumerate(v.faulted)
                          if c != "-"), key=lambda page: self._faulted(page) != "w")
        self.shared = list(dict.fromkeys(self.touched + present[:4]))


def _process(draw: st.DrawFn, story: Story) -> int:
    """The holder most of the time, the other side of the latest fork, or any live process."""
    if story.processes == 1:
        return 0
    pick = draw(PROCESS_PICK)
    holder = story.holder if story.holder not in story.exited else 0
    if pick < 2:
        return holder
    if pick == 2 and story.fork is not None:
        parent, child = story.fork
        other = child if holder == parent else parent
        return other if other not in story.exited else holder
    return _pick(draw, story.live())


def _usable_by(api: str, vma: sc.Vma) -> bool:
    """Can a program hand this mapping to user-space caller `api` as a buffer: its prot allows
    the caller's access (a forced caller only needs some access, FOLL_FORCE overrides the rest)?"""
    if vma.prot == "none":
        return False
    flags = CALLERS[api].flags
    return vma.prot == "rw" or not flags & FOLL.WRITE or bool(flags & FOLL.FORCE)


def call_start(draw: st.DrawFn, layout: tuple[sc.Vma, ...]) -> int:
    """Mostly inside a VMA (where the interesting pages are), sometimes just before or
    after one, so ranges also begin in holes; shrinks to the first page of the first VMA."""
    vma = _pick(draw, layout)
    where = draw(WHERE)
    if where < 6:
        return vma.start + draw(st.integers(0, vma.pages - 1))
    if where == 6:
        return max(0, vma.start - draw(st.integers(1, 2)))
    return vma.end + draw(st.integers(0, 1))


def target_page(draw: st.DrawFn, layout: tuple[sc.Vma, ...], touched: list[int],
                shared: list[int] | None = None) -> int:
    """The page an earlier call started at (most of the time), after a fork one time in four a
    page the processes shared at the fork, otherwise any page of the layout."""
    where = draw(ONE_IN_FOUR) if touched or shared else 3
    if where == 2 and shared:
        return _pick(draw, shared)
    if where < 3 and touched:
        return touched[-1 - draw(st.integers(0, len(touched) - 1))]
    return call_start(draw, layout)


def interleaved(draw: st.DrawFn, start: int, pages: int, process: int, swarm: Swarm = NONE,
                writers: bool = True) -> tuple[sc.Op, ...]:
    """Operations that race with the call at its retry point (rarely; shrinks to none).
    munmap/mprotect only when `writers` (the call may drop the mmap lock); otherwise those
    draws become MADV_DONTNEED, which only needs the lock for reading."""
    racing = draw(BOOL) if swarm.race else draw(ONE_IN_FOUR) == 3
    if not racing:
        return ()
    ops: list[sc.Op] = []
    for _ in range(draw(RACE_COUNT)):
        # the retry point is after the call's first fault, most often on its first page: aim
        # there half the time (a race elsewhere in a long range rarely meets the page being retried)
        page = start if draw(BOOL) else start + draw(st.integers(0, pages - 1))
        # with the unmovable leaning, half the races are a migration isolating the page's folio or,
        # one time in four, the call's slab allocations failing (fault injection)
        if swarm.unmovable and draw(BOOL):
            kind = "fail_slab" if draw(ONE_IN_FOUR) == 3 else "isolate"
        else:
            kind = RACES[draw(RACE_INDEX)]
        if kind == "madv_dontneed" or (kind in ("mprotect", "munmap") and not writers):
            ops.append(sc.MadvDontneed(page, 1, process))
        elif kind == "zap_refault":
            ops += [sc.MadvDontneed(page, 1, process), sc.CpuRead(page, process)]
        elif kind == "cpu_write":
            ops.append(sc.CpuWrite(page, process))
        elif kind == "cpu_read":
            ops.append(sc.CpuRead(page, process))
        elif kind == "mprotect":
            ops.append(sc.Mprotect(page, 1, draw(PROT), process))
        elif kind == "isolate":
            ops.append(sc.Isolate(page, process))
        elif kind == "fail_slab":
            ops.append(sc.FailSlab())
        else:
            ops.append(sc.Munmap(page, 1, process))
    return tuple(ops)


def gup_op(draw: st.DrawFn, layout: tuple[sc.Vma, ...], apis: tuple[str, ...], processes: int,
           common: tuple[str, ...], rare: tuple[str, ...], touched: list[int], swarm: Swarm = NONE,
           story: Story | None = None, process: int | None = None, fast_write_only: bool = False,
           start: int | None = None) -> sc.Gup:
    """A call whose range may start inside, before or after a VMA and cross holes. A kernel API
    gets a flag mix; a user-space caller makes its own fixed call (no flags of ours).
    `fast_write_only`: before 73b0140bf0fe a *_fast() call could only say "write"."""
    story = story if story is not None else Story(layout, processes)
    start = target_page(draw, layout, touched, story.shared) if start is None else start
    pages = draw(small_count(32))
    api = _pick(draw, apis)
    if api not in GUP_APIS and draw(ONE_IN_FOUR) < 3:
        # a user-space caller's buffer mostly lies inside one mapping (io_uring and O_DIRECT
        # fail the whole request at a hole, so a range across one tests only the error path)
        # that the program can use the way the caller does: it reads and writes its own buffers,
        # so one a caller writes into is writable and one it reads is readable (a forced caller,
        # /proc/pid/mem, reaches any mapping with access). A call into a mapping it cannot use
        # fails at check_vma_flags() before any page is touched: still drawn, one time in four
        vma = next((v for v in layout if v.start <= start < v.end), None)
        if vma is None or not _usable_by(api, vma):
            usable = [v for v in layout if _usable_by(api, v)]
            if usable:
                vma = _pick(draw, usable)
                start = vma.start + draw(st.integers(0, vma.pages - 1))
        if vma is not None:
            pages = min(pages, vma.end - start)
    flags: tuple[str, ...] = ()
    if api in GUP_APIS:
        flags = draw(foll_flags(common, rare))
        if swarm.force and "FOLL_FORCE" in common and draw(BOOL):
            flags = tuple(dict.fromkeys(flags + ("FOLL_WRITE", "FOLL_FORCE")))
        if fast_write_only and api.endswith("_fast"):
            flags = tuple(f for f in flags if f == "FOLL_WRITE")
    process = _process(draw, story) if process is None else process
    # munmap/mprotect race only with a call that may drop the mmap lock
    writers = may_drop_mmap_lock(api, foll_from_names(flags))
    return sc.Gup(api, start, pages, flags, interleaved(draw, start, pages, process, swarm, writers), process)


@st.composite
def gup_ops(draw: st.DrawFn, layout: tuple[sc.Vma, ...], apis: tuple[str, ...] = GUP_APIS,
            processes: int = 1, common: tuple[str, ...] = COMMON_FLAGS,
            rare: tuple[str, ...] = RARE_FLAGS) -> sc.Gup:
    return gup_op(draw, layout, apis, processes, common, rare, [])


def _api_subset(draw: st.DrawFn, apis: tuple[str, ...]) -> tuple[str, ...]:
    """Swarm over the entry points: each distinct API or caller is left out when its bit is
    set (0, the simplest, keeps them all, with the full table's weights). Those kept are equally
    likely: the full table weighs the kernel APIs KERNEL_WEIGHT times over, and kept so in a
    subset they would dilute a kept caller (io_uring's long-term pins, vmsplice's references)
    as much as the full table does, which is what the subset is for."""
    distinct = tuple(dict.fromkeys(apis))
    off = draw(_mask(len(distinct)))
    if not off:
        return apis
    kept = tuple(a for a in distinct if not off >> distinct.index(a) & 1)
    return kept or apis


@cache
def _mask(n: int) -> st.SearchStrategy[int]:
    return st.integers(0, (1 << n) - 1)


#: how many operations: 1-6 twice as likely as 7-12, shrinking to 1 (one draw)
OP_COUNT = st.integers(0, 17).map(lambda v: 1 + v % 6 if v < 12 else 7 + (v - 12))


@st.composite
def scenarios(draw: st.DrawFn, max_ops: int = 12, apis: tuple[str, ...] = ALL_APIS,
              common: tuple[str, ...] = COMMON_FLAGS, rare: tuple[str, ...] = RARE_FLAGS,
              fast_write_only: bool = False) -> sc.Scenario:
    """A layout and 1..max_ops operations. After a fork, later operations may run in the child
    (process numbers count forks) and aim at the pages the processes share; releases and
    device accesses refer to live earlier calls."""
    swarm = Swarm.from_bits(draw(SWARM))
    layout = draw(layouts(swarm=swarm))
    if swarm.few_apis:
        apis = _api_subset(draw, apis)
    story = Story(layout)
    ops: list[sc.Op] = []
    gups: dict[int, sc.Gup] = {}
    released: set[int] = set()
    touched = story.touched
    count = min(draw(OP_COUNT), max_ops)

    def call(process: int | None = None, start: int | None = None) -> sc.Gup:
        op = gup_op(draw, layout, apis, story.processes, common, rare, touched, swarm, story, process,
                    fast_write_only, start)
        gups[len(ops)] = op
        touched.append(op.start)
        story.holder = op.process
        ops.append(op)
        return op

    def fork(process: int) -> None:
        ops.append(sc.Fork(process))
        story.forked(process)

    while len(ops) < count:
        if story.fork is not None:
            kind = AFTER_FORK_KINDS[draw(AFTER_FORK_INDEX)]
        else:
            kind = FORK_KINDS[draw(FORK_KIND_INDEX)] if swarm.fork else KINDS[draw(KIND_INDEX)]
        if swarm.unmovable and draw(ONE_IN_EIGHT) == 7:
            kind = "batch_ref"  # another CPU's batch holds a page an earlier call touched
        live = [g for g in gups if g not in released]
        writable = [g for g in live if sc.writes_through(gups[g])]
        room = count - len(ops)
        op: sc.Op
        if kind == "+gup_write" and room >= 2:
            # half the time on a read-faulted page of a writable private mapping (the zero page,
            # a page-cache page): the page a write must COW, where a pin can be left behind
            cow = story.cow_candidates()
            aim = None
            if len(cow) > 0 and draw(BOOL):
                aim = cow[draw(st.integers(0, len(cow) - 1))]
            made = call(start=aim)
            if made.api in GUP_APIS and draw(BOOL):
                # half the time a R/O long-term pin (a device reading what the process writes,
                # Documentation/core-api/pin_user_pages.rst): the write must not COW away from
                # the pin, which is what unsharing at pin time is for; a write after a R/W
                # call rarely matters
                flags = tuple(f for f in made.flags if f not in ("FOLL_WRITE", "FOLL_FORCE", "FOLL_GET"))
                pin_api = made.api.replace("get_user_pages", "pin_user_pages")
                if "FOLL_LONGTERM" in common and pin_api in apis:
                    made = attrs.evolve(made, api=pin_api, flags=tuple(dict.fromkeys(flags + ("FOLL_LONGTERM",))))
                else:
                    made = attrs.evolve(made, flags=flags)
                if not may_drop_mmap_lock(made.api, foll_from_names(made.flags)):
                    # the interleave was drawn for the call before it became a long-term pin,
                    # which holds the mmap lock throughout: no munmap/mprotect inside it
                    made = attrs.evolve(made, interleave=tuple(
                        inner for inner in made.interleave if not isinstance(inner, (sc.Munmap, sc.Mprotect))))
                ops[-1] = gups[len(ops) - 1] = made
            ops.append(sc.CpuWrite(made.start + draw(st.integers(0, made.pages - 1)), made.process))
            continue
        if kind in ("+pin_fork", "+pin_fork_write") and room >= (2 if kind == "+pin_fork" else 3):
            made = call()
            at = len(ops) - 1
            fork(made.process)
            if kind == "+pin_fork_write":
                # the holder writes: by CPU, or half the time (a writable call) by a device through it
                if sc.writes_through(made) and draw(BOOL):
                    ops.append(sc.DmaWrite(at, 0))
                else:
                    ops.append(sc.CpuWrite(made.start + draw(st.integers(0, made.pages - 1)), made.process))
            continue
        if kind in ("+fork_gup", "+fork_gup_exit") and room >= (2 if kind == "+fork_gup" else 3):
            fork(_process(draw, story))
            parent, child = story.fork  # type: ignore[misc]
            # the call in the child or in the parent (simplest: the parent), on a page the two
            # share (three times in four, when the fork left any)
            aim = _pick(draw, story.shared) if story.shared and draw(ONE_IN_FOUR) < 3 else None
            made = call(child if draw(BOOL) or kind == "+fork_gup_exit" else None, start=aim)
            if kind == "+fork_gup_exit":
                # the holder's side lets go of its mapping of the page: it exits (simplest), or
                # zaps the call's first page (MADV_DONTNEED, munmap) and lives on
                how = draw(ONE_IN_FOUR)
                if how < 2:
                    ops.append(sc.Exit(made.process))
                    story.exited.add(made.process)
                elif how == 2:
                    ops.append(sc.MadvDontneed(made.start, 1, made.process))
                else:
                    ops.append(sc.Munmap(made.start, 1, made.process))
            # then, half the time, the other process writes into the call's range: a reference
            # taken on a shared page must not see the other side's later writes, nor the other
            # side its. While both map the page the write copies it; once the holder's side has
            # gone (its exit or zap) the writer is the only mapper, and its write fault decides between
            # reusing the page in place, under the reference, and copying it (do_wp_page()'s
            # reuse test, the heart of CVE-2020-29374 and of PageAnonExclusive)
            if len(ops) < count and draw(BOOL):
                other = parent if made.process == child else child
                if other not in story.exited:
                    page = made.start if draw(BOOL) else made.start + draw(st.integers(0, made.pages - 1))
                    ops.append(sc.CpuWrite(page, other))
            continue
        if kind == "+gup_zap" and room >= 2:
            made = call()
            page = made.start + draw(st.integers(0, made.pages - 1))
            ops.append(sc.Munmap(page, 1, made.process) if draw(BOOL) else sc.MadvDontneed(page, 1, made.process))
            continue
        if kind == "release" and live:
            release = sc.Release(_pick(draw, live))
            released.add(release.of)
            op = release
        elif kind == "dma_write" and writable:
            op = sc.DmaWrite(_pick(draw, writable), 0)
        elif kind == "dma_read" and live:
            op = sc.DmaRead(_pick(draw, live), 0)
        elif kind == "cpu_write":
            op = sc.CpuWrite(target_page(draw, layout, touched, story.shared), _process(draw, story))
        elif kind == "cpu_read":
            op = sc.CpuRead(target_page(draw, layout, touched, story.shared), _process(draw, story))
        elif kind == "batch_ref":
            op = sc.BatchRef(target_page(draw, layout, touched, story.shared), _process(draw, story))
        elif kind == "fork":
            fork(_process(draw, story))
            continue
        elif kind in ("madv_dontneed", "munmap", "mprotect"):
            page = target_page(draw, layout, touched, story.shared)
            pages = draw(small_count(4))
            process = _process(draw, story)
            if kind == "madv_dontneed":
                op = sc.MadvDontneed(page, pages, process)
            elif kind == "munmap":
                op = sc.Munmap(page, pages, process)
            else:
                op = sc.Mprotect(page, pages, draw(PROT), process)
        elif kind == "exit" and len(story.live()) > 1:
            op = sc.Exit(_pick(draw, [p for p in story.live() if p != 0]))
            story.exited.add(op.process)
        else:  # "gup", or a kind with nothing to act on yet (or no room for its motif)
            call()
            continue
        ops.append(op)
    # Repetitions are drawn last, so that the choices above (and the examples they make) are the
    # same as without them: a repeat only adds references to a call that happens anyway.
    ops = [_repeated(draw, op) for op in ops]
    return sc.validate(sc.Scenario(layout, tuple(ops)))


def _repeated(draw: st.DrawFn, op: sc.Op) -> sc.Op:
    if not isinstance(op, sc.Gup) or op.interleave or op.api not in sc.HOLDING_APIS:
        return op
    repeat = REPEATS[draw(REPEAT_INDEX)]
    return op if repeat == 1 else attrs.evolve(op, repeat=repeat)
