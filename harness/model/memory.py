"""Physical memory: folios, the shared zero page, an allocator over normal, movable and CMA
memory, LRU isolation and migration (mm/page_alloc.c, mm/swap.c, mm/migrate.c in outline).

Simplifications (deliberate):
- Every folio is order-0 (one 4 KiB page). Large folios keep an exact `_pincount`
  in the kernel (5232c63f46fd); the model keeps `pincount` for them but creates none.
- Page contents are one integer (`data`): enough to tell whose write a page holds.
- A new folio sits in a per-CPU LRU batch (holding one reference) until
  lru_add_drain_all() moves it onto the LRU, as folio_add_lru() does.
- Other CPUs' folio batches (mlock, activate, rotate) may also hold references to a folio
  that stays on its LRU (`batch_refs`); lru_add_drain_all() releases them too.
- A driver page (`driver`) is allocated by a driver (alloc_page() or cma_alloc()) and mapped
  with vm_insert_page()/vmf_insert_page(): the driver keeps one reference, and it is never
  put on an LRU, so it can never be isolated for migration.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from .bug import KernelBug

GUP_PIN_COUNTING_BIAS = 1024

#: page->_refcount is an atomic_t: a signed 32-bit integer that wraps (two's complement)
REFCOUNT_BITS = 32
REFCOUNT_MAX = (1 << (REFCOUNT_BITS - 1)) - 1  # INT_MAX: one more reference makes the count negative


def wrap_refcount(value: int) -> int:
    """What a 32-bit atomic_t holds after arithmetic that produced `value`."""
    value &= (1 << REFCOUNT_BITS) - 1
    return value - (1 << REFCOUNT_BITS) if value > REFCOUNT_MAX else value

ZONES = ("NORMAL", "MOVABLE")
MIGRATETYPES = ("UNMOVABLE", "MOVABLE", "CMA", "ISOLATE")


@attrs.define(eq=False)
class File:
    """An inode with its page cache. kind: 'shmem' (tmpfs, memfd, shared anon) or 'file' (ext4)."""

    name: str
    kind: str
    pages: dict[int, Folio] = attrs.field(factory=dict)
    #: contents on disk (or in swap-less shmem: none), by page index
    disk: dict[int, int] = attrs.field(factory=dict)

    @property
    def needs_writeback(self) -> bool:
        """Files on a writeback filesystem need write-notify (page_mkwrite) and writeback."""
        return self.kind == "file"


@attrs.define(eq=False)
class Folio:
    pfn: int
    zone: str = "NORMAL"
    migratetype: str = "MOVABLE"
    refcount: int = 1
    #: exact pin count of a large folio; order-0 folios count pins in refcount (+1024 each)
    pincount: int = 0
    mapcount: int = 0
    anon: bool = False
    anon_exclusive: bool = False
    lru: bool = False
    in_lru_batch: bool = False
    dirty: bool = False
    is_zero: bool = False
    large: bool = False
    mapping: File | None = None
    index: int = 0
    data: int = 0
    freed: bool = False
    #: allocated and owned by a driver (one reference is the driver's); never on an LRU
    driver: bool = False
    #: references held by other CPUs' folio batches while the folio stays on its LRU
    batch_refs: int = 0
    #: isolated from the LRU right now by a racing compaction or migration (which holds a reference)
    racing_isolation: bool = False

    def maybe_dma_pinned(self) -> bool:
        """folio_maybe_dma_pinned(): false positives possible, never false negatives.

        A small folio counts as pinned from GUP_PIN_COUNTING_BIAS references on, whoever
        holds them: 1024 FOLL_GET references look like a pin. The count is read as unsigned,
        so a refcount that overflowed into the sign bit still counts as pinned."""
        if self.large:
            return self.pincount > 0
        return self.refcount % (1 << REFCOUNT_BITS) >= GUP_PIN_COUNTING_BIAS

    def ref_add(self, refs: int) -> None:
        """folio_ref_add(): no check of its own; the count wraps like the kernel's atomic_t."""
        self.refcount = wrap_refcount(self.refcount + refs)

    def describe(self) -> str:
        if self.is_zero:
            kind = "zero page"
        elif self.anon:
            kind = "anon" + (" exclusive" if self.anon_exclusive else "")
        elif self.mapping is not None:
            kind = f"{self.mapping.kind} {self.mapping.name}[{self.index}]"
        elif self.driver:
            kind = "driver page"
        else:
            kind = "page"
        where = self.zone if self.migratetype != "CMA" else "CMA"
        if self.migratetype == "ISOLATE":
            where += "/ISOLATE"
        return f"pfn {self.pfn} ({kind}, {where}, ref {self.refcount}, map {self.mapcount})"


#: placement name (scenario) -> (zone, pageblock migratetype)
PLACEMENT = {
    "normal": ("NORMAL", "MOVABLE"),
    "movable": ("MOVABLE", "MOVABLE"),
    "cma": ("NORMAL", "CMA"),
    "isolate": ("NORMAL", "ISOLATE"),
}
#: where a driver's own pages come from: alloc_page(GFP_KERNEL) (unmovable) or cma_alloc()
DRIVER_PLACEMENT = {
    "normal": ("NORMAL", "UNMOVABLE"),
    "cma": ("NORMAL", "CMA"),
}


@attrs.define
class PhysMem:
    folios: dict[int, Folio] = attrs.field(factory=dict)
    next_pfn: int = 1
    zero_page: Folio = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # The shared zero page: reserved kernel memory, never on an LRU, never freed. Its
        # refcount starts at 1 in the model; only the change from there matters.
        self.zero_page = Folio(pfn=0, zone="NORMAL", migratetype="UNMOVABLE", refcount=1, is_zero=True)
        self.folios[0] = self.zero_page

    def alloc(self, placement: str = "normal") -> Folio:
        """Allocate an order-0 folio with one reference, into the LRU batch. Where a
        FOLL_LONGTERM scope keeps movable or CMA memory out, the caller says "normal"
        (Kernel.alloc; migration targets are always normal memory)."""
        zone, migratetype = PLACEMENT[placement]
        folio = Folio(pfn=self.next_pfn, zone=zone, migratetype=migratetype, in_lru_batch=True, refcount=2)
        # refcount 2: the caller's reference plus the LRU batch's
        self.next_pfn += 1
        self.folios[folio.pfn] = folio
        return folio

    def alloc_driver(self, placement: str = "normal") -> Folio:
        """A page a driver allocates for itself and keeps one reference to (never on an LRU)."""
        zone, migratetype = DRIVER_PLACEMENT[placement]
        folio = Folio(pfn=self.next_pfn, zone=zone, migratetype=migratetype, refcount=1, driver=True)
        self.next_pfn += 1
        self.folios[folio.pfn] = folio
        return folio

    def live(self) -> Iterator[Folio]:
        return (f for f in self.folios.values() if not f.freed)

    def put(self, folio: Folio, refs: int = 1) -> None:
        """folio_put_refs(): drop references; at zero the folio is freed."""
        if folio.refcount % (1 << REFCOUNT_BITS) < refs:
            # VM_BUG_ON_PAGE(page_ref_count(page) == 0) in put_page_testzero(): dropping these
            # references one by one would reach zero (freeing the folio) with more to drop.
            # A negative count is one that overflowed (see gup.try_grab_folio): read as
            # unsigned, it is far from zero, and dropping references wraps it back.
            raise KernelBug("folio_put_refs", f"refcount underflow on {folio.describe()}")
        folio.ref_add(-refs)
        if folio.refcount == 0 and not folio.is_zero:
            folio.freed = True
            folio.lru = False

    def lru_add_drain_all(self) -> int:
        """Move every batched folio onto the LRU, dropping the batch's reference; every other
        CPU's folio batch is processed too, dropping the references it held."""
        drained = 0
        for folio in list(self.live()):
            if folio.in_lru_batch:
                folio.in_lru_batch = False
                folio.lru = True
                self.put(folio)
                drained += 1
            if folio.batch_refs:
                refs, folio.batch_refs = folio.batch_refs, 0
                self.put(folio, refs)
                drained += 1
        return drained

    def isolate_lru(self, folio: Folio) -> bool:
        """folio_isolate_lru(): only a folio on the LRU can be isolated; takes a reference."""
        if not folio.lru or folio.freed:
            return False
        folio.lru = False
        folio.ref_add(1)
        return True

    def putback_lru(self, folio: Folio) -> None:
        folio.lru = True
        self.put(folio)
