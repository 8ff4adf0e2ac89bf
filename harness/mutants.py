"""The mutation benchmark's catalogue: plausible one-line mistakes in the model's GUP paths.

Each entry is a candidate patch of the model's source (see harness/mutate.py for how it is
applied): the kind of mistake a kernel developer might make in mm/gup.c, mm/memory.c, fork
or the unpin paths. None of them is a kernel profile or a switch: they are kept out of the
timeline and of `gupharness kernels`, and the model's code stays clean. `gupharness bench
--mutants` measures how many of them the property search catches (harness/mutbench.py).

`profiles` names where the patched code is live. Most mutants run on mainline, where the
clean model holds every property; older-era code runs on its era's profile, and the
benchmark then counts only failures the clean model does not show for the same scenario.
Old and new text keep the same number of lines, so tracebacks keep the real line numbers.
"""

from __future__ import annotations

from .mutate import Mutant, MutantError

G, F, V, M, C = ("harness.model.gup", "harness.model.fault", "harness.model.vmops", "harness.model.memory",
                 "harness.model.callers")

_LIST: tuple[Mutant, ...] = (
    # -- check_vma_flags ---------------------------------------------------------------------
    Mutant("foll_anon_inverted", G,
           "    if gup_flags & FOLL.ANON and not vma_anon:\n",
           "    if gup_flags & FOLL.ANON and vma_anon:\n",
           "check_vma_flags: FOLL_ANON refuses anonymous VMAs instead of file-backed ones (inverted condition)"),
    Mutant("force_write_shared_allowed", G,
           "            if not is_cow_mapping(vm_flags):\n                return EFAULT\n",
           "            if is_cow_mapping(vm_flags):\n                return EFAULT\n",
           "check_vma_flags: a forced write is refused in private mappings and allowed in shared ones (inverted)"),
    # -- can_follow_write_pte / gup_must_unshare -------------------------------------------
    Mutant("force_write_nonexclusive_anon", G,
           "        return folio is not None and folio.anon and folio.anon_exclusive\n",
           "        return folio is not None and folio.anon\n",
           "can_follow_write_pte (v6.0+): a forced write may use any anon page, not only an exclusive one"),
    Mutant("foll_cow_ignores_dirty", G,
           "        return force_ok and bool(flags & FOLL.COW) and pte.dirty\n",
           "        return force_ok and bool(flags & FOLL.COW)\n",
           "can_follow_write_pte (v4.9..v5.19): FOLL_COW trusted without checking that the PTE is still dirty",
           ("v5.9",)),
    Mutant("fast_unshare_no_fallback", G,
           "            return True  # GUP-fast cannot tell the mapping type: fall back to the slow path\n",
           "            return False  # GUP-fast cannot tell the mapping type: fall back to the slow path\n",
           "gup_must_unshare (v6.2+): GUP-fast takes a R/O long-term pin of a non-anon page instead of falling back"),
    Mutant("unshare_in_shared_mappings", G,
           "        return is_cow_mapping(vma.flags)  # 84209e87c696 (v6.2)\n",
           "        return True  # 84209e87c696 (v6.2)\n",
           "gup_must_unshare (v6.2+): asks to unshare page-cache pages in shared mappings too"),
    Mutant("unshare_exclusive_inverted", G,
           "    return not folio.anon_exclusive\n",
           "    return folio.anon_exclusive\n",
           "gup_must_unshare: unshares exclusive anon pages and leaves shared ones (inverted condition)"),
    # -- references ------------------------------------------------------------------------
    Mutant("pin_counted_as_get", G,
           "            folio.ref_add(GUP_PIN_COUNTING_BIAS)\n",
           "            folio.ref_add(1)\n",
           "try_grab_folio: a FOLL_PIN on a small folio adds 1 instead of GUP_PIN_COUNTING_BIAS"),
    Mutant("get_without_foll_get", G,
           "    if pages is not None and not flags & FOLL.PIN:\n",
           "    if pages is None and not flags & FOLL.PIN:\n",
           "__get_user_pages_locked: FOLL_GET is added only when there is no pages array (inverted condition)"),
    # -- the slow path ---------------------------------------------------------------------
    Mutant("faultin_drops_unshare", G,
           "        fault_flags |= FAULT_FLAG.UNSHARE\n",
           "        fault_flags |= FAULT_FLAG(0)\n",
           "faultin_page: FAULT_FLAG_UNSHARE is not passed on, so the unshare fault does nothing"),
    Mutant("write_dropped_after_cow", G,
           "    if ret & VM_FAULT.WRITE and not vma.flags & VM.WRITE and not k.has(\"force_write_exclusive_anon\"):\n",
           "    if ret & VM_FAULT.WRITE and not vma.flags & VM.WRITE:\n",
           "faultin_page: the pre-v4.9 'retry as a read after breaking COW' still applies on v6.0+ (Dirty COW again)"),
    Mutant("foll_cow_not_set", G,
           "            flags |= FOLL.COW\n",
           "            flags |= FOLL.FORCE\n",
           "faultin_page (v4.9..v5.19): after breaking COW the wrong flag is set (FOLL_FORCE, not FOLL_COW)",
           ("v5.9",)),
    Mutant("cow_break_inverted", G,
           "        if k.has(\"gup_cow_break\") and is_cow_mapping(vma.flags) and foll_flags & (FOLL.GET | FOLL.PIN):\n",
           "        if k.has(\"gup_cow_break\") and not is_cow_mapping(vma.flags) and foll_flags & (FOLL.GET | FOLL.PIN):\n",
           "__get_user_pages (v5.8): the forced COW break is applied to shared mappings instead of private ones",
           ("v5.8",)),
    Mutant("error_reported_as_zero", G,
           "    return i if i else ret\n",
           "    return i\n",
           "__get_user_pages: returns the pages done even when none were, turning an errno into 0"),
    Mutant("has_pinned_only_longterm", G,
           "        mm.has_pinned = True  # MMF_HAS_PINNED, sticky\n",
           "        mm.has_pinned = bool(flags & FOLL.LONGTERM)  # MMF_HAS_PINNED, sticky\n",
           "__get_user_pages_locked (v5.9..v5.18): only long-term pins set MMF_HAS_PINNED, so fork shares other pins",
           ("v5.9",)),
    # -- long-term pinning -----------------------------------------------------------------
    Mutant("cma_path_unpins_only_movable", G,
           "            _drop_all(k, pages, gup_flags)\n            if migrate_pages(k, movable):\n",
           "            _drop_all(k, movable, gup_flags)\n            if migrate_pages(k, movable):\n",
           "_gup_longterm_cma_only (v5.2..v5.12): before migrating, only the CMA pages' pins are dropped",
           ("v5.7",)),
    Mutant("migration_failure_retries", G,
           "    return ENOMEM if ret > 0 else ret\n",
           "    return ret\n",
           "check_and_migrate_movable_pages (v5.13..v6.0): pages that failed to migrate are returned as a count",
           ("v5.13",)),
    Mutant("collect_drains_inverted", G,
           "        if _needs_drain(k, folio) and drain_allow:\n            k.trace(\"drain\", \"lru_add_drain_all()\")\n"
           "            k.mem.lru_add_drain_all()\n            drain_allow = False\n"
           "        if k.mem.isolate_lru(folio):\n            k.trace(\"isolate\", f\"pfn {folio.pfn} isolated from the LRU\")\n"
           "            isolated.append(folio)\n",
           "        if not _needs_drain(k, folio) and drain_allow:\n            k.trace(\"drain\", \"lru_add_drain_all()\")\n"
           "            k.mem.lru_add_drain_all()\n            drain_allow = False\n"
           "        if k.mem.isolate_lru(folio):\n            k.trace(\"isolate\", f\"pfn {folio.pfn} isolated from the LRU\")\n"
           "            isolated.append(folio)\n",
           "collect_longterm_unpinnable_folios (v6.1+): drains the LRU batches exactly when it need not (inverted)"),
    Mutant("collect_counts_lru_only", G,
           "        collected += 1\n",
           "        collected += folio.lru\n",
           "collect_longterm_unpinnable_folios (v6.1+): counts only unpinnable folios already on the LRU"),
    Mutant("migrate_unpins_isolated_only", G,
           "    unpin_user_pages(k, list(pages))\n",
           "    unpin_user_pages(k, list(isolated))\n",
           "migrate_longterm_unpinnable_folios (v6.1+): unpins the isolated folios only, leaking the others' pins"),
    Mutant("migrate_keeps_isolation_ref", G,
           "        new.refcount = old.refcount - 1  # the isolation reference is not carried over\n",
           "        new.refcount = old.refcount  # the isolation reference is not carried over\n",
           "migrate_pages: the new folio inherits the isolation reference (wrong folio's count)"),
    Mutant("migrate_drops_exclusive", G,
           "        new.mapcount, new.anon, new.anon_exclusive = old.mapcount, old.anon, old.anon_exclusive\n",
           "        new.mapcount, new.anon = old.mapcount, old.anon\n",
           "migrate_pages: PG_anon_exclusive is not carried over to the new folio"),
    Mutant("longterm_without_pin_v6_3", G,
           "    if gup_flags & FOLL.LONGTERM and not gup_flags & FOLL.PIN and k.has(\"longterm_requires_pin\"):\n",
           "    if gup_flags & FOLL.LONGTERM and not gup_flags & FOLL.PIN and k.has(\"valid_gup_args\"):\n",
           "is_valid_gup_args: FOLL_LONGTERM without FOLL_PIN refused from v6.3 instead of v6.1 (wrong release gate)",
           ("v6.2",)),
    Mutant("pin_and_get_checked_before_set", G,
           "    if (gup_flags & (FOLL.PIN | FOLL.GET)) == (FOLL.PIN | FOLL.GET):\n",
           "    if ((gup_flags & ~to_set) & (FOLL.PIN | FOLL.GET)) == (FOLL.PIN | FOLL.GET):\n",
           "is_valid_gup_args: FOLL_PIN|FOLL_GET is checked on the caller's flags only, so pin_user_pages(FOLL_GET) passes"),
    Mutant("memalloc_pin_not_saved", G,
           "    k.memalloc_pin = True  # memalloc_pin_save(): no movable/CMA allocations while pinning\n",
           "    k.memalloc_pin = previous  # memalloc_pin_save(): no movable/CMA allocations while pinning\n",
           "__gup_longterm_locked: memalloc_pin_save() forgotten, so pages faulted in land in movable/CMA memory"),
    # -- GUP-fast ------------------------------------------------------------------------
    Mutant("fast_write_checks_dirty", G,
           "        if gup_flags & FOLL.WRITE and not pte.write:\n",
           "        if gup_flags & FOLL.WRITE and not pte.dirty:\n",
           "gup_fast: a write takes any dirty PTE (pte_dirty() where pte_write() was meant)"),
    Mutant("fast_longterm_cma_only", G,
           "        if gup_flags & FOLL.LONGTERM and not folio_is_longterm_pinnable(k, folio):\n",
           "        if gup_flags & FOLL.LONGTERM and folio.migratetype == \"CMA\":\n",
           "gup_fast: a long-term pin refuses CMA pages only, forgetting ZONE_MOVABLE and ISOLATE pageblocks"),
    Mutant("fast_range_off_by_one", G,
           "    for addr in range(start, start + nr_pages):\n",
           "    for addr in range(start, start + nr_pages + 1):\n",
           "gup_fast: walks one page past the end of the range (off-by-one)"),
    Mutant("fast_error_leaks_prefix", G,
           "        return nr_pinned if nr_pinned else ret\n",
           "        return ret\n",
           "gup_fast_fallback: a slow-path error is returned while the fast prefix stays pinned (no unpin)"),
    Mutant("fast_ignores_protnone", G,
           "        if vma is not None and not vma.flags & VM.READ:\n",
           "        if vma is not None and not vma.flags & (VM.READ | VM.WRITE | VM.MAYREAD):\n",
           "gup_fast: the PROT_NONE test also requires !VM_MAYREAD, so PAGE_NONE PTEs are taken locklessly"),
    # -- faults and COW (mm/memory.c) ---------------------------------------------------
    Mutant("anon_fault_not_exclusive", F,
           "    folio.anon = True\n    folio.anon_exclusive = True\n    # Writable and dirty",
           "    folio.anon = True\n    folio.anon_exclusive = False\n    # Writable and dirty",
           "do_anonymous_page: a new anon page is not marked PG_anon_exclusive (RMAP_EXCLUSIVE forgotten)"),
    Mutant("reuse_exclusive_only_on_write", F,
           "        if wp_can_reuse_anon_folio(k, folio):\n            folio.anon_exclusive = True\n",
           "        if wp_can_reuse_anon_folio(k, folio):\n            folio.anon_exclusive = not unshare\n",
           "do_wp_page: a reused page is marked exclusive on a write fault but not on an unshare fault"),
    Mutant("reuse_refcount_off_by_one", F,
           "        return folio.refcount == 1\n",
           "        return folio.refcount <= 2\n",
           "wp_can_reuse_anon_folio (v5.9+): reuses a page one extra reference still holds (off-by-one)"),
    Mutant("cow_copy_keeps_old_mapping", F,
           "    k.zap_pte(mm, addr)\n    if unshare:\n",
           "    mm.ptes.pop(addr)\n    if unshare:\n",
           "wp_page_copy: the old page's rmap and reference are not dropped when the copy replaces it"),
    Mutant("fault_around_private_writable", F,
           "        k.set_pte(mm, around, folio, write=_read_fault_writable(vma), dirty=False, new_ref=True)\n",
           "        k.set_pte(mm, around, folio, write=bool(vma.flags & VM.WRITE), dirty=False, new_ref=True)\n",
           "do_fault_around: maps cached pages writable whenever the VMA is, also in private mappings"),
    # -- fork, mprotect (kernel/fork.c, mm/memory.c, mm/mprotect.c) -----------------------
    Mutant("fork_leaves_shared_exclusive", V,
           "        if folio.anon:\n            folio.anon_exclusive = False\n",
           "        if folio.anon and folio.mapcount > 1:\n            folio.anon_exclusive = False\n",
           "copy_present_pte: PG_anon_exclusive is cleared only if the page was already shared"),
    Mutant("fork_child_pte_writable", V,
           "    k.set_pte(child, addr, folio, write=pte.write, dirty=pte.dirty, new_ref=True)\n",
           "    k.set_pte(child, addr, folio, write=bool(vma.flags & VM.WRITE), dirty=pte.dirty, new_ref=True)\n",
           "copy_present_pte: the child's PTE takes the VMA's write permission, not the write-protected PTE's"),
    Mutant("fork_shares_pinned", V,
           "        return folio.anon and folio.anon_exclusive and parent.has_pinned and folio.maybe_dma_pinned()\n",
           "        return folio.anon and folio.anon_exclusive and parent.has_pinned and not folio.maybe_dma_pinned()\n",
           "page_try_dup_anon_rmap (v5.19+): copies the unpinned pages for the child and shares the pinned ones"),
    Mutant("fork_skips_anon_vmas", V,
           "        if not (vma.flags & (VM.PFNMAP | VM.MIXEDMAP)) and not vma.anon_vma:\n",
           "        if not (vma.flags & (VM.PFNMAP | VM.MIXEDMAP)) and vma.anon_vma:\n",
           "vma_needs_copy: copies the PTEs of VMAs without anon pages and skips those with (inverted)"),
    Mutant("mprotect_keeps_ptes_writable", V,
           "        if not piece.flags & VM.WRITE:\n",
           "        if not piece.flags & VM.READ:\n",
           "mprotect_fixup: only PROT_NONE write-protects the PTEs, so mprotect(PROT_READ) leaves them writable"),
    # -- memory (mm/swap.c, mm/migrate.c) --------------------------------------------------
    Mutant("drain_keeps_batch_ref", M,
           "                self.put(folio)\n                drained += 1\n",
           "                drained += 1\n                drained += 0\n",
           "lru_add_drain_all: the LRU batch's reference is not dropped when its folios move to the LRU"),
    Mutant("isolate_without_ref", M,
           "        folio.lru = False\n        folio.ref_add(1)\n        return True\n",
           "        folio.lru = False\n        pass  # folio_get() forgotten\n        return True\n",
           "folio_isolate_lru: the isolation reference is not taken"),
    # -- callers ---------------------------------------------------------------------------
    Mutant("odirect_read_without_write", C,
           "    Caller(\"odirect_read\", \"pin_user_pages_fast\", FOLL.WRITE, holds=False",
           "    Caller(\"odirect_read\", \"pin_user_pages_fast\", FOLL(0), holds=False",
           "O_DIRECT read: the user buffer is pinned without FOLL_WRITE although the device writes into it"),
    Mutant("io_uring_not_longterm", C,
           "    Caller(\"io_uring_register_buffers\", \"pin_user_pages_fast\", FOLL.WRITE | FOLL.LONGTERM,",
           "    Caller(\"io_uring_register_buffers\", \"pin_user_pages_fast\", FOLL.WRITE,",
           "io_uring buffer registration: FOLL_LONGTERM dropped, so fixed buffers may stay in movable/CMA memory"),
)

MUTANTS: dict[str, Mutant] = {m.name: m for m in _LIST}
if len(MUTANTS) != len(_LIST):
    raise ValueError("two mutants share a name")


def get_mutant(name: str) -> Mutant:
    try:
        return MUTANTS[name]
    except KeyError:
        raise MutantError(f"unknown mutant {name!r} (see `gupharness mutants`)") from None
