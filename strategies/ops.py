"""GUP calls with FOLL flag mixes, and short operation sequences around them.

Speed matters here: strategies are built once at import and composite functions draw
primitive choices, instead of building fresh `st.builds`/`st.one_of` objects per example
(which Hypothesis re-validates every time). Each choice lists its simplest value first, and
operations aim at the pages earlier calls touched, where the interactions are.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from harness import scenario as sc
from harness.model.kernels import Profile

from .layouts import layouts, small_count
from .swarm import NONE, SWARM, Swarm

#: simplest first: the plain pin
GUP_APIS = ("pin_user_pages", "get_user_pages", "pin_user_pages_fast", "get_user_pages_fast",
            "pin_user_pages_remote", "get_user_pages_remote")
#: flags a caller plausibly passes; FOLL_GET/FOLL_PIN from a caller are the invalid mixes
COMMON_FLAGS = ("FOLL_LONGTERM", "FOLL_WRITE", "FOLL_FORCE")
RARE_FLAGS = ("FOLL_GET", "FOLL_PIN", "FOLL_NOFAULT", "FOLL_ANON")

#: operation kinds, simplest (and most useful) first; a kind may repeat to weigh it
KINDS = ("gup", "cpu_write", "fork", "gup", "cpu_write", "fork", "gup", "release", "dma_write", "cpu_read",
         "madv_dontneed", "mprotect", "munmap", "exit", "dma_read")
RACES = ("madv_dontneed", "madv_dontneed", "cpu_write", "mprotect", "munmap")
RACE_COUNT = st.integers(1, 2)

#: Gup.repeat, simplest first: once (five draws in eight); twice; 1024 references, where
#: folio_maybe_dma_pinned() starts to say "pinned"; 2**21 + 1 pins or 2**32 gets, enough to push a
#: 32-bit refcount past INT_MAX and meet the overflow guard (or, before 8fde12ca79af, get_page's BUG)
REPEATS = (1,) * 10 + (2, 1024, 2**21 + 1, 2**32, 2**21 + 1, 2**32)
REPEAT_INDEX = st.integers(0, len(REPEATS) - 1)

BOOL = st.booleans()
KIND_INDEX = st.integers(0, len(KINDS) - 1)
#: with the "fork" feature: gup, cpu_write, fork, exit and device writes come up more often still
FORK_KINDS = KINDS + ("fork", "cpu_write", "gup", "exit", "dma_write", "fork", "cpu_write", "gup", "exit")
FORK_KIND_INDEX = st.integers(0, len(FORK_KINDS) - 1)
RACE_INDEX = st.integers(0, len(RACES) - 1)
PROT = st.sampled_from(sc.PROTS)
#: which process runs an operation once there are several: parent or child alike (shrinks to the parent)
PROCESS_PICK = st.booleans()
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
    """The APIs and flags a kernel had: no FOLL_PIN before v5.7, no FOLL_LONGTERM before v5.2.
    (Asking an old profile for them is reported as not applicable, which wastes examples.)"""
    apis = tuple(a for a in GUP_APIS if profile.has("foll_pin") or not a.startswith("pin_"))
    common = tuple(f for f in COMMON_FLAGS if profile.has("foll_longterm") or f != "FOLL_LONGTERM")
    rare = tuple(f for f in RARE_FLAGS if profile.has("foll_pin") or f != "FOLL_PIN")
    return {"apis": apis, "common": common, "rare": rare}


def _pick(draw: st.DrawFn, items: list | tuple):  # type: ignore[no-untyped-def]
    return items[draw(st.integers(0, len(items) - 1))]


def _process(draw: st.DrawFn, processes: int) -> int:
    if processes == 1 or not draw(PROCESS_PICK):
        return 0
    return draw(st.integers(1, processes - 1))


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


def target_page(draw: st.DrawFn, layout: tuple[sc.Vma, ...], touched: list[int]) -> int:
    """The page an earlier call started at (most of the time), or any page of the layout."""
    if touched and draw(ONE_IN_FOUR) != 3:
        return touched[-1 - draw(st.integers(0, len(touched) - 1))]
    return call_start(draw, layout)


def interleaved(draw: st.DrawFn, start: int, pages: int, process: int, swarm: Swarm = NONE) -> tuple[sc.Op, ...]:
    """Operations that race with the call at its retry point (rarely; shrinks to none)."""
    racing = draw(BOOL) if swarm.race else draw(ONE_IN_FOUR) == 3
    if not racing:
        return ()
    ops: list[sc.Op] = []
    for _ in range(draw(RACE_COUNT)):
        page = start + draw(st.integers(0, pages - 1))
        kind = RACES[draw(RACE_INDEX)]
        if kind == "madv_dontneed":
            ops.append(sc.MadvDontneed(page, 1, process))
        elif kind == "cpu_write":
            ops.append(sc.CpuWrite(page, process))
        elif kind == "mprotect":
            ops.append(sc.Mprotect(page, 1, draw(PROT), process))
        else:
            ops.append(sc.Munmap(page, 1, process))
    return tuple(ops)


def gup_op(draw: st.DrawFn, layout: tuple[sc.Vma, ...], apis: tuple[str, ...], processes: int,
           common: tuple[str, ...], rare: tuple[str, ...], touched: list[int], swarm: Swarm = NONE) -> sc.Gup:
    """A call whose range may start inside, before or after a VMA and cross holes."""
    start = target_page(draw, layout, touched)
    pages = draw(small_count(32))
    api = _pick(draw, apis)
    flags = draw(foll_flags(common, rare))
    if swarm.force and "FOLL_FORCE" in common and draw(BOOL):
        flags = tuple(dict.fromkeys(flags + ("FOLL_WRITE", "FOLL_FORCE")))
    process = _process(draw, processes)
    return sc.Gup(api, start, pages, flags, interleaved(draw, start, pages, process, swarm), process)


@st.composite
def gup_ops(draw: st.DrawFn, layout: tuple[sc.Vma, ...], apis: tuple[str, ...] = GUP_APIS,
            processes: int = 1, common: tuple[str, ...] = COMMON_FLAGS,
            rare: tuple[str, ...] = RARE_FLAGS) -> sc.Gup:
    return gup_op(draw, layout, apis, processes, common, rare, [])


@st.composite
def scenarios(draw: st.DrawFn, max_ops: int = 6, apis: tuple[str, ...] = GUP_APIS,
              common: tuple[str, ...] = COMMON_FLAGS, rare: tuple[str, ...] = RARE_FLAGS) -> sc.Scenario:
    """A layout and 1..max_ops operations. After a fork, later operations may run in the child
    (process numbers count forks); releases and device accesses refer to live earlier calls."""
    swarm = Swarm.from_bits(draw(SWARM))
    layout = draw(layouts(swarm=swarm))
    ops: list[sc.Op] = []
    gups: dict[int, sc.Gup] = {}
    released: set[int] = set()
    touched: list[int] = []
    processes = 1
    exited: set[int] = set()
    count = draw(st.integers(1, max_ops))
    for index in range(count):
        kind = FORK_KINDS[draw(FORK_KIND_INDEX)] if swarm.fork else KINDS[draw(KIND_INDEX)]
        live = [g for g in gups if g not in released]
        writable = [g for g in live if sc.writes_through(gups[g])]
        process = _process(draw, processes)
        if kind == "release" and live:
            release = sc.Release(_pick(draw, live))
            released.add(release.of)
            op: sc.Op = release
        elif kind == "dma_write" and writable:
            op = sc.DmaWrite(_pick(draw, writable), 0)
        elif kind == "dma_read" and live:
            op = sc.DmaRead(_pick(draw, live), 0)
        elif kind == "cpu_write":
            op = sc.CpuWrite(target_page(draw, layout, touched), process)
        elif kind == "cpu_read":
            op = sc.CpuRead(target_page(draw, layout, touched), process)
        elif kind == "fork":
            op = sc.Fork(process)
            processes += 1
        elif kind in ("madv_dontneed", "munmap", "mprotect"):
            page = target_page(draw, layout, touched)
            pages = draw(small_count(4))
            if kind == "madv_dontneed":
                op = sc.MadvDontneed(page, pages, process)
            elif kind == "munmap":
                op = sc.Munmap(page, pages, process)
            else:
                op = sc.Mprotect(page, pages, draw(PROT), process)
        elif kind == "exit" and processes > 1:
            child = draw(st.integers(1, processes - 1))
            op = sc.Exit(child)
            exited.add(child)
        else:  # "gup", or a kind with nothing to act on yet
            op = gup_op(draw, layout, apis, processes, common, rare, touched, swarm)
            gups[index] = op
            touched.append(op.start)
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
