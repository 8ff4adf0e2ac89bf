"""Layouts: 1-4 VMAs of 1-32 pages with gaps between them."""

from __future__ import annotations

from hypothesis import strategies as st

from harness import scenario as sc

MAX_VMAS = 4
MAX_PAGES = 32
MAX_GAP = 3


@st.composite
def vmas(draw: st.DrawFn, start: int = 0, max_pages: int = MAX_PAGES) -> sc.Vma:
    pages = draw(st.integers(1, max_pages))
    # simplest first: read-write, private, anonymous, normal memory, untouched
    prot = draw(st.sampled_from(sc.PROTS))
    share = draw(st.sampled_from(sc.SHARES))
    backing = draw(st.sampled_from(sc.BACKINGS))
    if backing == "pfnmap":
        return sc.Vma(start, pages, prot, share, backing)
    faulted = "".join(draw(st.lists(st.sampled_from(sc.FAULT_CHARS), min_size=pages, max_size=pages)))
    placement = draw(st.sampled_from(sc.PLACEMENTS))
    return sc.Vma(start, pages, prot, share, backing, "" if not faulted.strip("-") else faulted, placement)


@st.composite
def layouts(draw: st.DrawFn, max_vmas: int = MAX_VMAS) -> tuple[sc.Vma, ...]:
    count = draw(st.integers(1, max_vmas))
    result = []
    start = draw(st.integers(0, MAX_GAP))
    for _ in range(count):
        vma = draw(vmas(start=start))
        result.append(vma)
        # a gap of 0 puts two VMAs back to back (the kernel would keep them apart if they differ)
        start = vma.end + draw(st.integers(0, MAX_GAP))
    return tuple(result)
