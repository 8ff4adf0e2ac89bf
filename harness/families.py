"""Interaction families: which kinds of interaction a scenario's run contains.

One place that says what "a pin held across fork" or "a munmap of a pinned page" means, so
`gupharness stats` (how often generation reaches each family) and the tests (a strategy
must reach each family) agree. A family is a predicate over one step of a run, seen with
the state before it (the runner's snapshot after the previous op) and the forks so far;
adding one is adding an entry to FAMILIES.

Families are judged on the run, not only on the scenario: a call that failed holds
nothing, a page is "shared" only if two processes map the same frame at that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from . import scenario as sc
from .model.callers import CALLERS
from .model.flags import FOLL, foll_from_names
from .model.kernels import Profile
from .run import Held, OpResult, Run, Snapshot

#: flag columns of the API table: each call counts in every column its flags match
FLAG_MIXES = ("R/O", "R/W", "LONGTERM", "FORCE")


@attrs.frozen
class Step:
    """One top-level op of a run, with the state before it."""

    index: int
    op: sc.Op
    result: OpResult
    #: held pins/references, mappings before the op (None before the first op: one process, nothing held)
    before: Snapshot | None
    #: (op index, forking process) of every fork before this op
    forks: tuple[tuple[int, int], ...]

    def held(self) -> tuple[Held, ...]:
        """Everything held before the op, including pages whose address was zapped since."""
        return () if self.before is None else self.before.held

    def attached(self) -> tuple[Held, ...]:
        """Held pages still mapped where they were taken (no munmap/DONTNEED/exit since)."""
        return tuple(h for h in self.held() if not h.detached)

    def maps(self) -> dict[tuple[int, int], int]:
        return {} if self.before is None else self.before.maps

    def shared(self, process: int, addr: int) -> bool:
        """The page `process` maps at `addr` is mapped by another process too (fork sharing)."""
        maps = self.maps()
        pfn = maps.get((process, addr))
        return pfn is not None and any(p != process and f == pfn for (p, _a), f in maps.items())


def _process(op: sc.Op) -> int:
    return getattr(op, "process", 0)


def _range(op: sc.Op) -> range:
    if isinstance(op, (sc.CpuRead, sc.CpuWrite)):
        return range(op.page, op.page + 1)
    if isinstance(op, (sc.Gup, sc.Munmap, sc.Mprotect, sc.MadvDontneed)):
        return range(op.start, op.start + op.pages)
    return range(0)


def pin_held_across_fork(s: Step) -> bool:
    return isinstance(s.op, sc.Fork) and any(h.process == s.op.process for h in s.held())


def pinner_writes_after_fork(s: Step) -> bool:
    """A CPU write by a process to a page it still holds from a call made before it forked."""
    if not isinstance(s.op, sc.CpuWrite):
        return False
    return any(h.process == s.op.process and h.addr == s.op.page
               and any(h.op < fork < s.index and who == h.process for fork, who in s.forks) for h in s.attached())


def write_to_page_held_by_other(s: Step) -> bool:
    """A CPU write to a page another process holds a pin/reference on (GUP after fork)."""
    if not isinstance(s.op, sc.CpuWrite):
        return False
    pfn = s.maps().get((s.op.process, s.op.page))
    return pfn is not None and any(h.process != s.op.process and h.pfn == pfn for h in s.held())


def _write_to_ro_pinned(anon: bool) -> Callable[[Step], bool]:
    def check(s: Step) -> bool:
        """A CPU write by a process to a page it holds through a R/O pin: the COW that write
        takes must not leave the pin behind (unsharing at pin time, PG_anon_exclusive)."""
        if not isinstance(s.op, sc.CpuWrite):
            return False
        return any(h.pin and not h.write and h.process == s.op.process and h.addr == s.op.page and h.anon == anon
                   for h in s.attached())
    return check


def dma_write_after_fork(s: Step) -> bool:
    """A device write through a pin taken before its process forked."""
    if not isinstance(s.op, sc.DmaWrite):
        return False
    return any(h.op == s.op.of and any(h.op < fork and who == h.process for fork, who in s.forks) for h in s.held())


def _gup_on_shared(parent: bool) -> Callable[[Step], bool]:
    def check(s: Step) -> bool:
        if not isinstance(s.op, sc.Gup) or (_process(s.op) == 0) != parent:
            return False
        return any(s.shared(s.op.process, addr) for addr in _range(s.op))
    return check


def _write_to_shared(parent: bool) -> Callable[[Step], bool]:
    def check(s: Step) -> bool:
        if not isinstance(s.op, sc.CpuWrite) or (s.op.process == 0) != parent:
            return False
        return s.shared(s.op.process, s.op.page)
    return check


def _zap_of_held(kind: type) -> Callable[[Step], bool]:
    def check(s: Step) -> bool:
        if not isinstance(s.op, kind):
            return False
        span = _range(s.op)
        return any(h.process == _process(s.op) and h.addr in span for h in s.attached())
    return check


def exit_sharing_held_page(s: Step) -> bool:
    """A process exits while it maps a page that is held and mapped by another process too."""
    if not isinstance(s.op, sc.Exit):
        return False
    held = {h.pfn for h in s.held()}
    return any(pid == s.op.process and pfn in held and s.shared(pid, addr) for (pid, addr), pfn in s.maps().items())


def child_exit_while_sharing(s: Step) -> bool:
    """A forked process exits while a page it maps is mapped by another process too."""
    if not isinstance(s.op, sc.Exit) or s.op.process == 0:
        return False
    return any(pid == s.op.process and s.shared(pid, addr) for (pid, addr) in s.maps())


def _holding_call(s: Step) -> bool:
    return isinstance(s.op, sc.Gup) and CALLERS[s.op.api].holds and (s.result.result or 0) > 0


def repin_of_held_page(s: Step) -> bool:
    """A call that keeps what it takes gets a page an earlier call still holds."""
    held = {h.pfn for h in s.held()}
    return _holding_call(s) and any(g.pfn in held for g in s.result.grabbed)


def many_holds_of_one_page(s: Step) -> bool:
    """A call that keeps what it takes leaves a page held three times or more (calls, repetitions)."""
    if not _holding_call(s):
        return False
    assert isinstance(s.op, sc.Gup)
    return any(sum(h.pfn == g.pfn for h in s.held()) + s.op.repeat >= 3 for g in s.result.grabbed)


def zap_racing_with_gup(s: Step) -> bool:
    """A MADV_DONTNEED or munmap at GUP's retry point, inside the call's range."""
    return isinstance(s.op, sc.Gup) and any(
        isinstance(inner, (sc.MadvDontneed, sc.Munmap)) and set(_range(inner)) & set(_range(s.op))
        for inner in s.op.interleave)


#: name -> (what it means, predicate over a step); ordered as `stats` prints them
FAMILIES: dict[str, tuple[str, Callable[[Step], bool]]] = {
    "pin_held_across_fork": ("a process forks while it holds a pin/reference", pin_held_across_fork),
    "pinner_writes_after_fork": ("the holder CPU-writes a held page after forking", pinner_writes_after_fork),
    "write_to_page_held_by_other": ("a CPU write to a page another process holds", write_to_page_held_by_other),
    "write_to_ro_pinned_anon": ("the holder CPU-writes an anon page it holds through a R/O pin",
                                _write_to_ro_pinned(True)),
    "write_to_ro_pinned_other": ("the holder CPU-writes a zero/page-cache page it holds through a R/O pin",
                                 _write_to_ro_pinned(False)),
    "dma_write_after_fork": ("a device writes through a pin taken before a fork", dma_write_after_fork),
    "gup_on_shared_page_parent": ("the parent calls GUP on a page it shares with a child", _gup_on_shared(True)),
    "gup_on_shared_page_child": ("a child calls GUP on a page it shares with another process", _gup_on_shared(False)),
    "write_to_shared_page_parent": ("the parent CPU-writes a page it shares with a child", _write_to_shared(True)),
    "write_to_shared_page_child": ("a child CPU-writes a page it shares", _write_to_shared(False)),
    "madv_dontneed_of_held_page": ("MADV_DONTNEED of a page its process holds", _zap_of_held(sc.MadvDontneed)),
    "munmap_of_held_page": ("munmap of a page its process holds", _zap_of_held(sc.Munmap)),
    "exit_sharing_held_page": ("exit of a process mapping a held page another process maps too",
                               exit_sharing_held_page),
    "zap_racing_with_gup": ("MADV_DONTNEED/munmap at GUP's retry point in the call's range", zap_racing_with_gup),
    "child_exit_while_sharing": ("a forked process exits while another process maps a page it maps",
                                 child_exit_while_sharing),
    "repin_of_held_page": ("a holding call gets a page an earlier call still holds", repin_of_held_page),
    "many_holds_of_one_page": ("a holding call leaves a page held three or more times", many_holds_of_one_page),
}


def steps(run: Run) -> Iterator[Step]:
    forks: list[tuple[int, int]] = []
    for result in run.results:
        if result.not_applicable:
            return
        before = run.snapshots[result.index - 1] if 0 < result.index <= len(run.snapshots) else None
        yield Step(result.index, result.op, result, before, tuple(forks))
        if isinstance(result.op, sc.Fork):
            forks.append((result.index, result.op.process))


def families(run: Run) -> frozenset[str]:
    """The interaction families the run contains."""
    found: set[str] = set()
    for step in steps(run):
        for name, (_doc, predicate) in FAMILIES.items():
            if name not in found and predicate(step):
                found.add(name)
    return frozenset(found)


def call_mixes(op: sc.Gup) -> tuple[str, ...]:
    """The FLAG_MIXES columns a call counts in, from its effective flags (a caller's own included)."""
    flags = foll_from_names(op.flags) | CALLERS[op.api].flags
    return tuple(m for m in FLAG_MIXES if {
        "R/O": not flags & FOLL.WRITE, "R/W": bool(flags & FOLL.WRITE),
        "LONGTERM": bool(flags & FOLL.LONGTERM), "FORCE": bool(flags & FOLL.FORCE)}[m])


def calls(scenario: sc.Scenario) -> frozenset[tuple[str, str]]:
    """(api, flag mix) of every GUP call the scenario makes."""
    return frozenset((op.api, mix) for op in scenario.ops if isinstance(op, sc.Gup) for mix in call_mixes(op))


def possible_mix(profile: Profile, api: str, mix: str) -> bool:
    """Can the scenario format express this call on this profile at all? A caller's flags are
    fixed (it adds none from the scenario); FOLL_PIN/FOLL_LONGTERM need the release that added them."""
    caller = CALLERS[api]
    if caller.api.startswith("pin_") and not profile.has("foll_pin"):
        return False
    if mix == "LONGTERM" and not profile.has("foll_longterm"):
        return False
    if caller.name == caller.api:  # a kernel API: the scenario chooses the flags
        return True
    return mix in call_mixes(sc.Gup(api, 0, 1))
