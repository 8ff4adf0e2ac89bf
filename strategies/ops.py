"""GUP calls with FOLL flag mixes, and short operation sequences around them."""

from __future__ import annotations

from hypothesis import strategies as st

from harness import scenario as sc

from .layouts import layouts

#: simplest first: the plain pin
GUP_APIS = ("pin_user_pages", "get_user_pages", "pin_user_pages_fast", "get_user_pages_fast",
            "pin_user_pages_remote", "get_user_pages_remote")
#: flags a caller plausibly passes; FOLL_GET/FOLL_PIN from a caller are the invalid mixes
COMMON_FLAGS = ("FOLL_LONGTERM", "FOLL_WRITE", "FOLL_FORCE")
RARE_FLAGS = ("FOLL_GET", "FOLL_PIN", "FOLL_NOFAULT", "FOLL_ANON")


@st.composite
def foll_flags(draw: st.DrawFn) -> tuple[str, ...]:
    chosen = [f for f in COMMON_FLAGS if draw(st.booleans())]
    if draw(st.integers(0, 7)) == 7:  # invalid or unusual mixes, about one call in eight
        chosen += [f for f in RARE_FLAGS if draw(st.booleans())]
    return tuple(chosen)


@st.composite
def call_starts(draw: st.DrawFn, layout: tuple[sc.Vma, ...]) -> int:
    """Mostly inside a VMA (where the interesting pages are), sometimes just before or
    after one, so ranges also begin in holes; shrinks to the first page of the first VMA."""
    vma = draw(st.sampled_from(layout))
    where = draw(st.integers(0, 7))
    if where < 6:
        return vma.start + draw(st.integers(0, vma.pages - 1))
    if where == 6:
        return max(0, vma.start - draw(st.integers(1, 2)))
    return vma.end + draw(st.integers(0, 1))


@st.composite
def gup_ops(draw: st.DrawFn, layout: tuple[sc.Vma, ...], apis: tuple[str, ...] = GUP_APIS) -> sc.Gup:
    """A call whose range may start inside, before or after a VMA and cross holes."""
    start = draw(call_starts(layout))
    pages = draw(st.integers(1, 32))
    api = draw(st.sampled_from(apis))
    return sc.Gup(api, start, pages, draw(foll_flags()))


@st.composite
def other_ops(draw: st.DrawFn, span: int, gups: list[int], released: set[int]) -> sc.Op:
    page = st.integers(0, max(span - 1, 0))
    live = [g for g in gups if g not in released]
    choices: list[st.SearchStrategy[sc.Op]] = [
        page.map(sc.CpuWrite),
        page.map(sc.CpuRead),
        st.just(sc.Fork()),
        st.builds(sc.MadvDontneed, page, st.integers(1, 4)),
        st.builds(sc.Mprotect, page, st.integers(1, 4), st.sampled_from(sc.PROTS)),
        st.builds(sc.Munmap, page, st.integers(1, 4)),
    ]
    if live:
        choices.insert(0, st.sampled_from(live).map(sc.Release))
        choices.insert(1, st.builds(sc.DmaWrite, st.sampled_from(live), st.just(0)))
    return draw(st.one_of(choices))


@st.composite
def scenarios(draw: st.DrawFn, max_ops: int = 3, apis: tuple[str, ...] = GUP_APIS) -> sc.Scenario:
    """A layout and 1..max_ops operations, the first always a GUP call."""
    layout = draw(layouts())
    span = max(v.end for v in layout)
    ops: list[sc.Op] = [draw(gup_ops(layout, apis))]
    gups = [0]
    released: set[int] = set()
    for index in range(1, draw(st.integers(1, max_ops))):
        if draw(st.booleans()):
            op: sc.Op = draw(gup_ops(layout, apis))
            gups.append(index)
        else:
            op = draw(other_ops(span, gups, released))
            if isinstance(op, sc.Release):
                released.add(op.of)
        ops.append(op)
    scenario = sc.Scenario(layout, tuple(ops))
    return sc.validate(scenario)
