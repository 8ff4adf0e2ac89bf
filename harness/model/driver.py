"""A device driver's mapping of its own memory into user space (VM_MIXEDMAP).

A driver's mmap handler sets VM_MIXEDMAP and its vm_ops->fault inserts, page by page,
either a page it allocated itself (vmf_insert_page(): a normal PTE, the page referenced
and mapped like any other, but never on an LRU) or a PFN of memory that has no struct page
(vmf_insert_mixed(): a special PTE on architectures with pte_special, so vm_normal_page()
returns NULL for it). Drivers of this kind allocate with alloc_page(GFP_KERNEL) or
cma_alloc(); the latter is the case 1aaf8c122918 and 517f496e1e61 argue about.

Simplification: the driver allocates each page at its first fault and keeps it (and its
reference) for as long as the scenario runs; it never frees or replaces a page.
"""

from __future__ import annotations

import attrs

from .memory import Folio, PhysMem

#: per-page kinds in a scenario: `p` a page with a struct page, `s` memory without one
PAGE, SPECIAL = "p", "s"

#: PFNs of driver memory without a struct page start here (apart from the PFN-map range)
_SPECIAL_PFN_BASE = 2_000_000


@attrs.define(eq=False)
class Driver:
    name: str
    number: int
    #: one character per page offset (PAGE or SPECIAL)
    kinds: str
    #: where its pages come from: "normal" (alloc_page) or "cma" (cma_alloc)
    placement: str = "normal"
    pages: dict[int, Folio] = attrs.field(factory=dict)

    def kind(self, index: int) -> str:
        return self.kinds[index] if 0 <= index < len(self.kinds) else PAGE

    def page(self, mem: PhysMem, index: int) -> Folio | None:
        """The driver's page at `index` (allocated at first use), or None for memory
        without a struct page."""
        if self.kind(index) == SPECIAL:
            return None
        folio = self.pages.get(index)
        if folio is None:
            folio = mem.alloc_driver(self.placement)
            self.pages[index] = folio
        return folio

    def pfn(self, index: int) -> int:
        """The PFN a special PTE at `index` points to (device memory, no struct page)."""
        return _SPECIAL_PFN_BASE + self.number * 10_000 + index
