"""get_user_pages, after mm/gup.c. Function names and control flow follow the kernel's;
behaviour that changed upstream is selected by the profile's switches (kernels.py).

A returned page list holds Folio objects (order-0 folios: page == folio).
Simplifications: no PMD/PUD levels, hugetlb, FS-DAX, device-coherent or P2PDMA memory; no
fatal signals. The mmap lock is dropped only notionally: the retry hook stands for the point
where a FOLL_UNLOCKABLE call lets other threads in (callers.may_drop_mmap_lock says which may).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from .budget import Livelock
from .bug import KernelBug
from .fault import VM_FAULT, VM_FAULT_ERROR, handle_mm_fault
from .flags import FAULT_FLAG, FOLL, INTERNAL_GUP_FLAGS, VM, Errno, errno_name, foll_names
from .kernel import Kernel
from .kernels import Profile
from .memory import GUP_PIN_COUNTING_BIAS, Folio
from .mm import MM, Pte, Vma, is_cow_mapping

EFAULT, ENOMEM, EINVAL, EAGAIN, EEXIST, EMLINK = (
    -Errno.EFAULT, -Errno.ENOMEM, -Errno.EINVAL, -Errno.EAGAIN, -Errno.EEXIST, -Errno.EMLINK)

@attrs.define(eq=False)
class NotAPage(Folio):
    """What a pages[] entry holds when __get_user_pages skipped it without filling it in:
    whatever the caller's array held before (v5.7..v5.17 FOLL_PIN on a special PTE, fixed by
    7196040e19ad). It is no page: it has no reference, and unpinning it leaves memory alone
    in the model (in the kernel it would corrupt whatever the stale pointer points to)."""

    pfn: int = -1
    refcount: int = 0
    freed: bool = True


#: A hook the runner installs to run scenario operations at GUP's retry point (after a
#: successful fault, before the page is looked up again): how a race becomes a scenario.
RetryHook = Callable[[], None]


# -- permission checks -----------------------------------------------------------------

def writable_file_mapping_allowed(k: Kernel, vma: Vma, gup_flags: FOLL) -> bool:
    """8ac268436e6d (v6.5): no long-term writable pins of shared file pages that need writeback."""
    if not k.has("no_longterm_write_writeback"):
        return True
    if (gup_flags & (FOLL.PIN | FOLL.LONGTERM)) != (FOLL.PIN | FOLL.LONGTERM):
        return True
    # vma_needs_dirty_tracking(): shared mappings of files with writeback (ext4, not shmem)
    needs_dirty_tracking = bool(vma.flags & VM.SHARED) and vma.file is not None and vma.file.needs_writeback
    return not needs_dirty_tracking


def check_vma_flags(k: Kernel, vma: Vma, gup_flags: FOLL) -> int:
    """May this GUP access this VMA at all? First failing rule wins, in the kernel's order."""
    vm_flags = vma.flags
    write = bool(gup_flags & FOLL.WRITE)
    vma_anon = vma.is_anonymous()
    if vm_flags & (VM.IO | VM.PFNMAP):
        return EFAULT
    if gup_flags & FOLL.ANON and not vma_anon:
        return EFAULT
    if write:
        if not vma_anon and not writable_file_mapping_allowed(k, vma, gup_flags):
            return EFAULT
        if not vm_flags & VM.WRITE:
            if not gup_flags & FOLL.FORCE:
                return EFAULT
            # a forced write may only break COW in a private mapping, never write a shared one
            if not is_cow_mapping(vm_flags):
                return EFAULT
    elif not vm_flags & VM.READ:
        if not gup_flags & FOLL.FORCE:
            return EFAULT
        if not vm_flags & VM.MAYREAD:
            return EFAULT
    return 0


def can_follow_write_pte(k: Kernel, pte: Pte, folio: Folio | None, vma: Vma, flags: FOLL) -> bool:
    """May a FOLL_WRITE lookup use this PTE, or must it fault first?"""
    if pte.write:
        return True
    if k.has("force_write_exclusive_anon"):
        # 5535be309971 (v6.0): only a forced write, only in a private !VM_WRITE mapping that
        # could be writable, and only onto a page that is exclusively ours.
        if not flags & FOLL.FORCE:
            return False
        if not is_cow_mapping(vma.flags) or vma.flags & VM.WRITE:
            return False
        return folio is not None and folio.anon and folio.anon_exclusive
    if k.has("foll_cow"):
        # 19be0eaffa3a (v4.9): GUP broke COW itself (FOLL_COW) and the PTE is dirty.
        # 17839856fd58 (v5.8) forced that break for every GET/PIN, without FOLL_FORCE.
        force_ok = bool(flags & FOLL.FORCE) or k.has("gup_cow_break")
        return force_ok and bool(flags & FOLL.COW) and pte.dirty
    # Before v4.9 FOLL_WRITE was dropped after the COW fault instead (see faultin_page).
    return False


def gup_must_unshare(k: Kernel, vma: Vma | None, flags: FOLL, folio: Folio) -> bool:
    """Must a R/O pin through a read-only PTE first get an exclusive page? (v5.19+)"""
    if not k.has("anon_exclusive"):
        return False
    if (flags & (FOLL.WRITE | FOLL.PIN)) != FOLL.PIN:
        return False  # only R/O pins; writes take the write-fault path
    if not folio.anon:
        if not k.has("unshare_ro_longterm_cow") or not flags & FOLL.LONGTERM:
            return False
        if vma is None:
            return True  # GUP-fast cannot tell the mapping type: fall back to the slow path
        return is_cow_mapping(vma.flags)  # 84209e87c696 (v6.2)
    return not folio.anon_exclusive


# -- references and pins ---------------------------------------------------------------

def try_grab_folio(k: Kernel, folio: Folio, flags: FOLL) -> int:
    """Take a FOLL_GET reference (+1) or a FOLL_PIN pin (+1024 on a small folio): the slow
    path's try_get_page()/try_grab_page()/try_grab_folio(), or get_page() before v5.1."""
    if folio.refcount <= 0 or folio.freed:
        # A count at zero (or a freed folio) cannot happen here: the slow path holds the PTL, so
        # the page is mapped and referenced; a negative count has overflowed past INT_MAX.
        overflowed = folio.refcount < 0 and not folio.freed
        if k.has("gup_refcount_overflow_guard"):
            # 8fde12ca79af (v5.1): WARN_ON_ONCE(refcount <= 0) and refuse: -ENOMEM. The test
            # looks at the sign before adding, so the grab that crosses INT_MAX is still taken
            # (the count goes negative) and the next one is refused: half the range of the
            # atomic_t is the safety margin before the count could wrap to zero.
            k.warn("try_grab_folio", f"refcount {folio.refcount} <= 0 on {_page_name(folio)}: reference "
                   "refused (-ENOMEM)", guard=overflowed)
            return ENOMEM
        # Before: get_page() took the reference unconditionally, under
        # VM_BUG_ON_PAGE(page_ref_count(page) <= 0). The model is a CONFIG_DEBUG_VM kernel, so
        # this is a BUG; without DEBUG_VM the count kept wrapping, through zero, to a page freed
        # while four billion references remain (CVE-2019-11487).
        raise KernelBug("get_page", f"refcount {folio.refcount} <= 0 on {folio.describe()}")
    if flags & FOLL.GET:
        folio.ref_add(1)
        k.trace("grab", f"FOLL_GET pfn {folio.pfn}: ref {folio.refcount}")
    elif flags & FOLL.PIN:
        if folio.is_zero and k.has("zero_page_pin_uncounted"):
            k.trace("grab", "FOLL_PIN on the zero page: not counted (c8070b787519)")
            return 0
        if folio.large:
            folio.ref_add(1)
            folio.pincount += 1
        else:
            folio.ref_add(GUP_PIN_COUNTING_BIAS)
        k.trace("grab", f"FOLL_PIN pfn {folio.pfn}: ref {folio.refcount}")
    return 0


def try_grab_folio_fast(k: Kernel, folio: Folio, flags: FOLL) -> bool:
    """GUP-fast's grab: try_get_compound_head() (v5.1), try_grab_folio_fast() today. The
    lockless walk may race with the last put, so it adds only to a non-zero count
    (folio_ref_try_add: add unless zero); False leaves the page to the slow path."""
    if k.has("gup_refcount_overflow_guard") and folio.refcount < 0:
        # 8fde12ca79af: WARN_ON_ONCE(refcount < 0), fail; the slow path then refuses too
        k.warn("try_grab_folio_fast", f"refcount {folio.refcount} < 0 on {_page_name(folio)}: left to the slow path",
               guard=True)
        return False
    if folio.refcount == 0:
        # Before v5.1 page_cache_get_speculative() had only this test: a negative count was
        # incremented on, towards zero
        return False
    if flags & FOLL.PIN and folio.is_zero and k.has("zero_page_pin_uncounted"):
        return True
    if flags & FOLL.PIN and not folio.large:
        folio.ref_add(GUP_PIN_COUNTING_BIAS)  # +1, then +1023 after the longterm check
    else:
        folio.ref_add(1)
        if flags & FOLL.PIN:
            folio.pincount += 1
    return True


def gup_put_folio(k: Kernel, folio: Folio, flags: FOLL, times: int = 1) -> None:
    """Undo try_grab_folio(), `times` times at once (gup_put_folio(folio, refs, flags))."""
    if isinstance(folio, NotAPage):
        k.trace("unpin", "put/unpin of an entry that is not a page: undefined in the kernel, ignored by the model")
        return
    refs = times
    if flags & FOLL.PIN:
        if folio.is_zero and k.has("zero_page_pin_uncounted"):
            return
        if folio.large:
            folio.pincount -= times
        else:
            refs = times * GUP_PIN_COUNTING_BIAS
    k.mem.put(folio, refs)
    k.trace("unpin" if flags & FOLL.PIN else "put", f"pfn {folio.pfn}: ref {folio.refcount}")


def sanity_check_pinned_pages(k: Kernel, pages: list[Folio | None]) -> None:
    """CONFIG_DEBUG_VM (b6a2619c60b4, with PG_anon_exclusive in v5.19): an anonymous page
    that is pinned, or being unpinned, must be PG_anon_exclusive; anything else means the pin
    semantics broke. (2025 kernels turned the VM_BUG_ON into a VM_WARN_ON_ONCE.)"""
    if not k.has("anon_exclusive"):
        return
    for folio in pages:
        if folio is None or folio.is_zero or not folio.anon:
            continue
        if not folio.anon_exclusive:
            raise KernelBug("sanity_check_pinned_pages", f"pinned anon page not exclusive: {folio.describe()}")


def unpin_user_pages(k: Kernel, pages: list[Folio | None]) -> None:
    sanity_check_pinned_pages(k, pages)
    for folio in pages:
        if folio is not None:  # unpin_user_pages() skips NULL entries
            gup_put_folio(k, folio, FOLL.PIN)


def put_pages(k: Kernel, pages: list[Folio | None]) -> None:
    for folio in pages:
        if folio is not None:
            gup_put_folio(k, folio, FOLL.GET)


# -- the slow path -----------------------------------------------------------------------

def follow_page_pte(k: Kernel, mm: MM, vma: Vma, addr: int, flags: FOLL) -> Folio | int | None:
    """Look up the page at addr without faulting. None: fault it in; -EMLINK: unshare first."""
    pte = mm.ptes.get(addr)
    if pte is None:
        return None
    folio = pte.folio
    if flags & FOLL.WRITE and not can_follow_write_pte(k, pte, folio, vma, flags):
        k.trace("follow", f"page {addr}: PTE not writable for this write: fault")
        return None
    if folio is None:
        # vm_normal_page() is NULL: a special PTE without a struct page (a PFN map, or a
        # VM_MIXEDMAP driver's vmf_insert_mixed()); the zero page is handled as a page.
        return follow_pfn_pte(k, pte, flags)
    if not pte.write and gup_must_unshare(k, vma, flags, folio):
        k.trace("follow", f"page {addr}: R/O pin of {'zero page' if folio.is_zero else f'pfn {folio.pfn}'} must unshare")
        return EMLINK
    if flags & FOLL.PIN:
        sanity_check_pinned_pages(k, [folio])  # VM_BUG_ON_PAGE in follow_page_pte (b6a2619c60b4)
    ret = try_grab_folio(k, folio, flags)
    if ret:
        return ret
    if flags & FOLL.TOUCH and flags & FOLL.WRITE and not folio.is_zero:
        folio.dirty = True
    return folio


def follow_pfn_pte(k: Kernel, pte: Pte, flags: FOLL) -> int:
    """A present PTE with no struct page behind it: there is no page to take a reference on.
    Since 65462462ffb2 (v5.18) always -EEXIST (__get_user_pages fails it when it has a pages
    array); before, -EFAULT for FOLL_GET, and since 7196040e19ad (v5.18) for FOLL_PIN too.
    Before that fix a FOLL_PIN got -EEXIST, which __get_user_pages skipped as done (FOLL_TOUCH
    only sets the accessed/dirty bits, which the model does not keep for special PTEs)."""
    if not k.has("special_pte_eexist"):
        refused = FOLL.GET | (FOLL.PIN if k.has("pin_special_pte_refused") else FOLL(0))
        if flags & refused:
            k.trace("follow", f"pfn {pte.pfn} has no struct page: -EFAULT")
            return EFAULT
    k.trace("follow", f"pfn {pte.pfn} has no struct page: -EEXIST")
    return EEXIST


def faultin_page(k: Kernel, mm: MM, vma: Vma, addr: int, flags: FOLL, unshare: bool) -> tuple[int, FOLL]:
    """Fault the page in for GUP. Returns (0 or -errno, the possibly updated flags)."""
    if flags & FOLL.NOFAULT:
        return EFAULT, flags
    fault_flags = FAULT_FLAG(0)
    if flags & FOLL.WRITE:
        fault_flags |= FAULT_FLAG.WRITE
    if flags & FOLL.REMOTE:
        fault_flags |= FAULT_FLAG.REMOTE
    if unshare:
        fault_flags |= FAULT_FLAG.UNSHARE
    ret = handle_mm_fault(k, mm, vma, addr, fault_flags)
    if ret & VM_FAULT_ERROR:
        return (ENOMEM if ret & VM_FAULT.OOM else EFAULT), flags
    if ret & VM_FAULT.WRITE and not vma.flags & VM.WRITE and not k.has("force_write_exclusive_anon"):
        if k.has("foll_cow"):
            # 19be0eaffa3a: remember that we broke COW, so the dirty read-only PTE may be used
            flags |= FOLL.COW
        else:
            # Before v4.9: retry as a read. A racing MADV_DONTNEED then lets the "write" find
            # the page-cache (or zero) page: Dirty COW, CVE-2016-5195.
            flags &= ~FOLL.WRITE
    return 0, flags


def __get_user_pages(k: Kernel, mm: MM, start: int, nr_pages: int, gup_flags: FOLL,
                     pages: list[Folio] | None, retry_hook: RetryHook | None = None) -> int:
    """Walk the range page by page, faulting as needed. Returns pages done if any, else -errno."""
    i = 0
    vma: Vma | None = None
    ret = 0
    addr = start
    hook = retry_hook
    while nr_pages:
        if vma is None or not vma.contains(addr):
            vma = mm.find_vma(addr)
            if vma is None:
                k.trace("vma", f"page {addr}: no VMA")
                # FOLL_MADV_POPULATE: madvise reports a hole as -ENOMEM
                ret = ENOMEM if gup_flags & FOLL.MADV_POPULATE else EFAULT
                break
            ret = check_vma_flags(k, vma, gup_flags)
            if ret:
                k.trace("vma", f"check_vma_flags({_vma_name(vma)}, {foll_names(gup_flags)}) = {_err(ret)}")
                if gup_flags & FOLL.MADV_POPULATE:
                    ret = EINVAL  # incompatible mapping or permissions
                break
        foll_flags = gup_flags
        if k.has("gup_cow_break") and is_cow_mapping(vma.flags) and foll_flags & (FOLL.GET | FOLL.PIN):
            foll_flags |= FOLL.WRITE  # 17839856fd58: break COW before taking the reference
        retries = 0
        while True:  # the kernel's "retry:" label
            retries += 1
            if k.budget.limit is not None and retries > k.budget.limit:
                raise Livelock("__get_user_pages", retries, f"page {addr} still not resolved after {retries} "
                               "fault/follow rounds", k.trace.events[-6:], k.describe_folios())
            page = follow_page_pte(k, mm, vma, addr, foll_flags)
            if page is None or page == EMLINK:
                ret, foll_flags = faultin_page(k, mm, vma, addr, foll_flags, unshare=page == EMLINK)
                if ret == 0:
                    if hook is not None:
                        run_races, hook = hook, None
                        k.trace("race", "interleaved operations run at GUP's retry point")
                        run_races()
                        # The lock was (notionally) dropped: look the VMA up and check it again.
                        vma = mm.find_vma(addr)
                        if vma is None:
                            ret = EFAULT
                            break
                        ret = check_vma_flags(k, vma, gup_flags)
                        if ret:
                            break
                    continue
                break
            if page == EEXIST:
                # "Proper page table entry exists, but no corresponding struct page"
                ret = 0
                if pages is not None and k.has("special_pte_eexist"):
                    ret = EEXIST  # 65462462ffb2: no page to fill in, so fail here
                elif pages is not None:
                    # before 65462462ffb2: skipped as done, pages[i] left unset (v5.7..v5.17
                    # FOLL_PIN; FOLL_GET got -EFAULT from follow_pfn_pte instead)
                    k.trace("follow", f"page {addr}: skipped and counted; pages[] entry left unset")
                    pages.append(NotAPage())
                break
            if isinstance(page, int):
                ret = page
                break
            if pages is not None:
                pages.append(page)
            ret = 0
            break
        if ret:
            break
        i += 1
        addr += 1
        nr_pages -= 1
    return i if i else ret


def __get_user_pages_locked(k: Kernel, mm: MM, start: int, nr_pages: int, pages: list[Folio] | None,
                            flags: FOLL, retry_hook: RetryHook | None = None) -> int:
    if flags & FOLL.PIN:
        mm.has_pinned = True  # MMF_HAS_PINNED, sticky
    if pages is not None and not flags & FOLL.PIN:
        flags |= FOLL.GET
    return __get_user_pages(k, mm, start, nr_pages, flags, pages, retry_hook)


# -- long-term pinning ---------------------------------------------------------------------

def folio_is_longterm_pinnable(k: Kernel, folio: Folio) -> bool:
    """is_pinnable_page() / folio_is_longterm_pinnable(), as the profile has it."""
    if not k.has("longterm_migrate_movable"):
        return folio.migratetype != "CMA"  # before v5.13 only CMA pages were migrated away
    if k.has("zero_page_unpinnable"):
        # 1c563432588d (v5.19-rc1) and again f25cbb7a95a2 (v6.0-rc1): the zero-page test sits
        # inside the negation, so the zero page counts as NOT pinnable.
        if folio.migratetype in ("CMA", "ISOLATE"):
            return False
        return not (folio.zone == "MOVABLE" or folio.is_zero)
    if k.has("pinnable_pageblock_cma"):
        # 1c563432588d + 034e5afad921: the pageblock test comes before the zero-page exemption
        if folio.migratetype in ("CMA", "ISOLATE"):
            return False
        return folio.zone != "MOVABLE" or folio.is_zero
    # v5.13 (9afaf30f7a1a): the zero page is always pinnable
    return not (folio.zone == "MOVABLE" or folio.migratetype == "CMA") or folio.is_zero


def _drop_all(k: Kernel, pages: list[Folio], gup_flags: FOLL) -> None:
    for folio in pages:
        gup_put_folio(k, folio, FOLL.PIN if gup_flags & FOLL.PIN else FOLL.GET)


def migrate_pages(k: Kernel, folios: list[Folio]) -> int:
    """Migrate isolated folios to normal, non-CMA memory. Returns how many did not migrate.

    A folio migrates only if nobody but its mappings, the page cache and the isolation holds
    a reference (folio_migrate_mapping's refcount check); the rest are put back."""
    failed = 0
    for old in folios:
        expected = old.mapcount + (1 if old.mapping is not None else 0) + 1
        if old.refcount != expected:
            failed += 1
            k.migration_failures += 1
            k.trace("migrate", f"pfn {old.pfn}: ref {old.refcount} != expected {expected}: migration fails")
            k.mem.putback_lru(old)
            continue
        # new_non_cma_page() (v5.2) dropped __GFP_MOVABLE; simplified: always normal memory, though
        # v5.9..v5.12's alloc_migration_target() kept __GFP_MOVABLE and could pick ZONE_MOVABLE
        new = k.mem.alloc("normal")
        new.in_lru_batch = False
        new.lru = True
        new.refcount = old.refcount - 1  # the isolation reference is not carried over
        new.mapcount, new.anon, new.anon_exclusive = old.mapcount, old.anon, old.anon_exclusive
        new.dirty, new.data, new.mapping, new.index = old.dirty, old.data, old.mapping, old.index
        for _mm, _addr, pte in list(k.rmap(old)):
            pte.folio, pte.pfn = new, new.pfn
        if old.mapping is not None:
            old.mapping.pages[old.index] = new
        old.refcount = 0
        old.freed = True
        old.lru = False
        old.mapcount = 0
        k.trace("migrate", f"pfn {old.pfn} ({old.zone}/{old.migratetype}) -> pfn {new.pfn} (NORMAL)")
    return failed


def check_and_migrate_movable_pages(k: Kernel, pages: list[Folio], gup_flags: FOLL) -> int:
    """v5.13..v6.0: the page count if every page is pinnable (pins kept); otherwise drop all
    pins, migrate what could be isolated, and return 0 (retry), -ENOMEM or the migration error."""
    isolation_error_count = 0
    drain_allow = True
    movable: list[Folio] = []
    seen: set[int] = set()
    for folio in pages:
        if folio.pfn in seen:
            continue  # one visit per folio
        seen.add(folio.pfn)
        if folio_is_longterm_pinnable(k, folio):
            continue
        if _needs_drain(k, folio) and drain_allow:
            k.trace("drain", "lru_add_drain_all()")
            k.mem.lru_add_drain_all()
            drain_allow = False
        if k.mem.isolate_lru(folio):
            k.trace("isolate", f"pfn {folio.pfn} isolated from the LRU")
            movable.append(folio)
        else:
            isolation_error_count += 1
            k.migration_failures += 1
            k.trace("isolate", f"{_page_name(folio)} is not pinnable and cannot be isolated (not on an LRU)")
    if not movable and not isolation_error_count:
        return len(pages)
    k.trace("unpin", f"dropping all {len(pages)} pins")
    _drop_all(k, pages, gup_flags)
    ret = 0
    if movable:
        ret = migrate_pages(k, movable)
    return ENOMEM if ret > 0 else ret


def collect_longterm_unpinnable_folios(k: Kernel, pages: list[Folio]) -> tuple[int, list[Folio]]:
    """v6.1+: count the unpinnable folios and isolate those that can be isolated."""
    collected = 0
    drain_allow = True
    isolated: list[Folio] = []
    seen: set[int] = set()
    for folio in pages:
        if folio.pfn in seen:
            continue
        seen.add(folio.pfn)
        if folio_is_longterm_pinnable(k, folio):
            continue
        collected += 1
        if _needs_drain(k, folio) and drain_allow:
            k.trace("drain", "lru_add_drain_all()")
            k.mem.lru_add_drain_all()
            drain_allow = False
        if k.mem.isolate_lru(folio):
            k.trace("isolate", f"pfn {folio.pfn} isolated from the LRU")
            isolated.append(folio)
        else:
            k.migration_failures += 1
            k.trace("isolate", f"{_page_name(folio)} is not pinnable and cannot be isolated (not on an LRU)")
    return collected, isolated


def migrate_longterm_unpinnable_folios(k: Kernel, pages: list[Folio], isolated: list[Folio]) -> int:
    """v6.1+: drop every pin, migrate the isolated folios; -EAGAIN asks the caller to re-pin."""
    k.trace("unpin", f"dropping all {len(pages)} pins")
    unpin_user_pages(k, list(pages))
    if isolated and migrate_pages(k, isolated):
        return ENOMEM
    return EAGAIN


def check_and_migrate_movable_folios(k: Kernel, pages: list[Folio]) -> int:
    if k.has("folio_array_enomem_leak") and not k.kmalloc("the folio array"):
        # 53ba78de064b (v6.11): check_and_migrate_movable_pages() kmallocs an array of the
        # pinned pages' folios; when that fails it returns -ENOMEM with every pin still held,
        # and __gup_longterm_locked() passes the error up: the caller never learns of the pins.
        # Plugged in v6.12-rc6 ("mm/gup: stop leaking pinned pages in low memory conditions")
        # and the allocation removed by 94efde1d1539 (v6.12; 6.11.y took only the latter)
        return ENOMEM
    collected, isolated = collect_longterm_unpinnable_folios(k, pages)
    if k.has("collect_isolated_only"):
        # 1aaf8c122918 (v6.14): only what was isolated counts, so an unpinnable folio that is
        # off the LRU (a driver's page, or one isolated by someone else right now) stays pinned
        if not isolated:
            return 0
    elif not collected:
        return 0
    return migrate_longterm_unpinnable_folios(k, pages, isolated)


def folio_expected_ref_count(folio: Folio) -> int:
    """References mappings and the page cache explain (86ebd50224c0; the model has no
    swapcache or PG_private): not the caller's own, nor any batch's, nor a driver's."""
    in_cache = folio.mapping is not None and not folio.anon
    return folio.mapcount + int(in_cache)


def _needs_drain(k: Kernel, folio: Folio) -> bool:
    """Is an lru_add_drain_all() worth it before isolating this unpinnable folio?"""
    if k.has("drain_on_refcount"):
        # 98c6d259319e (v6.17): whenever more references exist than the mappings, the page
        # cache and our one pin explain (a pin adds 1024 to a small folio, so in practice
        # always: "some more false positives than before")
        return folio.refcount != folio_expected_ref_count(folio) + 1
    # before: only when the folio is off the LRU, which misses batches that hold a reference
    # while the LRU flag stays set (the mlock batch since 2fbb0c10d1e8)
    return not folio.lru


def start_racing_isolations(k: Kernel) -> list[Folio]:
    """A racing migration isolates the folios the scenario names, each holding one
    reference, just before the long-term check looks at them. It drains every LRU batch
    first, as alloc_contig_range() does (lru_cache_disable()); the zero page and driver
    pages are never on an LRU and are not taken."""
    taken = []
    if k.racing_isolations:
        k.mem.lru_add_drain_all()
    for mm, addr in k.racing_isolations:
        pte = mm.ptes.get(addr)
        folio = pte.folio if pte is not None else None
        if folio is not None and not folio.racing_isolation and k.mem.isolate_lru(folio):
            folio.racing_isolation = True
            taken.append(folio)
            k.trace("race", f"pfn {folio.pfn} isolated from the LRU by a racing migration")
    k.racing_isolations = []
    return taken


def end_racing_isolations(k: Kernel, taken: list[Folio]) -> None:
    """The racing migration failed (our pins were counted) or gave up: put the folios back."""
    for folio in taken:
        folio.racing_isolation = False
        k.mem.putback_lru(folio)
        k.trace("race", f"pfn {folio.pfn} put back on the LRU by the racing migration")


def __gup_longterm_locked(k: Kernel, mm: MM, start: int, nr_pages: int, pages: list[Folio] | None,
                          gup_flags: FOLL, retry_hook: RetryHook | None = None) -> int:
    if not gup_flags & FOLL.LONGTERM or pages is None:
        return __get_user_pages_locked(k, mm, start, nr_pages, pages, gup_flags, retry_hook)
    if not k.has("longterm_migrate_movable"):
        return _gup_longterm_cma_only(k, mm, start, nr_pages, pages, gup_flags, retry_hook)
    k.calls += 1
    call = k.calls
    previous = k.memalloc_pin
    k.memalloc_pin = True  # memalloc_pin_save(): no movable/CMA allocations while pinning
    try:
        rounds = 0
        last_round: list = []
        while True:
            rounds += 1
            # The state at the head of each round decides everything the round does.
            k.budget.round("__gup_longterm_locked", call, rounds, k.fingerprint, k.describe_folios, last_round)
            mark = k.trace.mark()
            k.trace("round", f"__gup_longterm_locked round {rounds}")
            del pages[:]
            nr_pinned = __get_user_pages_locked(k, mm, start, nr_pages, pages, gup_flags, retry_hook)
            retry_hook = None  # interleaved operations run once per call
            if nr_pinned <= 0:
                return nr_pinned
            racing = start_racing_isolations(k)
            try:
                rc = (check_and_migrate_movable_folios(k, pages) if k.has("longterm_eagain")
                      else check_and_migrate_movable_pages(k, pages, gup_flags))
            finally:
                end_racing_isolations(k, racing)
            if k.has("longterm_eagain"):
                if rc == EAGAIN:
                    k.trace("round", "-EAGAIN: retry the whole range")
                    last_round = k.trace.since(mark)
                    continue
                if rc:
                    del pages[:]
                    return rc
                return nr_pinned
            if rc == 0:
                k.trace("round", "check_and_migrate_movable_pages returned 0: retry the whole range")
                last_round = k.trace.since(mark)
                continue
            if rc < 0:
                del pages[:]
            return rc
    finally:
        k.memalloc_pin = previous


def _gup_longterm_cma_only(k: Kernel, mm: MM, start: int, nr_pages: int, pages: list[Folio],
                           gup_flags: FOLL, retry_hook: RetryHook | None) -> int:
    """v5.2..v5.12 check_and_migrate_cma_pages(): while every isolated CMA page migrates, drop
    all references, re-GUP the range and check again ("check_again"); once a migration fails,
    put the rest back and GUP once more without migrating (those pages stay pinned in CMA).
    Pages that cannot be isolated stay pinned. Migration targets come from new_non_cma_page()
    (never CMA or ZONE_MOVABLE; the model's migrate_pages() always allocates normal memory).
    Simplified: the whole call runs under memalloc_nocma_save(), which v5.7..v5.9 restored
    before the check (a re-GUP fault there could allocate from CMA again)."""
    if not k.kmalloc("the vmas array"):
        # a caller without a vmas array gets one kcalloc'ed for the FS-DAX check, before
        # anything is pinned (until 52650c8b466b, v5.11, moved that check to the VMA walk)
        return ENOMEM
    previous = k.memalloc_pin
    k.memalloc_pin = True
    try:
        nr = __get_user_pages_locked(k, mm, start, nr_pages, pages, gup_flags, retry_hook)
        if nr <= 0:
            return nr
        migrate_allow = True
        rounds = 0
        while True:
            rounds += 1
            if k.budget.limit is not None and rounds > k.budget.limit:
                raise Livelock("check_and_migrate_cma_pages", rounds, "CMA pages keep coming back",
                               k.trace.events[-6:], k.describe_folios())
            movable: list[Folio] = []
            drain_allow = True
            # a racing migration holds folios off the LRU during the first check only
            racing = start_racing_isolations(k) if rounds == 1 else []
            for folio in dict.fromkeys(pages):
                if folio_is_longterm_pinnable(k, folio):
                    continue
                if not folio.lru and drain_allow:
                    k.trace("drain", "lru_add_drain_all()")
                    k.mem.lru_add_drain_all()
                    drain_allow = False
                if k.mem.isolate_lru(folio):
                    k.trace("isolate", f"pfn {folio.pfn} isolated from the LRU")
                    movable.append(folio)
            end_racing_isolations(k, racing)
            if not movable:
                return nr
            k.trace("unpin", f"dropping all {len(pages)} references")
            _drop_all(k, pages, gup_flags)
            if migrate_pages(k, movable):
                migrate_allow = False  # "Do get_user_pages without migration"
            del pages[:]
            nr = __get_user_pages_locked(k, mm, start, nr, pages, gup_flags)
            if nr <= 0 or not migrate_allow:
                return nr
    finally:
        k.memalloc_pin = previous


# -- GUP-fast ---------------------------------------------------------------------------------

def gup_fast(k: Kernel, mm: MM, start: int, nr_pages: int, gup_flags: FOLL, pages: list[Folio]) -> int:
    """The lockless walk: take a prefix of present, permitted PTEs; the slow path does the rest."""
    nr = 0
    if k.has("gup_cow_break") and gup_flags & (FOLL.GET | FOLL.PIN):
        gup_flags |= FOLL.WRITE  # 17839856fd58: only already-writable PTEs are safe to take locklessly
    for addr in range(start, start + nr_pages):
        pte = mm.ptes.get(addr)
        if pte is None or pte.special or pte.folio is None:
            break  # not present, or special (the zero page is special on x86)
        if gup_flags & FOLL.WRITE and not pte.write:
            break
        folio = pte.folio
        vma = mm.find_vma(addr)
        if vma is not None and not vma.flags & VM.READ:
            # mprotect(PROT_NONE) leaves PAGE_NONE PTEs: pte_protnone(), never followed by
            # GUP-fast (nor permitted by pte_access_permitted()); the slow path decides
            break
        if gup_flags & FOLL.LONGTERM and not folio_is_longterm_pinnable(k, folio):
            if gup_flags & FOLL.PIN or not k.has("fast_longterm_get_cma"):
                break  # left to the slow path, which migrates it out
            # 7af75561e171 (v5.2) let FOLL_LONGTERM into GUP-fast with a test for device pages
            # only; df3a0a21b698 (v5.7) added the CMA test in try_grab_compound_head() for
            # FOLL_PIN alone. A FOLL_GET|FOLL_LONGTERM walk takes the CMA page as it is, until
            # 447f3e45c18a (v5.10) refuses that flag mix in get_user_pages_fast()
            k.trace("fast", f"FOLL_GET|FOLL_LONGTERM takes CMA pfn {folio.pfn} locklessly: no CMA test for FOLL_GET")
        if gup_flags & FOLL.LONGTERM and gup_flags & FOLL.WRITE and k.has("no_longterm_write_writeback"):
            # a6e79df92e4a: GUP-fast checks the folio's mapping instead
            if vma is not None and not writable_file_mapping_allowed(k, vma, gup_flags | FOLL.PIN):
                break
        if not pte.write and gup_must_unshare(k, None, gup_flags, folio):
            break
        if folio.freed:
            break  # folio_try_get(): a page being freed under us is skipped, no splat
        if not try_grab_folio_fast(k, folio, gup_flags):
            break
        pages.append(folio)
        nr += 1
    if nr:
        k.trace("fast", f"GUP-fast took {nr} page(s)")
    return nr


# -- entry points -------------------------------------------------------------------------------

def is_valid_gup_args(k: Kernel, gup_flags: FOLL, to_set: FOLL) -> FOLL | None:
    """Refuse flag mixes a caller must not pass; return the effective flags, or None."""
    # v6.3+ is_valid_gup_args(); older kernels refused the same mixes with WARN + -EINVAL
    # in each entry point (simplified: one rule set for every profile). FOLL_LONGTERM without
    # FOLL_PIN: is_valid_gup_flags() in get_user_pages{,_remote,_fast}() since 447f3e45c18a (v5.10).
    if gup_flags & INTERNAL_GUP_FLAGS:
        return None
    gup_flags |= to_set
    if (gup_flags & (FOLL.PIN | FOLL.GET)) == (FOLL.PIN | FOLL.GET):
        return None
    if gup_flags & FOLL.LONGTERM and not gup_flags & FOLL.PIN and k.has("longterm_requires_pin"):
        return None
    return gup_flags


def get_user_pages(k: Kernel, mm: MM, start: int, nr_pages: int, gup_flags: FOLL, pages: list[Folio],
                   retry_hook: RetryHook | None = None, *, remote: bool = False) -> int:
    flags = is_valid_gup_args(k, gup_flags, FOLL.TOUCH | (FOLL.REMOTE if remote else FOLL(0)))
    if flags is None:
        return EINVAL
    return __gup_longterm_locked(k, mm, start, nr_pages, pages, flags, retry_hook)


def pin_user_pages(k: Kernel, mm: MM, start: int, nr_pages: int, gup_flags: FOLL, pages: list[Folio],
                   retry_hook: RetryHook | None = None, *, remote: bool = False) -> int:
    flags = is_valid_gup_args(k, gup_flags, FOLL.PIN | FOLL.TOUCH | (FOLL.REMOTE if remote else FOLL(0)))
    if flags is None:
        # d64e2dbc33a1 (v6.3): the pin_user_pages*() slow APIs return 0 for refused arguments
        return 0 if k.has("valid_gup_args") else EINVAL
    return __gup_longterm_locked(k, mm, start, nr_pages, pages, flags, retry_hook)


def gup_fast_fallback(k: Kernel, mm: MM, start: int, nr_pages: int, gup_flags: FOLL, pages: list[Folio],
                      retry_hook: RetryHook | None = None) -> int:
    """get_user_pages_fast()/pin_user_pages_fast(): fast prefix, then the slow path for the rest."""
    if gup_flags & FOLL.PIN:
        # 008cfe4418b3 (v5.9): internal_get_user_pages_fast() sets mm->has_pinned before the
        # lockless walk (today mm_set_has_pinned_flag() in gup_fast_fallback()), so a pin that
        # GUP-fast completes alone still makes fork copy the page
        mm.has_pinned = True
    nr_pinned = gup_fast(k, mm, start, nr_pages, gup_flags, pages)
    if nr_pinned == nr_pages:
        return nr_pinned
    rest: list[Folio] = []
    ret = __gup_longterm_locked(k, mm, start + nr_pinned, nr_pages - nr_pinned, rest,
                                gup_flags | FOLL.TOUCH, retry_hook)
    if ret < 0:
        return nr_pinned if nr_pinned else ret
    pages.extend(rest)
    return ret + nr_pinned


def fast_flags_allowed(k: Kernel | Profile) -> FOLL:
    """The flags internal_get_user_pages_fast()/gup_fast_fallback() accept; any other is a
    WARN and -EINVAL. 73b0140bf0fe (v5.2): FOLL_WRITE|FOLL_LONGTERM; f4000fdf435b (v5.6):
    FOLL_FORCE; eddb1c228f79 (v5.6): the API's own FOLL_PIN/FOLL_GET; 55b8fe703bc5 (v5.16):
    FOLL_NOFAULT. Before v5.2 the call took a write bool (the runner reports anything else as
    not applicable)."""
    allowed = FOLL.WRITE | FOLL.LONGTERM | FOLL.PIN | FOLL.GET
    if k.has("gup_fast_force"):
        allowed |= FOLL.FORCE
    if k.has("foll_nofault"):
        allowed |= FOLL.NOFAULT
    return allowed


def get_user_pages_fast(k: Kernel, mm: MM, start: int, nr_pages: int, gup_flags: FOLL, pages: list[Folio],
                        retry_hook: RetryHook | None = None) -> int:
    flags = is_valid_gup_args(k, gup_flags, FOLL.GET)
    if flags is None or flags & ~fast_flags_allowed(k):
        return EINVAL
    return gup_fast_fallback(k, mm, start, nr_pages, flags, pages, retry_hook)


def pin_user_pages_fast(k: Kernel, mm: MM, start: int, nr_pages: int, gup_flags: FOLL, pages: list[Folio],
                        retry_hook: RetryHook | None = None) -> int:
    flags = is_valid_gup_args(k, gup_flags, FOLL.PIN)
    if flags is None or flags & ~fast_flags_allowed(k):
        return EINVAL
    return gup_fast_fallback(k, mm, start, nr_pages, flags, pages, retry_hook)


def _vma_name(vma: Vma) -> str:
    return f"VMA {vma.start}-{vma.end}"


def _page_name(folio: Folio) -> str:
    return "the zero page" if folio.is_zero else f"pfn {folio.pfn}"


def _err(value: int) -> str:
    return errno_name(value)
