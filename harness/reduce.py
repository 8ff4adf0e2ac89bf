"""A scenario-level reducer that finishes what shrinking the drawn choices starts.

The finder's pre-shrink (and Hypothesis' shrinker, where it runs) shrinks the choices a
strategy drew; some simplifications are invisible at that level (dropping a VMA that later
operations address by position, dropping an operation that later releases refer to by
index). This pass edits the scenario itself: it tries removals and simplifications, keeps
any edit after which the same properties still fail, and repeats until nothing applies, then
takes the normal form of what it reached (harness/normalize.py): a canonical minimal
counterexample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from . import scenario as sc
from .normalize import descend, normal_form, sorted_flags

Failing = Callable[[sc.Scenario], bool]

#: simplest value first for each field that has a preferred value
SIMPLEST_VMA = {"prot": "rw", "share": "private", "backing": "anon", "placement": "normal"}
SIMPLEST_APIS = ("pin_user_pages", "get_user_pages")


def reduce(scenario: sc.Scenario, still_fails: Failing, budget: int = 2000) -> sc.Scenario:
    """Greedy reduction to a fixpoint, then the normal form among failing scenarios of that
    shape (harness/normalize.py), again until neither changes anything; `still_fails` must
    hold for `scenario`."""
    current = sorted_flags(scenario)
    tries = 0
    while tries < budget:
        current, spent = _greedy(current, still_fails, budget - tries)
        tries += spent
        normal, spent = normal_form(current, still_fails, budget - tries)
        tries += spent
        if normal == current:
            break
        current = normal
    return current


def _greedy(scenario: sc.Scenario, still_fails: Failing, budget: int) -> tuple[sc.Scenario, int]:
    return descend(scenario, _valid_candidates, still_fails, budget)


def _valid_candidates(s: sc.Scenario) -> Iterator[sc.Scenario]:
    for candidate in _candidates(s):
        if candidate == s:
            continue
        try:
            sc.validate(candidate)
        except sc.ScenarioError:
            continue
        yield candidate


def _candidates(s: sc.Scenario) -> Iterator[sc.Scenario]:
    # whole operations first (the biggest simplification), last op first
    for i in reversed(range(len(s.ops))):
        reduced = _without_op(s, i)
        if reduced is not None:
            yield reduced
    # a first CPU access folded into the layout's pre-faulted state (the layout faults its pages
    # the same way before any operation runs): one operation fewer
    folded = _fold_first_access(s)
    if folded is not None:
        yield folded
    # a racing operation taken out of the race: done right after its call instead
    for i, op in enumerate(s.ops):
        if isinstance(op, sc.Gup):
            for j, inner in enumerate(op.interleave):
                calm = attrs.evolve(op, interleave=op.interleave[:j] + op.interleave[j + 1:])
                yield attrs.evolve(s, ops=s.ops[:i] + (calm, inner) + s.ops[i + 1:])
    # a fork whose child's operations the parent does instead
    for i, op in enumerate(s.ops):
        if isinstance(op, sc.Fork):
            merged = _without_fork(s, i)
            if merged is not None:
                yield merged
    # whole VMAs
    if len(s.layout) > 1:
        for i in range(len(s.layout)):
            yield attrs.evolve(s, layout=s.layout[:i] + s.layout[i + 1:])
    # move everything down to address 0
    low = min(v.start for v in s.layout)
    if low > 0 and all(_min_addr(op) is None or _min_addr(op) >= low for op in s.ops):  # type: ignore[operator]
        yield _shift(s, -low)
    # operations' details
    for i, op in enumerate(s.ops):
        for simpler in _simpler_op(op):
            yield attrs.evolve(s, ops=s.ops[:i] + (simpler,) + s.ops[i + 1:])
    # VMAs' details
    for i, vma in enumerate(s.layout):
        for simpler_vma in _simpler_vma(vma):
            yield attrs.evolve(s, layout=s.layout[:i] + (simpler_vma,) + s.layout[i + 1:])


def _without_op(s: sc.Scenario, index: int) -> sc.Scenario | None:
    """Drop op `index` and whatever refers to it; renumber later references."""
    ops: list[sc.Op] = []
    dropped = {index}
    for i, op in enumerate(s.ops):
        if i in dropped:
            continue
        of = getattr(op, "of", None)
        if of is not None:
            if of in dropped:
                dropped.add(i)
                continue
            op = attrs.evolve(op, of=of - sum(1 for d in dropped if d < of))
        ops.append(op)
    if isinstance(s.ops[index], sc.Fork) and any(getattr(op, "process", 0) for op in ops):
        return None  # the child's operations need the fork
    return attrs.evolve(s, ops=tuple(ops))


def _without_fork(s: sc.Scenario, index: int) -> sc.Scenario | None:
    """Drop fork `index` when its child is the last process: the child's operations are the
    parent's (its exit goes); None when a later fork needs the child."""
    fork = s.ops[index]
    assert isinstance(fork, sc.Fork)
    child = 1 + sum(1 for op in s.ops[:index] if isinstance(op, sc.Fork))
    if any(isinstance(op, sc.Fork) for op in s.ops[index + 1:]):
        return None

    def moved(op: sc.Op) -> sc.Op:
        if isinstance(op, sc.Gup):
            op = attrs.evolve(op, interleave=tuple(moved(inner) for inner in op.interleave))
        if getattr(op, "process", None) == child:
            return attrs.evolve(op, process=fork.process)  # type: ignore[misc, arg-type]
        return op

    ops = [moved(op) for i, op in enumerate(s.ops) if i != index and not (isinstance(op, sc.Exit) and op.process == child)]
    if any(isinstance(op, (sc.Release, sc.DmaRead, sc.DmaWrite)) for op in ops):
        return None  # references by index: the plain removals handle those
    return attrs.evolve(s, ops=tuple(ops))


def _fold_first_access(s: sc.Scenario) -> sc.Scenario | None:
    """The scenario with its first operation, a CPU read or write by process 0 (or a one-page
    GUP call that does not write, which read-faults its page), done by the layout instead (its
    page pre-faulted `r` or `w`); None when that does not apply."""
    if not s.ops or getattr(s.ops[0], "process", 0) != 0:
        return None
    access = s.ops[0]
    if isinstance(access, sc.Gup):
        if access.pages != 1 or access.interleave or sc.writes_through(access) or access.repeat != 1:
            return None
        page, char = access.start, "r"
    elif isinstance(access, (sc.CpuRead, sc.CpuWrite)):
        page, char = access.page, "w" if isinstance(access, sc.CpuWrite) else "r"
    else:
        return None
    for i, vma in enumerate(s.layout):
        if vma.start <= page < vma.end:
            offset = page - vma.start
            faulted = vma.faulted.ljust(vma.pages, "-")
            if sc.FAULT_CHARS.index(faulted[offset]) >= sc.FAULT_CHARS.index(char):
                return None  # already faulted that way: dropping the access is the plain removal
            rest = _without_op(s, 0)
            if rest is None:
                return None
            vma = attrs.evolve(vma, faulted=faulted[:offset] + char + faulted[offset + 1:])
            return attrs.evolve(rest, layout=s.layout[:i] + (vma,) + s.layout[i + 1:])
    return None


def _simpler_op(op: sc.Op) -> Iterator[sc.Op]:
    if isinstance(op, sc.Gup):
        if op.interleave:
            yield attrs.evolve(op, interleave=())
            for j in range(len(op.interleave)):
                yield attrs.evolve(op, interleave=op.interleave[:j] + op.interleave[j + 1:])
        for j in range(len(op.flags)):
            yield attrs.evolve(op, flags=op.flags[:j] + op.flags[j + 1:])
        # only towards the front of the preference list, so two APIs never take turns
        rank = SIMPLEST_APIS.index(op.api) if op.api in SIMPLEST_APIS else len(SIMPLEST_APIS)
        for api in SIMPLEST_APIS[:rank]:
            yield attrs.evolve(op, api=api)
        if op.pages > 1:
            yield attrs.evolve(op, pages=1)
            yield attrs.evolve(op, pages=op.pages - 1)
            yield attrs.evolve(op, start=op.start + 1, pages=op.pages - 1)  # its first page gone
        if op.process:
            yield attrs.evolve(op, process=0)
        if op.repeat > 1:
            yield attrs.evolve(op, repeat=1)
    elif isinstance(op, (sc.MadvDontneed, sc.Munmap, sc.Mprotect)) and op.pages > 1:
        yield attrs.evolve(op, pages=1)
    if isinstance(op, sc.Mprotect) and op.prot != "rw":
        yield attrs.evolve(op, prot="rw")


def _simpler_vma(vma: sc.Vma) -> Iterator[sc.Vma]:
    if vma.pages > 1:
        yield attrs.evolve(vma, pages=1, faulted=vma.faulted[:1], driver=_all_p(vma.driver[:1]))
        yield attrs.evolve(vma, pages=vma.pages - 1, faulted=vma.faulted[:-1], driver=_all_p(vma.driver[:-1]))
        # its first page gone (the moves down to address 0 follow)
        yield attrs.evolve(vma, start=vma.start + 1, pages=vma.pages - 1, faulted=_no_blank(vma.faulted[1:]),
                           driver=_all_p(vma.driver[1:]))
    if vma.driver:
        yield attrs.evolve(vma, driver="")
    if vma.faulted:
        yield attrs.evolve(vma, faulted="")
        for simpler in ("-", "r"):
            for j, char in enumerate(vma.faulted):
                if sc.FAULT_CHARS.index(char) > sc.FAULT_CHARS.index(simpler):
                    faulted = vma.faulted[:j] + simpler + vma.faulted[j + 1:]
                    yield attrs.evolve(vma, faulted="" if not faulted.strip("-") else faulted)
    for field, value in SIMPLEST_VMA.items():
        if getattr(vma, field) != value:
            yield attrs.evolve(vma, **{field: value})  # type: ignore[arg-type]


def _no_blank(faulted: str) -> str:
    return "" if not faulted.strip("-") else faulted


def _all_p(driver: str) -> str:
    """A mixedmap driver string with only the driver's own pages is the default, ""."""
    return "" if not driver.strip("p") else driver


def _min_addr(op: sc.Op) -> int | None:
    for field in ("start", "page"):
        if hasattr(op, field):
            return getattr(op, field)  # type: ignore[no-any-return]
    return None


def _shift(s: sc.Scenario, delta: int) -> sc.Scenario:
    def move(op: sc.Op) -> sc.Op:
        if isinstance(op, sc.Gup):
            return attrs.evolve(op, start=op.start + delta, interleave=tuple(move(o) for o in op.interleave))
        for field in ("start", "page"):
            if hasattr(op, field):
                return attrs.evolve(op, **{field: getattr(op, field) + delta})
        return op

    return sc.Scenario(tuple(attrs.evolve(v, start=v.start + delta) for v in s.layout),
                       tuple(move(op) for op in s.ops))
