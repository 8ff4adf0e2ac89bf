"""Bounded-exhaustive exploration: every scenario within a declared scope, shortest first.

Where the Hypothesis search samples, the explorer enumerates: every layout of the scope, then
every operation sequence up to `depth` ops drawn from the scope's vocabulary, breadth-first,
so the first violation it meets has as few operations as any counterexample in the scope.
Within a scope it finds nothing, that is a proof (of the model, for that scope), not a sample.

Reductions that keep it tractable:
- state de-duplication: after each prefix the machine is fingerprinted canonically
  (harness/state.py: pages, contents and pin-holding ops renamed by first appearance); a prefix
  that reaches a state already seen is not extended, since its futures are the same;
- symmetry: the pages of a VMA start out alike (a scope's layouts give all pages one fault
  state and, for a driver mapping, one page kind), so among pages no operation has named yet
  only the lowest is offered (touching page 1 first is touching page 0 first, renamed);
- operations that cannot run (a process not yet forked, a release of nothing held) are never
  generated, and a prefix whose last op was not applicable on the profile is dropped.
Not done: partial-order reduction of commuting ops in different processes (the state
de-duplication already merges the orders that end in the same state, one depth later). Were it
added, the wide scope's calls would need care: a call with failing slab allocations, a repeated
call that overflows a shared page's count, or a long-term pin that migrates a page do not commute
with another process's ops on the same pages.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterator

import attrs

from . import scenario as sc
from .model.kernels import Profile, get_profile
from .run import Run, run_scenario


@attrs.frozen
class Scope:
    """What the explorer enumerates: one VMA of `pages` pages in every combination of the layout
    choices below (a page's fault state, and a driver mapping's page kind, is the same for all its
    pages, so the pages start out alike), and up to `depth` ops."""

    depth: int = 2
    pages: int = 1
    processes: int = 2
    #: kernel APIs are offered with every flag set; userspace callers (io_uring, vmsplice...)
    #: with no flag of their own, since user space cannot add FOLL flags to theirs
    apis: tuple[str, ...] = ("pin_user_pages", "get_user_pages")
    flag_sets: tuple[tuple[str, ...], ...] = ((), ("FOLL_WRITE",), ("FOLL_LONGTERM",), ("FOLL_WRITE", "FOLL_FORCE"))
    #: a forced write with MADV_DONTNEED racing at GUP's retry point (Dirty COW's shape)
    races: bool = True
    #: every long-term call again with its slab allocations failing (a FailSlab interleave);
    #: only long-term calls, since only the long-term path allocates (see sc.FailSlab)
    fail_slab: bool = False
    #: each holding API's flagless call (sc.HOLDING_APIS) again, repeated just past a refcount
    #: overflow (see overflow_repeat())
    repeats: bool = False
    prots: tuple[str, ...] = ("rw", "r")
    shares: tuple[str, ...] = ("private", "shared")
    backings: tuple[str, ...] = ("anon", "file")
    faults: tuple[str, ...] = ("-", "r", "w")
    placements: tuple[str, ...] = ("normal", "movable", "isolate")
    #: page kinds of a mixedmap (driver) VMA, one per layout: the driver's own pages or special PTEs
    drivers: tuple[str, ...] = tuple(sc.DRIVER_CHARS)

    def layouts(self) -> Iterator[tuple[sc.Vma, ...]]:
        for prot, share, backing, fault, placement in itertools.product(
                self.prots, self.shares, self.backings, self.faults, self.placements):
            for driver in self.drivers if backing == "mixedmap" else ("",):
                vma = _canonical(sc.Vma(0, self.pages, prot, share, backing, fault * self.pages, placement,
                                        driver * self.pages))
                try:
                    sc.validate(sc.Scenario((vma,), ()))
                except sc.ScenarioError:
                    continue
                yield (vma,)

    def calls(self, page: int, process: int) -> Iterator[sc.Gup]:
        """The gup calls the scope offers on `page`, simplest first: each API with each of its
        flag sets, then the slab-failing long-term ones, then the repeated ones."""
        plain = [sc.Gup(api, page, 1, flags, process=process)
                 for api in self.apis for flags in (self.flag_sets if api in sc.KERNEL_APIS else ((),))]
        yield from plain
        if self.fail_slab:
            for gup in plain:
                if "FOLL_LONGTERM" in gup.flags or gup.api in LONGTERM_CALLERS:
                    yield attrs.evolve(gup, interleave=(sc.FailSlab(),))
        if self.repeats:
            for gup in plain:
                if gup.api in sc.HOLDING_APIS and not gup.flags:
                    yield attrs.evolve(gup, repeat=overflow_repeat(gup.api))

    def fits(self, scenario: sc.Scenario) -> bool:
        """Could `scenario` be one the scope enumerates: its layout is one of the scope's, and
        each op one the vocabulary offers at that point, taking every earlier gup not released as
        held (the explorer keeps only those that succeeded) and every page as already named (the
        explorer offers only the lowest untouched one, a renaming of the others)."""
        if len(scenario.ops) > self.depth or tuple(map(_canonical, scenario.layout)) not in _layouts(self):
            return False
        node = _Node(sc.Scenario(scenario.layout, ()), (), 1, frozenset(), frozenset(range(self.pages)))
        for index, op in enumerate(scenario.ops):
            if op not in set(vocabulary(self, node)):
                return False
            held = set(node.held) - ({op.of} if isinstance(op, sc.Release) else set())
            if isinstance(op, sc.Gup):
                held.add(index)
            node = _Node(sc.Scenario(scenario.layout, scenario.ops[:index + 1]), tuple(sorted(held)),
                         node.processes + isinstance(op, sc.Fork),
                         node.exited | ({op.process} if isinstance(op, sc.Exit) else set()), node.touched)
        return True

    def describe(self) -> str:
        backings = "/".join(f"{b} ({'/'.join(self.drivers)} pages)" if b == "mixedmap" else b for b in self.backings)
        extras = "".join((" + a racing MADV_DONTNEED" if self.races else "",
                          " + failing slab allocations (long-term calls)" if self.fail_slab else "",
                          " + each holding call repeated past a refcount overflow" if self.repeats else ""))
        return (f"1 VMA x {self.pages} page(s) x {sum(1 for _ in self.layouts())} layouts "
                f"(prot {'/'.join(self.prots)}, {'/'.join(self.shares)}, {backings}, "
                f"faulted {'/'.join(self.faults)}, {'/'.join(self.placements)}); up to {self.processes} processes; "
                f"gup via {'/'.join(self.apis)} with flags "
                f"{', '.join('|'.join(f) or '0' for f in self.flag_sets)}{extras}; "
                f"depth {self.depth}")


@functools.cache
def _layouts(scope: Scope) -> frozenset[tuple[sc.Vma, ...]]:
    return frozenset(scope.layouts())


def _canonical(vma: sc.Vma) -> sc.Vma:
    """The format's default spelling: "" for all pages untouched, and for all the driver's own."""
    return attrs.evolve(vma, faulted="" if not vma.faulted.strip("-") else vma.faulted,
                        driver="" if not vma.driver.strip("p") else vma.driver)


def overflow_repeat(api: str) -> int:
    """How often to repeat a call of `api` to overflow a page's refcount, and make one call more:
    a pin adds GUP_PIN_COUNTING_BIAS (1024), so 2**21 pins reach 2**31 (INT_MAX + 1) and the next
    one meets the overflow guard; a plain reference adds 1, so 2**32 of them wrap the count all
    the way round (vmsplice's CVE-2019-11487), the format's largest repeat."""
    return (1 << 21) + 1 if api.startswith("pin_") or api in LONGTERM_CALLERS else sc.MAX_REPEAT


#: userspace callers whose GUP call is long-term by itself (their FOLL flags, harness/model/callers.py)
LONGTERM_CALLERS = ("io_uring_register_buffers",)

#: the scope pytest proves clean on every profile (minus recorded failures) in CI
CI_SCOPE = Scope(depth=2)
#: the scope of the thorough settings profile: the catalogued bugs of private normal memory
#: that take up to four ops (GUP after fork, the COW breaks that strand a pin)
THOROUGH_SCOPE = Scope(depth=4, shares=("private",), placements=("normal",))
#: every layout kind and the whole call vocabulary, two ops deep: driver mappings (the driver's
#: own pages and special PTEs, in normal memory or CMA), every placement (CMA and a CMA
#: pageblock being isolated among them), GUP-fast, io_uring and vmsplice, failing slab
#: allocations, refcount-overflowing repetitions. Depth 4 of this would be ~30x the thorough one.
WIDE_SCOPE = Scope(
    depth=2,
    apis=("pin_user_pages", "get_user_pages", "pin_user_pages_fast", "get_user_pages_fast",
          "io_uring_register_buffers", "vmsplice"),
    fail_slab=True, repeats=True,
    backings=("anon", "file", "mixedmap"), placements=("normal", "movable", "cma", "isolate"))
#: the named scopes, cheapest first (`gupharness explore --scope NAME`)
SCOPES: dict[str, Scope] = {"ci": CI_SCOPE, "wide": WIDE_SCOPE, "thorough": THOROUGH_SCOPE}


def smallest_scope(scenario: sc.Scenario) -> str | None:
    """The name of the cheapest named scope that holds `scenario`, if any does."""
    return next((name for name, scope in SCOPES.items() if scope.fits(scenario)), None)


@attrs.define
class Level:
    depth: int
    runs: int
    states: int
    seconds: float


@attrs.define
class ExploreResult:
    profile: Profile
    scope: Scope
    properties: tuple[str, ...]
    counterexample: sc.Scenario | None
    run: Run | None
    failures: dict[str, str]
    runs: int
    states: int
    seconds: float
    levels: list[Level]
    #: False when max_runs cut the exploration short (then a clean result proves nothing)
    complete: bool = True


@attrs.frozen
class _Node:
    scenario: sc.Scenario
    #: gup ops whose pages are still held (Release/DMA may name them)
    held: tuple[int, ...]
    processes: int
    exited: frozenset[int]
    touched: frozenset[int]


def _touched(op: sc.Op) -> range:
    if isinstance(op, sc.Gup) or isinstance(op, (sc.Munmap, sc.Mprotect, sc.MadvDontneed)):
        return range(op.start, op.start + op.pages)
    if isinstance(op, (sc.CpuRead, sc.CpuWrite)):
        return range(op.page, op.page + 1)
    return range(0)


def vocabulary(scope: Scope, node: _Node) -> Iterator[sc.Op]:
    """Every op the scope allows after `node`, simplest first."""
    pages = sorted(node.touched) + [p for p in range(scope.pages) if p not in node.touched][:1]
    live = [p for p in range(node.processes) if p not in node.exited]
    for process in live:
        for page in pages:
            yield from scope.calls(page, process)
            yield sc.CpuRead(page, process)
            yield sc.CpuWrite(page, process)
            yield sc.MadvDontneed(page, 1, process)
            if scope.races:
                for api in scope.apis:
                    if api in sc.KERNEL_APIS:
                        yield sc.Gup(api, page, 1, ("FOLL_WRITE", "FOLL_FORCE"),
                                     interleave=(sc.MadvDontneed(page, 1, process),), process=process)
        if node.processes < scope.processes:
            yield sc.Fork(process)
        if process > 0:
            yield sc.Exit(process)
    for of in node.held:
        yield sc.Release(of)
        gup = node.scenario.ops[of]
        assert isinstance(gup, sc.Gup)
        yield sc.DmaRead(of, 0)
        if sc.writes_through(gup):
            yield sc.DmaWrite(of, 0)


def _child(node: _Node, op: sc.Op, run: Run) -> _Node:
    index = len(node.scenario.ops)
    held = set(node.held)
    if isinstance(op, sc.Release):
        held.discard(op.of)
    if isinstance(op, sc.Gup) and index in run.held_at_end:
        held.add(index)
    processes = node.processes + (1 if isinstance(op, sc.Fork) else 0)
    exited = node.exited | ({op.process} if isinstance(op, sc.Exit) else set())
    return _Node(run.scenario, tuple(sorted(held)), processes, exited, node.touched | set(_touched(op)))


def explore(profile: Profile | str, scope: Scope = CI_SCOPE, property_names: tuple[str, ...] | list[str] | None = None,
            *, max_runs: int | None = None, progress: Callable[[Level], None] | None = None) -> ExploreResult:
    """Breadth-first over the scope; stops at the first violation (a minimal one)."""
    from properties import PROPERTIES, check_all, get_property

    if isinstance(profile, str):
        profile = get_profile(profile)
    names = tuple(property_names) if property_names else tuple(PROPERTIES)
    for name in names:
        get_property(name)
    started = time.perf_counter()
    seen: set = set()
    frontier = [_Node(sc.Scenario(layout, ()), (), 1, frozenset(), frozenset()) for layout in scope.layouts()]
    levels: list[Level] = []
    runs = 0
    for depth in range(1, scope.depth + 1):
        level_started = time.perf_counter()
        level_runs = 0
        following: list[_Node] = []
        for node in frontier:
            for op in vocabulary(scope, node):
                if max_runs is not None and runs >= max_runs:
                    levels.append(Level(depth, level_runs, len(following), time.perf_counter() - level_started))
                    return ExploreResult(profile, scope, names, None, None, {}, runs, len(seen),
                                         time.perf_counter() - started, levels, complete=False)
                candidate = sc.Scenario(node.scenario.layout, node.scenario.ops + (op,))
                run = run_scenario(candidate, profile, trace=False, final_state=True)
                runs += 1
                level_runs += 1
                if run.not_applicable:
                    continue
                verdicts = check_all(run, names)
                failures = {k: v for k, v in verdicts.items() if v is not None}
                if failures:
                    final = run_scenario(candidate, profile)
                    levels.append(Level(depth, level_runs, len(following), time.perf_counter() - level_started))
                    return ExploreResult(profile, scope, names, candidate, final, failures, runs, len(seen),
                                         time.perf_counter() - started, levels)
                if run.final_state is None or run.final_state in seen:
                    continue
                seen.add(run.final_state)
                following.append(_child(node, op, run))
        levels.append(Level(depth, level_runs, len(following), time.perf_counter() - level_started))
        if progress is not None:
            progress(levels[-1])
        frontier = following
    return ExploreResult(profile, scope, names, None, None, {}, runs, len(seen), time.perf_counter() - started, levels)
