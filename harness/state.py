"""A canonical fingerprint of the machine between two operations, for state de-duplication.

Two scenario prefixes that leave the machine in the same state (up to renaming physical pages,
page contents and the op numbers that hold pins) have the same futures: whatever op comes next
does the same thing after either. The explorer (harness/explore.py) visits each such state once.

Canonical renaming: pfns and content tokens are numbered in order of first appearance while
walking the processes' page tables, then the held pins, then the page caches; held pins are
listed in the order they were taken. The allocator's next pfn is left out on purpose: which
free pfn a new page gets changes no behaviour the model has.
"""

from __future__ import annotations

from collections.abc import Hashable

from .model.flags import FOLL
from .model.kernel import Kernel
from .model.memory import Folio


class _Renamer:
    def __init__(self) -> None:
        self.pfns: dict[int, int] = {}
        self.tokens: dict[int, int] = {0: 0}

    def pfn(self, folio: Folio | None) -> int:
        if folio is None:
            return -1
        if folio.is_zero:
            return 0
        return self.pfns.setdefault(folio.pfn, len(self.pfns) + 1)

    def token(self, value: int) -> int:
        return self.tokens.setdefault(value, len(self.tokens))


def fingerprint(k: Kernel, held: dict[int, list[Folio]], held_meta: dict[int, tuple[int, int, FOLL]],
                detached: set[tuple[int, int]], held_times: dict[int, list[int]] | None = None) -> Hashable:
    """`held_times`: how many repetitions of a repeated call each held page stands for."""
    names = _Renamer()
    processes = []
    for pid in sorted(k.mms):
        mm = k.mms[pid]
        vmas = tuple((v.start, v.end, int(v.flags), v.backing, v.file.name if v.file else "", v.pgoff, v.placement,
                      v.anon_vma) for v in mm.vmas)
        ptes = tuple((addr, names.pfn(pte.folio), pte.write, pte.dirty, pte.special)
                     for addr, pte in sorted(mm.ptes.items()))
        processes.append((pid, mm.exited, mm.has_pinned, vmas, ptes))
    pins = []
    for position, op in enumerate(sorted(held)):
        pid, first, flags = held_meta[op]
        times = (held_times or {}).get(op) or [1] * len(held[op])
        pins.append((position, pid, first, int(flags),
                     tuple((names.pfn(f), (op, i) in detached, n) for i, (f, n) in enumerate(zip(held[op], times)))))
    caches = []
    for file in k.files:
        caches.append((file.name, tuple((i, names.pfn(f)) for i, f in sorted(file.pages.items()) if not f.freed),
                       tuple((i, names.token(v)) for i, v in sorted(file.disk.items()))))
    by_pfn = {f.pfn: f for f in k.mem.live()}
    folios: list[tuple] = []
    for pfn, name in sorted(names.pfns.items(), key=lambda item: item[1]):
        f = by_pfn.get(pfn)
        if f is None:
            folios.append((name, "freed"))
            continue
        folios.append((name, f.refcount, f.pincount, f.mapcount, f.anon, f.anon_exclusive, f.lru, f.in_lru_batch,
                       f.dirty, f.zone, f.migratetype, names.token(f.data), f.mapping.name if f.mapping else ""))
    # pages nobody maps or holds any more still matter if something references them
    stray = sorted((f.refcount, f.anon, f.lru, f.in_lru_batch) for f in k.mem.live()
                   if f.pfn not in names.pfns and not f.is_zero)
    zero = k.mem.zero_page
    return (tuple(processes), tuple(pins), tuple(caches), tuple(folios), tuple(stray), zero.refcount,
            len(k.warnings))
