"""Repeated calls (Gup.repeat), added up arithmetically.

A refcount overflow needs 2**31 references (2**21 pins): one GUP call per reference would
take hours. Once a call has reached a steady state -- two repetitions in a row that change
nothing but refcounts, by the same amounts, and return the same pages -- the next one does
the same again, as long as no folio's count crosses a value at which the kernel decides
differently. Those values are few: GUP_PIN_COUNTING_BIAS (folio_maybe_dma_pinned), the sign
bit (the overflow guards of 8fde12ca79af) and zero (GUP-fast adds only to a non-zero count).
So the runner makes calls for real until the state is steady, adds as many repetitions as
fit below the nearest such value in one step, and makes the call that crosses it for real.

The decisions a call makes from a refcount are all monotonic in it (a count only grows
while repetitions pile up): "refcount == 1" (COW reuse), "refcount != expected" (migration)
flip at most once, and a flip changes the state's shape, which ends the steady state.
"""

from __future__ import annotations

import attrs

from .model.kernel import Kernel
from .model.memory import GUP_PIN_COUNTING_BIAS, REFCOUNT_BITS, Folio

#: the unsigned refcount values at which the kernel's behaviour changes (see module doc)
THRESHOLDS = (GUP_PIN_COUNTING_BIAS, 1 << (REFCOUNT_BITS - 1), 1 << REFCOUNT_BITS)
#: repetitions made for real before giving up on a steady state (a call that copies a new
#: page every time never reaches one)
MAX_REAL_REPETITIONS = 64


def shape(k: Kernel) -> tuple:
    """Everything the model's state holds except reference counts."""
    # list comprehensions, not generators: this runs twice per repetition of a repeated call
    folios = tuple([
        (f.pfn, f.mapcount, f.anon, f.anon_exclusive, f.lru, f.in_lru_batch, f.zone, f.migratetype, f.data,
         f.dirty, f.freed, f.mapping is not None)
        for f in k.mem.folios.values()
    ])
    ptes = tuple([
        (mm.pid, mm.has_pinned, addr, pte.pfn, pte.write, pte.dirty)
        for mm in k.mms.values() for addr, pte in sorted(mm.ptes.items())
    ])
    return folios, ptes


def refcounts(k: Kernel) -> dict[int, int]:
    return {f.pfn: f.refcount for f in k.mem.folios.values()}


@attrs.frozen
class Step:
    """What one repetition did: the pages it returned and how it changed each refcount."""

    pages: tuple[int, ...]
    deltas: tuple[tuple[int, int], ...]
    #: the repetition changed nothing but refcounts
    stable: bool
    #: shape(k) after the repetition (not compared): adding repetitions in bulk changes only
    #: refcounts, so it is also the shape before the next one, and the runner reuses it
    shape_after: tuple = attrs.field(default=(), eq=False, repr=False)

    @classmethod
    def between(cls, k: Kernel, shape_before: tuple, refs_before: dict[int, int], pages: list[Folio]) -> Step:
        after = refcounts(k)
        deltas = tuple(sorted((pfn, _unwrapped_delta(refs_before.get(pfn, 0), ref))
                              for pfn, ref in after.items() if ref != refs_before.get(pfn)))
        shape_after = shape(k)
        return cls(tuple(f.pfn for f in pages), deltas, shape_after == shape_before, shape_after)

    def repeats(self, previous: Step | None) -> bool:
        """Did this repetition do exactly what the previous one did, changing only counts?"""
        return (previous is not None and self.stable and previous.stable and self == previous
                and all(d > 0 for _pfn, d in self.deltas))

    def room(self, k: Kernel, limit: int) -> int:
        """How many more identical repetitions keep every count below its next threshold."""
        n = limit
        for pfn, delta in self.deltas:
            unsigned = k.mem.folios[pfn].refcount % (1 << REFCOUNT_BITS)
            threshold = next(t for t in THRESHOLDS if t > unsigned)
            n = min(n, (threshold - 1 - unsigned) // delta)
        return max(n, 0)

    def apply(self, k: Kernel, n: int) -> None:
        """Add n repetitions' worth of references in one step."""
        for pfn, delta in self.deltas:
            k.mem.folios[pfn].ref_add(n * delta)


def _unwrapped_delta(before: int, after: int) -> int:
    """The change of a 32-bit count, as the (small) number that was added."""
    delta = (after - before) % (1 << REFCOUNT_BITS)
    return delta - (1 << REFCOUNT_BITS) if delta >= 1 << (REFCOUNT_BITS - 1) else delta
