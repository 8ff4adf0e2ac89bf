"""The normal form of a counterexample: among failing scenarios of the same shape, the simplest.

The greedy reducer (harness/reduce.py) stops at a local minimum: no single edit keeps the
failure. Several minima of the same size often exist for one bug, and which one a search
ends at depends on its seed. For example, on v5.4 a long-term get of a ZONE_MOVABLE page
fails alike whether the page is a written anonymous page, a page-cache page or a driver's
CMA page; going from one to another changes two or three fields of the VMA at once, which
no single edit does. This pass makes the answer one: it orders scenarios of the same shape
(the same VMAs' positions and sizes, the same number of operations) by a fixed key, and
moves each VMA, then each operation, to the smallest alternative under that key that still
fails, until nothing moves. Every VMA alternative of a 1-page VMA is tried; for longer VMAs
the uniform fault states (untouched, read, written) and the current one.

The order is the generator's simplicity order (strategies/: every choice lists its simplest
value first): private anonymous read-write normal memory, untouched; the plain pin first,
then the other kernel entry points, then user-space callers; fewest flags, FOLL_LONGTERM
before FOLL_WRITE before FOLL_FORCE. Between kinds of operation it is the reader's: a CPU
write, then a CPU read, then a GUP call, then a zap, an unmap, an mprotect, an exit (a story
told with a plain write is easier to follow than one told with /proc/pid/mem).
`bench` judges a search's shrink "canonical" when it ends at the normal form of a corpus
file's scenario (harness/bench.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

import attrs

from . import scenario as sc

Failing = Callable[[sc.Scenario], bool]

#: entry points, simplest first: as the generator lists them (strategies/ops.py GUP_APIS, then callers)
API_ORDER = ("pin_user_pages", "get_user_pages", "pin_user_pages_fast", "get_user_pages_fast",
             "pin_user_pages_remote", "get_user_pages_remote") + sc.CALLER_APIS
#: flags by the generator's bit order: the common ones (strategies/ops.py COMMON_FLAGS), then the rare
FLAG_ORDER = ("FOLL_LONGTERM", "FOLL_WRITE", "FOLL_FORCE", "FOLL_GET", "FOLL_PIN", "FOLL_NOFAULT", "FOLL_ANON")
#: flags a simpler call may have that the current one lacks (the rare ones only ever come away)
_COMMON_FLAGS = FLAG_ORDER[:3]


def vma_key(vma: sc.Vma) -> tuple:
    placements = sc.DRIVER_PLACEMENTS if vma.backing == "mixedmap" else sc.PLACEMENTS
    faulted = vma.faulted.ljust(vma.pages, "-")
    driver = vma.driver.ljust(vma.pages, "p") if vma.backing == "mixedmap" else ""
    return (sc.PROTS.index(vma.prot), sc.SHARES.index(vma.share), sc.BACKINGS.index(vma.backing),
            tuple(sc.FAULT_CHARS.index(c) for c in faulted), placements.index(vma.placement),
            tuple(sc.DRIVER_CHARS.index(c) for c in driver))


def flags_key(flags: tuple[str, ...]) -> tuple[int, int]:
    """Fewest flags first, then by the generator's bits."""
    return len(flags), sum(1 << FLAG_ORDER.index(f) for f in flags)


#: what an operation may become, simplest first: a CPU access is the plainest thing a process
#: does, then a GUP call, then the calls that take pages away. Forks, releases, device accesses
#: and the race-only operations are never swapped (they refer to other operations or processes).
KIND_ORDER: tuple[type, ...] = (sc.CpuWrite, sc.CpuRead, sc.Gup, sc.MadvDontneed, sc.Munmap, sc.Mprotect, sc.Exit)


def op_key(op: sc.Op) -> tuple:
    """Compares alternatives at one position, as this module makes them."""
    rank = KIND_ORDER.index(type(op)) if type(op) in KIND_ORDER else len(KIND_ORDER)
    if isinstance(op, sc.Gup):  # fewer racing operations first: they count in a scenario's size
        return (rank, len(op.interleave), API_ORDER.index(op.api), flags_key(op.flags))
    return (rank,)


def sorted_flags(scenario: sc.Scenario) -> sc.Scenario:
    """Every call's flags in FLAG_ORDER: the same call however the flags were listed (the
    model reads them as a set)."""
    def tidy(op: sc.Op) -> sc.Op:
        if isinstance(op, sc.Gup):
            flags = tuple(sorted(op.flags, key=FLAG_ORDER.index))
            return op if flags == op.flags else attrs.evolve(op, flags=flags)
        return op

    ops = tuple(tidy(op) for op in scenario.ops)
    return scenario if ops == scenario.ops else attrs.evolve(scenario, ops=ops)


def normal_form(scenario: sc.Scenario, still_fails: Failing, budget: int = 2000) -> tuple[sc.Scenario, int]:
    """(the normal form, model runs spent); `still_fails` must hold for `scenario`."""
    return descend(scenario, _moves, still_fails, budget)


def descend(scenario: sc.Scenario, moves: Callable[[sc.Scenario], Iterable[sc.Scenario]], still_fails: Failing,
            budget: int) -> tuple[sc.Scenario, int]:
    """First-improvement descent: take the first of `moves` that still fails, again from there,
    until none does or `budget` candidates were run. (scenario reached, candidates run)."""
    current = scenario
    tries = 0
    moved = True
    while moved and tries < budget:
        moved = False
        for candidate in moves(current):
            tries += 1
            if still_fails(candidate):
                current = candidate
                moved = True
                break
            if tries >= budget:
                break
    return current, tries


def _moves(s: sc.Scenario) -> Iterator[sc.Scenario]:
    """For each VMA, then each operation, its simpler alternatives in order, as valid scenarios;
    the layout counts before the operations (a scenario is compared VMA by VMA, then op by op)."""
    for i, vma in enumerate(s.layout):
        for alt in _simpler_vmas(vma):
            candidate = _valid(attrs.evolve(s, layout=s.layout[:i] + (alt,) + s.layout[i + 1:]))
            if candidate is not None:
                yield candidate
        written = _written_by_calls(s, i)
        if written is not None:
            yield written
    for i, op in enumerate(s.ops):
        for alt_op in _simpler_ops(op, _pages_of(op, s)):
            candidate = _valid(attrs.evolve(s, ops=s.ops[:i] + (alt_op,) + s.ops[i + 1:]))
            if candidate is not None:
                yield candidate


def _written_by_calls(s: sc.Scenario, index: int) -> sc.Scenario | None:
    """VMA `index` untouched where it was written beforehand, and FOLL_WRITE on the kernel-API
    calls into it instead: a GUP write fault makes the page the layout's write fault made (an
    anonymous page, or a private file page's copy), so "written, then pinned" and "pinned for
    writing" often fail alike; the second has the simpler layout. Two fields at once, which no
    single move of a VMA or a call makes."""
    vma = s.layout[index]
    if "w" not in vma.faulted:
        return None
    ops = tuple(attrs.evolve(op, flags=tuple(sorted(op.flags + ("FOLL_WRITE",), key=FLAG_ORDER.index)))
                if isinstance(op, sc.Gup) and op.api in sc.KERNEL_APIS and "FOLL_WRITE" not in op.flags
                and vma.start <= op.start < vma.end else op for op in s.ops)
    if ops == s.ops:
        return None
    faulted = vma.faulted.replace("w", "-")
    alt = attrs.evolve(vma, faulted="" if not faulted.strip("-") else faulted)
    return _valid(attrs.evolve(s, layout=s.layout[:index] + (alt,) + s.layout[index + 1:], ops=ops))


def _valid(s: sc.Scenario) -> sc.Scenario | None:
    try:
        return sc.validate(s)
    except sc.ScenarioError:
        return None


def _simpler_vmas(vma: sc.Vma) -> list[sc.Vma]:
    mine = vma_key(vma)
    fills = dict.fromkeys(("", "r" * vma.pages, "w" * vma.pages, vma.faulted))
    found = []
    for prot, share, backing in itertools.product(sc.PROTS, sc.SHARES, sc.BACKINGS):
        mixed = backing == "mixedmap"
        if mixed and share != "shared":
            continue  # driver mappings are MAP_SHARED (harness/scenario.py)
        drivers = dict.fromkeys(("", "s" * vma.pages, vma.driver if vma.backing == "mixedmap" else "")) if mixed else {"": None}
        placements = sc.DRIVER_PLACEMENTS if mixed else sc.PLACEMENTS
        for faulted, placement, driver in itertools.product(fills, placements, drivers):
            alt = sc.Vma(vma.start, vma.pages, prot, share, backing, "" if not faulted.strip("-") else faulted,
                         placement, driver if driver.strip("p") else "")
            if vma_key(alt) < mine:
                found.append(alt)
    return sorted(dict.fromkeys(found), key=vma_key)


def _simpler_ops(op: sc.Op, pages: tuple[int, ...]) -> list[sc.Op]:
    """Alternatives of lower key at the same position, by the same process: a call through
    another entry point or with other flags (the flags it has and the common ones), with or
    without its racing operations (a simpler call may not need the race), and in place
    of any other swappable operation, a CPU access, a call or a zap of one page it touches
    (`pages`: an exit touches every page the scenario addresses)."""
    mine = op_key(op)
    if type(op) not in KIND_ORDER:
        return []
    process: int = getattr(op, "process", 0)
    found: list[sc.Op] = []
    for page in pages:
        found += [sc.CpuWrite(page, process), sc.CpuRead(page, process)]
    if isinstance(op, sc.Gup):
        pool = tuple(dict.fromkeys(op.flags + _COMMON_FLAGS))
        for api, interleave in itertools.product(API_ORDER, dict.fromkeys((op.interleave, ()))):
            for flags in ([()] if api in sc.CALLER_APIS else _subsets(pool)):
                found.append(attrs.evolve(op, api=api, flags=flags, interleave=interleave))
    else:
        for page in pages:
            found += [sc.Gup(api, page, 1, flags, (), process) for api in API_ORDER[:6] for flags in _subsets(_COMMON_FLAGS)]
            found += [sc.MadvDontneed(page, 1, process), sc.Munmap(page, 1, process)]
    return sorted((alt for alt in dict.fromkeys(found) if op_key(alt) < mine), key=op_key)


def _subsets(pool: tuple[str, ...]) -> list[tuple[str, ...]]:
    return [tuple(sorted(flags, key=FLAG_ORDER.index)) for n in range(len(pool) + 1)
            for flags in itertools.combinations(pool, n)]


def _pages_of(op: sc.Op, scenario: sc.Scenario) -> tuple[int, ...]:
    """The page an operation addresses first; for one that addresses none (an exit), every page
    the scenario's operations address (at most four)."""
    own = _page(op)
    if own is not None:
        return (own,)
    return tuple(sorted({p for other in scenario.ops if (p := _page(other)) is not None}))[:4]


def _page(op: sc.Op) -> int | None:
    for field in ("start", "page"):
        value = getattr(op, field, None)
        if value is not None:
            return value  # type: ignore[no-any-return]
    return None
