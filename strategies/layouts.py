"""Layouts: 1-4 VMAs of 1-32 pages with gaps between them."""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st

from harness import scenario as sc

from .swarm import NONE, Swarm

MAX_VMAS = 4
MAX_PAGES = 32
MAX_GAP = 3

PROT = st.sampled_from(("rw", "rw", "r", "none"))
PROT_READONLY = st.sampled_from(("r", "r", "rw", "none"))
#: weighted by repetition (an index into a list shrinks to its first entry): private
#: anonymous memory, what most GUP users pin, comes up most often
SHARE = st.sampled_from(("private", "private", "shared"))
BACKING = st.sampled_from(("anon", "anon", "anon", "shmem", "file", "file", "pfnmap"))
#: a mixedmap driver's pages: all its own (struct page), all without a struct page, or page by page
DRIVER_FILL = st.sampled_from((0, 0, 1, 2))
DRIVER_KIND = st.sampled_from(sc.DRIVER_CHARS)
#: normal first (shrinking), CMA twice as likely: a driver's CMA page is what the long-term check meets
DRIVER_PLACEMENT = st.sampled_from(("normal", "cma", "cma"))
#: how a VMA's pages were faulted: untouched, all read, all written, or page by page
FILL = st.integers(0, 3)
ZERO_FILL = st.sampled_from((1, 1, 0, 2, 3))
#: with the fork leaning, a private anonymous mapping was mostly written before the fork (a
#: process's heap, stack and data): written pages are what fork shares copy-on-write
WRITTEN_FILL = st.sampled_from((2, 2, 0, 1, 3))
#: normal memory half the time: GUP-fast and the unshare paths only see pages a long-term pin
#: need not migrate, and every VMA of a layout needs to be there for most interactions
PLACEMENT = st.sampled_from(("normal", "normal", "normal") + tuple(p for p in sc.PLACEMENTS if p != "normal"))
#: with the movable leaning: normal memory one VMA in seven (first, for shrinking), the rest spread
#: evenly over the placements a long-term pin must migrate out of
MOVABLE_PLACEMENT = st.sampled_from(("normal",) + tuple(p for p in sc.PLACEMENTS if p != "normal") * 2)
FAULT = st.sampled_from(sc.FAULT_CHARS)
GAP = st.integers(0, MAX_GAP)


@cache
def small_count(most: int) -> st.SearchStrategy[int]:
    """1..most, mostly small (1-4 three times in four), shrinking to 1: interactions live on
    few pages. One draw: values past 4*k map onto the large range."""
    if most <= 4:
        return st.integers(1, most)
    span = most - 4
    # 0..11 -> 1..4 (x3 weight), 12..12+span-1 -> 5..most
    return st.integers(0, 11 + span).map(lambda v: 1 + v % 4 if v < 12 else 5 + (v - 12))


@st.composite
def vmas(draw: st.DrawFn, start: int = 0, max_pages: int = MAX_PAGES, swarm: Swarm = NONE) -> sc.Vma:
    pages = draw(small_count(max_pages))
    # simplest first: read-write, private, anonymous, normal memory, untouched
    prot = draw(PROT_READONLY if swarm.readonly else PROT)
    share = draw(SHARE)
    backing = draw(BACKING)
    if swarm.zero_page and draw(st.booleans()):
        share, backing = "private", "anon"
    elif swarm.readonly and draw(st.booleans()):
        share, backing = "private", "file"  # a read-only private file mapping (an executable, /etc/passwd)
    elif swarm.unmovable and draw(st.booleans()):
        backing = "mixedmap"  # only with the driver leaning: most searches need anon and page cache
    if backing == "pfnmap":
        return sc.Vma(start, pages, prot, share, backing)
    driver = ""
    if backing == "mixedmap":
        share = "shared"  # driver mappings are MAP_SHARED in the model
        kinds = draw(DRIVER_FILL)
        driver = "" if kinds == 0 else "s" * pages if kinds == 1 else "".join(draw(DRIVER_KIND) for _ in range(pages))
        if not driver.strip("p"):
            driver = ""
    # zero-page leaning, or a read-only mapping: pages that were read (the usual state of both)
    # so are pages of private file mappings, the usual state of a program's data: their COW and
    # unshare paths start from a read-faulted page-cache page
    read_mostly = swarm.zero_page or swarm.readonly or (share == "private" and backing in ("file", "shmem"))
    written_mostly = swarm.fork and share == "private" and backing == "anon"
    fill = draw(ZERO_FILL if read_mostly else WRITTEN_FILL if written_mostly else FILL)
    if fill < 3:
        faulted = "-rw"[fill] * pages
    else:
        faulted = "".join(draw(FAULT) for _ in range(pages))
    placement = draw(DRIVER_PLACEMENT if backing == "mixedmap" else MOVABLE_PLACEMENT if swarm.movable else PLACEMENT)
    return sc.Vma(start, pages, prot, share, backing, "" if not faulted.strip("-") else faulted, placement, driver)


@st.composite
def layouts(draw: st.DrawFn, max_vmas: int = MAX_VMAS, swarm: Swarm = NONE) -> tuple[sc.Vma, ...]:
    count = draw(st.integers(1, max_vmas))
    result = []
    start = draw(GAP)
    for _ in range(count):
        vma = draw(vmas(start=start, swarm=swarm))
        result.append(vma)
        # a gap of 0 puts two VMAs back to back (the kernel may merge them if they match)
        start = vma.end + draw(GAP)
    return tuple(result)
