"""Address spaces: VMAs, a page table per mm, rmap, and the VMA operations
(mmap, munmap, mprotect, MADV_DONTNEED, fork).

Simplifications: one PTE level (no PMDs, THP or hugetlb); no swap; VMAs are never
split or merged beyond what mmap/munmap/mprotect do (vmops.vma_merge: same flags, same file at
contiguous offsets).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from .driver import Driver
from .flags import VM
from .memory import File, Folio


@attrs.define(eq=False)
class Vma:
    start: int
    end: int
    flags: VM
    #: 'anon', 'shmem', 'file', 'pfnmap' or 'mixedmap' (what backs the mapping, see harness.scenario)
    backing: str
    file: File | None = None
    #: page index in `file` of `start`
    pgoff: int = 0
    #: where new pages of this mapping are allocated (normal/movable/cma)
    placement: str = "normal"
    #: vma->anon_vma: set by the first anonymous page the VMA gets (anon_vma_prepare());
    #: never cleared by zapping, kept by splits and inherited at fork
    anon_vma: bool = False
    #: the driver behind a VM_MIXEDMAP mapping (its vm_ops->fault inserts the pages)
    driver: Driver | None = None

    def contains(self, addr: int) -> bool:
        return self.start <= addr < self.end

    def file_index(self, addr: int) -> int:
        return self.pgoff + (addr - self.start)

    def is_anonymous(self) -> bool:
        """vma_is_anonymous(): private anonymous memory (shared anon is shmem-backed)."""
        return self.backing == "anon" and not (self.flags & VM.SHARED) and self.file is None

    def copy(self, **changes: object) -> Vma:
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]


def is_cow_mapping(flags: VM) -> bool:
    """include/linux/mm.h: private and possibly writable, so writes go to a COW copy."""
    return bool(flags & VM.MAYWRITE) and not (flags & VM.SHARED)


@attrs.define(eq=False)
class Pte:
    pfn: int
    folio: Folio | None
    write: bool = False
    dirty: bool = False
    #: pte_special(): no struct page behind it (zero page, PFN maps)
    special: bool = False


@attrs.define(eq=False)
class MM:
    pid: int
    vmas: list[Vma] = attrs.field(factory=list)
    ptes: dict[int, Pte] = attrs.field(factory=dict)
    #: MMF_HAS_PINNED: set by any FOLL_PIN, never cleared
    has_pinned: bool = False
    exited: bool = False

    def find_vma(self, addr: int) -> Vma | None:
        """The VMA containing addr (the kernel's gup_vma_lookup without stack expansion)."""
        for vma in self.vmas:
            if vma.start <= addr < vma.end:  # vma.contains(addr), inlined: the model's hottest lookup
                return vma
        return None

    def vmas_in(self, start: int, end: int) -> Iterator[Vma]:
        for vma in list(self.vmas):
            if vma.start < end and start < vma.end:
                yield vma


def prot_to_vm(prot: str, shared: bool) -> VM:
    """mmap()'s vm_flags for a protection: VM_MAY* are always set for our mappings
    (files opened read-write), VM_SHARED|VM_MAYSHARE for MAP_SHARED."""
    flags = VM.MAYREAD | VM.MAYWRITE
    if "r" in prot:
        flags |= VM.READ
    if "w" in prot:
        flags |= VM.WRITE
    if shared:
        flags |= VM.SHARED | VM.MAYSHARE
    return flags
