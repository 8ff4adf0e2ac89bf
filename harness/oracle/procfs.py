"""Reading page state through /proc without touching the pages.

pagemap and kpageflags are the only sources used for observations: reading them never
faults a page in, so observing does not change what is observed.
"""

from __future__ import annotations

import os
import struct

from ..observe import PageObservation
from .syscalls import PAGE

PM_PRESENT = 1 << 63
PM_FILE = 1 << 61  # file page or shared anon (kept for debugging; the vocabulary uses kpageflags)
PM_MMAP_EXCLUSIVE = 1 << 56  # mapcount == 1, not PageAnonExclusive
PM_PFN_MASK = (1 << 55) - 1

KPF_ANON = 1 << 12
KPF_ZERO_PAGE = 1 << 24


class Procfs:
    """Open /proc/self/pagemap, /proc/kpageflags and /proc/kpagecount once per process."""

    def __init__(self) -> None:
        self.pagemap = os.open("/proc/self/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        self.kpageflags = os.open("/proc/kpageflags", os.O_RDONLY | os.O_CLOEXEC)
        self.kpagecount = os.open("/proc/kpagecount", os.O_RDONLY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.pagemap)
        os.close(self.kpageflags)
        os.close(self.kpagecount)

    def mapcounts(self, pfns: tuple[int, ...]) -> tuple[int | None, ...]:
        """/proc/kpagecount of each PFN (0 = absent: None): the mapcount, not the refcount."""
        counts: list[int | None] = []
        for pfn in pfns:
            data = os.pread(self.kpagecount, 8, pfn * 8) if pfn else b""
            counts.append(struct.unpack("<Q", data)[0] if len(data) == 8 else None)
        return tuple(counts)

    def entries(self, addr: int, pages: int) -> tuple[int, ...]:
        """Raw 64-bit pagemap entries of `pages` pages from `addr`."""
        data = os.pread(self.pagemap, 8 * pages, (addr // PAGE) * 8)
        return struct.unpack(f"<{pages}Q", data)

    def flags(self, pfn: int) -> int:
        data = os.pread(self.kpageflags, 8, pfn * 8)
        return struct.unpack("<Q", data)[0] if len(data) == 8 else 0

    def observe(self, addr: int, pages: int, previous: tuple[int, ...] | None) -> tuple[tuple[PageObservation, ...], tuple[int, ...]]:
        """Observations of the range and its PFNs (0 = absent); identity is relative to `previous`."""
        observations: list[PageObservation] = []
        pfns: list[int] = []
        for i, entry in enumerate(self.entries(addr, pages)):
            if not entry & PM_PRESENT:
                observations.append(PageObservation(present=False))
                pfns.append(0)
                continue
            pfn = entry & PM_PFN_MASK
            kflags = self.flags(pfn)
            before = previous[i] if previous is not None else 0
            if not before:
                identity = "new"
            elif before == pfn:
                identity = "same"
            else:
                identity = "replaced"
            zero = bool(kflags & KPF_ZERO_PAGE)
            observations.append(PageObservation(
                present=True,
                zero=zero,
                anon=bool(kflags & KPF_ANON) and not zero,
                mapped_once=bool(entry & PM_MMAP_EXCLUSIVE),
                identity=identity,
            ))
            pfns.append(pfn)
        return tuple(observations), tuple(pfns)
