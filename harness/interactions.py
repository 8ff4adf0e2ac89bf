"""What `conform` draws: drivable scenarios, and as often scenarios built around an interaction.

strategies/drivable.py's scenarios rarely hold a pin across a fork (under 1% of 3,000) and never
let a child exit, so the differential check hardly compared the kernel and the model where
GUP interacts with the rest of mm. The second half here starts from one story — a pin or
reference held across a fork, a child that exits while it shares pages, MADV_DONTNEED/munmap
of held pages, a re-pin of a held page, many holds of one page — on a writable VMA (the stage),
then continues with the drivable strategy's operations, CPU writes to the stage from any live
process, device accesses through what is held, and exits of children that hold nothing.

Exits only ever end a forked process that holds nothing, and no op is addressed to a process
after its exit: what a dead process's holds become (its files close) is left out, as the model's
runner keeps them. Built only from strategies/drivable.py's pieces; drivable_scenarios() stays
first, so a mismatch still shrinks towards its simplest forms.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from strategies.drivable import MAX_OPS, drivable_gup, drivable_other, drivable_scenarios

from . import scenario as sc
from .live.strategy import writable_stage

#: callers whose pages stay held after the call (a pin, a pipe's references)
HOLDERS = ("io_uring_register_buffers", "vmsplice")
#: the stories, simplest first; the fork story twice as likely (a pin held across fork is the
#: family the issue asks to reach in at least 10% of scenarios)
STORIES = ("hold_fork", "hold_fork", "fork_exit", "zap_held", "repin", "many_holds")


@attrs.define
class _Story:
    """The scenario being drawn, and what it must respect: holds, live and dead processes."""

    layout: tuple[sc.Vma, ...]
    ops: list[sc.Op] = attrs.field(factory=list)
    #: op index -> Gup not yet released
    held: dict[int, sc.Gup] = attrs.field(factory=dict)
    processes: int = 1
    dead: set[int] = attrs.field(factory=set)

    def add(self, op: sc.Op) -> None:
        if getattr(op, "process", 0) in self.dead:
            op = attrs.evolve(op, process=0)  # type: ignore[arg-type]
        if isinstance(op, sc.Gup):
            self.held[len(self.ops)] = op
        elif isinstance(op, sc.Release):
            self.held.pop(op.of, None)
        elif isinstance(op, sc.Fork):
            self.processes += 1
        elif isinstance(op, sc.Exit):
            self.dead.add(op.process)
        self.ops.append(op)

    def alive(self) -> list[int]:
        return [p for p in range(self.processes) if p not in self.dead]

    def idle_children(self) -> list[int]:
        """Forked processes that are alive and hold nothing: they may exit."""
        return [p for p in self.alive() if p and not any(g.process == p and g.api in HOLDERS
                                                         for g in self.held.values())]


@st.composite
def interaction_scenarios(draw: st.DrawFn, max_ops: int = MAX_OPS) -> sc.Scenario:
    """A story of GUP meeting fork, exit, zaps or other holds on a writable stage, then more ops."""
    layout, start, pages = draw(writable_stage())
    story = _Story(layout)

    def hold(process: int = 0) -> sc.Gup:
        return sc.Gup(draw(st.sampled_from(HOLDERS)), start, pages, process=process)

    kind = draw(st.sampled_from(STORIES))
    if kind == "fork_exit":
        story.add(sc.Fork())
        story.add(hold())  # the parent holds a page it shares with the child (or, for a pin, copies it)
    else:
        story.add(hold())
    if kind == "hold_fork":
        story.add(sc.Fork())
    elif kind == "zap_held":
        if draw(st.booleans()):
            story.add(sc.Fork())
        first, count = draw(st.integers(start, start + pages - 1)), draw(st.integers(1, pages))
        story.add(sc.MadvDontneed(first, count) if draw(st.booleans()) else sc.Munmap(first, count))
    elif kind == "repin":
        if draw(st.booleans()):
            story.add(sc.Release(0))
        if draw(st.booleans()):
            story.add(sc.Fork())
        story.add(hold())
    else:  # many_holds: the same page held by several calls (repeat is not drivable)
        for _ in range(draw(st.integers(2, 4))):
            story.add(sc.Gup(draw(st.sampled_from(HOLDERS)), start, draw(st.integers(1, pages))))
        if draw(st.booleans()):
            story.add(sc.Fork())
    for _ in range(draw(st.integers(1, max(1, max_ops - len(story.ops))))):
        story.add(draw(_next_op(story, start, pages)))
    return sc.validate(sc.Scenario(story.layout, tuple(story.ops)))


@st.composite
def _next_op(draw: st.DrawFn, story: _Story, start: int, pages: int) -> sc.Op:
    choice = draw(st.sampled_from(("stage_write", "other", "exit", "device", "gup")))
    alive = story.alive()
    if choice == "stage_write":
        return sc.CpuWrite(draw(st.integers(start, start + pages - 1)), draw(st.sampled_from(alive)))
    if choice == "exit" and story.idle_children():
        return sc.Exit(draw(st.sampled_from(story.idle_children())))
    holders = sorted(i for i, g in story.held.items() if g.api in HOLDERS)
    if choice == "device" and holders:
        of = draw(st.sampled_from(holders))
        index = draw(st.integers(0, story.held[of].pages - 1))
        if story.held[of].api == "io_uring_register_buffers" and draw(st.booleans()):
            return sc.DmaWrite(of, index)
        return sc.DmaRead(of, index)
    if choice == "gup":
        return draw(drivable_gup(story.layout, story.processes))
    return draw(drivable_other(story.layout, story.processes, story.held))


def conform_scenarios() -> st.SearchStrategy[sc.Scenario]:
    return st.one_of(drivable_scenarios(), interaction_scenarios())
