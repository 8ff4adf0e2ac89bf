"""What the live hunt draws: strategies/drivable.py's scenarios, and as often scenarios built
around a long-term pin a device uses.

The drivable strategy reaches a device access rarely (about 1 example in 25 has one through a
held io_uring buffer, and many registrations fail on a read-only or file VMA), so
pin_coherence would hardly be judged. The second half starts with an io_uring registration
over a writable VMA and mixes device reads and writes through it with the drivable strategy's
other operations (fork, CPU accesses, munmap, ...). Built only from strategies/drivable.py's
pieces; drivable_scenarios() stays first, so failures still shrink towards its simplest forms.
"""

from __future__ import annotations

import attrs
from hypothesis import strategies as st

from strategies.drivable import MAX_OPS, drivable_gup, drivable_layouts, drivable_other, drivable_scenarios

from .. import scenario as sc

PIN_API = "io_uring_register_buffers"


@st.composite
def writable_stage(draw: st.DrawFn) -> tuple[tuple[sc.Vma, ...], int, int]:
    """A drivable layout with one VMA made writable, and a range (start, pages) inside it."""
    layout = list(draw(drivable_layouts()))
    target = draw(st.integers(0, len(layout) - 1))
    layout[target] = attrs.evolve(layout[target], prot="rw")
    vma = layout[target]
    start = draw(st.integers(vma.start, vma.end - 1))
    return tuple(layout), start, draw(st.integers(1, vma.end - start))


@st.composite
def device_scenarios(draw: st.DrawFn, max_ops: int = MAX_OPS) -> sc.Scenario:
    """A writable VMA pinned by io_uring first, then device accesses through held pins among other ops."""
    stage, start, pages = draw(writable_stage())
    layout = list(stage)
    pinned = sc.Gup(PIN_API, start, pages)
    ops: list[sc.Op] = [pinned]
    held: dict[int, sc.Gup] = {0: pinned}
    processes = 1
    for index in range(1, draw(st.integers(2, max_ops))):
        pins = sorted(i for i, g in held.items() if g.api == PIN_API)
        kind = draw(st.sampled_from(("device", "other", "gup")))
        op: sc.Op
        if kind == "device" and pins:
            of = draw(st.sampled_from(pins))
            page = draw(st.integers(0, held[of].pages - 1))
            op = sc.DmaWrite(of, page) if draw(st.booleans()) else sc.DmaRead(of, page)
        elif kind == "gup":
            op = draw(drivable_gup(tuple(layout), processes))
            held[index] = op  # type: ignore[assignment]
        else:
            op = draw(drivable_other(tuple(layout), processes, held))
            if isinstance(op, sc.Release):
                del held[op.of]
            elif isinstance(op, sc.Fork):
                processes += 1
        ops.append(op)
    return sc.validate(sc.Scenario(tuple(layout), tuple(ops)))


def live_scenarios() -> st.SearchStrategy[sc.Scenario]:
    return st.one_of(drivable_scenarios(), device_scenarios())
