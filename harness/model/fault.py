"""Page faults, after mm/memory.c: handle_mm_fault() and the paths GUP depends on.

Returns VM_FAULT_* bits. Simplifications: no swap, no THP, no userfaultfd, no soft-dirty,
no KSM; a fault never returns VM_FAULT_RETRY (the mmap lock is never dropped).
"""

from __future__ import annotations

import enum

from .flags import FAULT_FLAG, VM, int_arithmetic
from .kernel import Kernel
from .memory import Folio
from .mm import MM, Pte, Vma, is_cow_mapping


class VM_FAULT(enum.IntFlag):
    OK = 0
    #: do_wp_page() broke COW or reused the page for a write (gone upstream in v6.0 with FOLL_COW)
    WRITE = 1 << 0
    SIGSEGV = 1 << 1
    SIGBUS = 1 << 2
    OOM = 1 << 3


int_arithmetic(VM_FAULT)
VM_FAULT_ERROR = VM_FAULT.SIGSEGV | VM_FAULT.SIGBUS | VM_FAULT.OOM


def handle_mm_fault(k: Kernel, mm: MM, vma: Vma, addr: int, flags: FAULT_FLAG) -> VM_FAULT:
    """Resolve a fault at addr. Permission checks are the caller's (the CPU or check_vma_flags)."""
    write = bool(flags & FAULT_FLAG.WRITE)
    unshare = bool(flags & FAULT_FLAG.UNSHARE)
    k.trace("fault", f"handle_mm_fault(page {addr}, {'WRITE' if write else 'UNSHARE' if unshare else 'READ'})")
    k.trace.depth += 1
    try:
        pte = mm.ptes.get(addr)
        if pte is None:
            if vma.backing == "pfnmap":
                return VM_FAULT.SIGBUS
            if vma.driver is not None:
                return do_driver_fault(k, mm, vma, addr, write)
            if vma.is_anonymous():
                return do_anonymous_page(k, mm, vma, addr, write)
            return do_fault(k, mm, vma, addr, write)
        if write or unshare:
            if not pte.write:
                return do_wp_page(k, mm, vma, addr, pte, unshare)
            if write:
                pte.dirty = True
        return VM_FAULT.OK
    finally:
        k.trace.depth -= 1


def do_driver_fault(k: Kernel, mm: MM, vma: Vma, addr: int, write: bool) -> VM_FAULT:
    """A VM_MIXEDMAP driver's vm_ops->fault: vmf_insert_page() of its own page for this
    offset, or vmf_insert_mixed() of a PFN without a struct page, which is a special PTE on
    x86 (pte_special), so vm_normal_page() returns NULL for it. The PTE takes vm_page_prot:
    writable in a shared writable mapping (driver mappings are shared in the model)."""
    assert vma.driver is not None
    index = vma.file_index(addr)
    writable = bool(vma.flags & VM.SHARED) and bool(vma.flags & VM.WRITE)
    folio = vma.driver.page(k.mem, index)
    if folio is None:
        mm.ptes[addr] = Pte(vma.driver.pfn(index), None, write=writable, dirty=write and writable, special=True)
        k.trace("map", f"page {addr}: driver inserts pfn {vma.driver.pfn(index)} without a struct page (special PTE)")
        return VM_FAULT.OK
    k.set_pte(mm, addr, folio, write=writable, dirty=write and writable, new_ref=True)
    k.trace("map", f"page {addr}: driver inserts its page pfn {folio.pfn} ({folio.migratetype})")
    return VM_FAULT.OK


def do_anonymous_page(k: Kernel, mm: MM, vma: Vma, addr: int, write: bool) -> VM_FAULT:
    if not write:
        # Read fault in a private anonymous mapping: map the shared zero page (special PTE).
        k.set_pte(mm, addr, k.mem.zero_page, write=False, dirty=False, new_ref=False)
        k.trace("map", f"page {addr}: read fault maps the zero page")
        return VM_FAULT.OK
    vma.anon_vma = True  # vmf_anon_prepare()
    folio = k.alloc(vma)
    folio.anon = True
    folio.anon_exclusive = True
    # Writable and dirty only if the VMA is writable (a FOLL_FORCE write on !VM_WRITE gets neither).
    writable = bool(vma.flags & VM.WRITE)
    k.set_pte(mm, addr, folio, write=writable, dirty=writable, new_ref=False)
    k.trace("map", f"page {addr}: new anon pfn {folio.pfn}{'' if writable else ' (read-only PTE)'}")
    return VM_FAULT.OK


def do_fault(k: Kernel, mm: MM, vma: Vma, addr: int, write: bool) -> VM_FAULT:
    """File and shmem faults: do_read_fault / do_cow_fault / do_shared_fault."""
    cache = k.pagecache_folio(vma, addr)
    if write and not (vma.flags & VM.SHARED):
        # do_cow_fault(): a private copy; finish_fault marks it dirty, writable only with VM_WRITE.
        folio = _new_anon_copy(k, vma, cache)
        k.set_pte(mm, addr, folio, write=bool(vma.flags & VM.WRITE), dirty=True, new_ref=False)
        k.trace("cow", f"page {addr}: private write copies {cache.mapping.name}[{cache.index}] into anon pfn {folio.pfn}"
                if cache.mapping else f"page {addr}: cow")
        return VM_FAULT.OK
    if write:
        # do_shared_fault(): page_mkwrite for files that need write-notify, then a writable dirty PTE.
        cache.dirty = True
        k.set_pte(mm, addr, cache, write=True, dirty=True, new_ref=True)
        k.trace("map", f"page {addr}: shared write maps pfn {cache.pfn} writable")
        return VM_FAULT.OK
    return do_read_fault(k, mm, vma, addr, cache)


#: fault_around_bytes (64 KiB by default, mm/memory.c) in pages
FAULT_AROUND_PAGES = 16
PTRS_PER_PTE = 512


def _read_fault_writable(vma: Vma) -> bool:
    """A read fault maps with vm_page_prot: writable for shared mappings without write-notify
    (shmem) when VM_WRITE; files needing writeback and private mappings map read-only."""
    return bool(vma.flags & VM.SHARED) and bool(vma.flags & VM.WRITE) and not (
        vma.file is not None and vma.file.needs_writeback)


def do_fault_around(k: Kernel, mm: MM, vma: Vma, addr: int) -> None:
    """filemap_map_pages() over fault_around_bytes from the aligned window start around addr:
    every page already in the page cache whose PTE is still none gets mapped, as a read fault
    would map it (8c6e50b0290c, v3.15). The window starts at the aligned address or the VMA
    start, whichever is later, and spans FAULT_AROUND_PAGES from there, clipped to the VMA and
    the page table (so it reaches past the aligned block when the VMA starts inside it)."""
    assert vma.file is not None
    first = max(addr - addr % FAULT_AROUND_PAGES, vma.start)
    last = min(first + FAULT_AROUND_PAGES, vma.end, addr - addr % PTRS_PER_PTE + PTRS_PER_PTE)
    mapped = []
    for around in range(first, last):
        if around in mm.ptes:
            continue
        folio = vma.file.pages.get(vma.file_index(around))
        if folio is None or folio.freed:
            continue  # not cached: only the faulting page is read in
        k.set_pte(mm, around, folio, write=_read_fault_writable(vma), dirty=False, new_ref=True)
        mapped.append(around)
    if mapped:
        k.trace("map", f"fault-around maps cached page(s) {', '.join(map(str, mapped))}")


def do_read_fault(k: Kernel, mm: MM, vma: Vma, addr: int, cache: Folio) -> VM_FAULT:
    """A read fault on a file or shmem mapping: fault around first (should_fault_around()),
    then map the faulting page if that did not."""
    do_fault_around(k, mm, vma, addr)
    if addr in mm.ptes:
        return VM_FAULT.OK
    writable = _read_fault_writable(vma)
    k.set_pte(mm, addr, cache, write=writable, dirty=False, new_ref=True)
    k.trace("map", f"page {addr}: read fault maps page cache pfn {cache.pfn}{' writable' if writable else ''}")
    return VM_FAULT.OK


def _new_anon_copy(k: Kernel, vma: Vma, source: Folio) -> Folio:
    vma.anon_vma = True  # do_cow_fault(): vmf_anon_prepare()
    folio = k.alloc(vma)
    folio.anon = True
    folio.anon_exclusive = True
    folio.data = source.data
    return folio


def wp_can_reuse_anon_folio(k: Kernel, folio: Folio) -> bool:
    """May a write (or unshare) fault keep this anon page instead of copying it?"""
    if k.has("anon_exclusive") and folio.anon_exclusive:
        return True
    if k.has("wp_reuse_refcount"):
        # 09854ba94c6a: reuse only if we hold the only reference. Since d4c470970d45 (v5.18)
        # a page not on the LRU makes the kernel drain the local LRU batch first, so the
        # batch's reference does not count (simplified: this folio's); before, it forces a copy.
        if folio.in_lru_batch and k.has("wp_drain_local_lru"):
            folio.in_lru_batch = False
            folio.lru = True
            k.mem.put(folio)
        if folio.refcount == 1 and k.uncontrolled_batches:
            # lru_add_drain() empties only this CPU's batches ("We cannot easily detect+handle
            # references from remote LRU caches", mm/memory.c, v6.18): the LRU-add batch of the CPU
            # that faulted the page in, or an activate batch a FOLL_TOUCH lookup queued it in, may
            # be another CPU's and still hold a reference. Which CPU ran what is not the
            # scenario's: both reuse and copy are the kernel's to pick.
            return k.choose("wp_can_reuse_anon_folio: another CPU's folio batch holds a reference", 2) == 0
        return folio.refcount == 1
    # Before v5.9, reuse_swap_page(): reuse when mapped once, however many references exist
    # (so a GUP reference does not stop reuse: CVE-2020-29374's other direction).
    return folio.mapcount == 1


def do_wp_page(k: Kernel, mm: MM, vma: Vma, addr: int, pte: Pte, unshare: bool) -> VM_FAULT:
    """Write-protect fault, or unshare fault (FAULT_FLAG_UNSHARE, v5.19+) on a present PTE."""
    folio = pte.folio
    if folio is None:
        # wp_pfn_shared(): a PFN-map PTE has no page to copy; the driver's memory is made
        # writable in place (simplified: also for private PFN maps, which may COW in the kernel).
        pte.write = bool(vma.flags & VM.WRITE)
        pte.dirty = True
        return VM_FAULT.WRITE if not unshare else VM_FAULT.OK
    if vma.flags & VM.SHARED and not unshare:
        # wp_page_shared(): page_mkwrite, then make the PTE writable and dirty.
        folio.dirty = True
        pte.write = bool(vma.flags & VM.WRITE)
        pte.dirty = True
        k.trace("map", f"page {addr}: shared write fault makes pfn {folio.pfn} writable")
        return VM_FAULT.WRITE
    if folio is not None and folio.anon:
        if unshare and folio.anon_exclusive:
            return VM_FAULT.OK  # nothing to unshare
        if wp_can_reuse_anon_folio(k, folio):
            folio.anon_exclusive = True
            if unshare:
                k.trace("unshare", f"page {addr}: pfn {folio.pfn} is ours alone, marked exclusive")
                return VM_FAULT.OK
            # wp_page_reuse(): maybe_mkwrite(pte_mkdirty())
            pte.dirty = True
            pte.write = bool(vma.flags & VM.WRITE)
            k.trace("reuse", f"page {addr}: write fault reuses anon pfn {folio.pfn}")
            return VM_FAULT.WRITE
    if unshare and folio is not None and not folio.anon and not (
            k.has("unshare_ro_longterm_cow") and is_cow_mapping(vma.flags)):
        return VM_FAULT.OK  # before 84209e87c696 only anon pages are unshared
    return wp_page_copy(k, mm, vma, addr, pte, unshare)


def wp_page_copy(k: Kernel, mm: MM, vma: Vma, addr: int, pte: Pte, unshare: bool) -> VM_FAULT:
    """Break COW: a new exclusive anon page replaces the old one in this PTE.

    An unshare copy stays read-only; a write copy is dirty and writable iff VM_WRITE."""
    old = pte.folio
    assert old is not None
    vma.anon_vma = True  # vmf_anon_prepare()
    new = k.alloc(vma)
    new.anon = True
    new.anon_exclusive = True
    new.data = old.data
    k.zap_pte(mm, addr)
    if unshare:
        k.set_pte(mm, addr, new, write=False, dirty=False, new_ref=False)
        k.trace("unshare", f"page {addr}: {_what(old)} replaced by exclusive anon pfn {new.pfn} (read-only)")
        return VM_FAULT.OK
    k.set_pte(mm, addr, new, write=bool(vma.flags & VM.WRITE), dirty=True, new_ref=False)
    k.trace("cow", f"page {addr}: {_what(old)} copied to anon pfn {new.pfn}")
    return VM_FAULT.WRITE


def _what(folio: Folio) -> str:
    if folio.is_zero:
        return "zero page"
    if folio.anon:
        return f"shared anon pfn {folio.pfn}"
    return f"page cache pfn {folio.pfn}"
