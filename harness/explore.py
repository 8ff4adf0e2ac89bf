"""Bounded-exhaustive exploration: every scenario within a declared scope, shortest first.

Where the Hypothesis search samples, the explorer enumerates: every layout of the scope, then
every operation sequence up to `depth` ops drawn from the scope's vocabulary, breadth-first,
so the first violation it meets has as few operations as any counterexample in the scope.
Within a scope it finds nothing, that is a proof (of the model, for that scope), not a sample.

Reductions that keep it tractable:
- state de-duplication: after each prefix the machine is fingerprinted canonically
  (harness/state.py: pages, contents and pin-holding ops renamed by first appearance); a prefix
  that reaches a state already seen is not extended, since its futures are the same;
- symmetry: the pages of a VMA start out alike, so among pages no operation has named yet only
  the lowest is offered (touching page 1 first is touching page 0 first, renamed);
- operations that cannot run (a process not yet forked, a release of nothing held) are never
  generated, and a prefix whose last op was not applicable on the profile is dropped.
Not done: partial-order reduction of commuting ops in different processes (the state
de-duplication already merges the orders that end in the same state, one depth later).
"""

from __future__ import annotations

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
    choices below (a page's fault state is the same for all its pages), and up to `depth` ops."""

    depth: int = 2
    pages: int = 1
    processes: int = 2
    apis: tuple[str, ...] = ("pin_user_pages", "get_user_pages")
    flag_sets: tuple[tuple[str, ...], ...] = ((), ("FOLL_WRITE",), ("FOLL_LONGTERM",), ("FOLL_WRITE", "FOLL_FORCE"))
    #: a forced write with MADV_DONTNEED racing at GUP's retry point (Dirty COW's shape)
    races: bool = True
    prots: tuple[str, ...] = ("rw", "r")
    shares: tuple[str, ...] = ("private", "shared")
    backings: tuple[str, ...] = ("anon", "file")
    faults: tuple[str, ...] = ("-", "r", "w")
    placements: tuple[str, ...] = ("normal", "movable", "isolate")

    def layouts(self) -> Iterator[tuple[sc.Vma, ...]]:
        for prot, share, backing, fault, placement in itertools.product(
                self.prots, self.shares, self.backings, self.faults, self.placements):
            vma = sc.Vma(0, self.pages, prot, share, backing, "" if fault == "-" else fault * self.pages, placement)
            try:
                sc.validate(sc.Scenario((vma,), ()))
            except sc.ScenarioError:
                continue
            yield (vma,)

    def describe(self) -> str:
        return (f"1 VMA x {self.pages} page(s) x {sum(1 for _ in self.layouts())} layouts "
                f"(prot {'/'.join(self.prots)}, {'/'.join(self.shares)}, {'/'.join(self.backings)}, "
                f"faulted {'/'.join(self.faults)}, {'/'.join(self.placements)}); up to {self.processes} processes; "
                f"gup via {'/'.join(self.apis)} with flags "
                f"{', '.join('|'.join(f) or '0' for f in self.flag_sets)}{' + a racing MADV_DONTNEED' if self.races else ''}; "
                f"depth {self.depth}")


#: the scope pytest proves clean on every profile (minus recorded failures) in CI
CI_SCOPE = Scope(depth=2)
#: the scope of the thorough settings profile: every catalogued bug fits in it
THOROUGH_SCOPE = Scope(depth=4, shares=("private",), placements=("normal",))


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
            for api in scope.apis:
                for flags in scope.flag_sets:
                    yield sc.Gup(api, page, 1, flags, process=process)
            yield sc.CpuRead(page, process)
            yield sc.CpuWrite(page, process)
            yield sc.MadvDontneed(page, 1, process)
            if scope.races:
                for api in scope.apis:
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
