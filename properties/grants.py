"""What a call the rules grant must deliver: the full count, and exclusive anonymous pins."""

from __future__ import annotations

from harness.model.callers import CALLERS, entry_point
from harness.model.flags import FOLL, VM, Errno, errno_name, foll_from_names, foll_names
from harness.run import OpResult, Run, describe_op
from harness.scenario import Gup

from .accounting import refused_flag_mix
from .registry import prop

#: what a long-term pin may return when memory it must move out cannot be isolated or
#: migrated: -ENOMEM (check_and_migrate_movable_pages, migrate_longterm_unpinnable_folios);
#: -EBUSY where migrate_pages() itself reports it
MIGRATION_ERRORS = (-Errno.ENOMEM, -Errno.EBUSY)


def _granted(run: Run, result: OpResult) -> str | None:
    """Why the call is not covered by granted_requests_succeed, or None if it is."""
    op = result.op
    assert isinstance(op, Gup)
    caller = CALLERS[op.api]
    passed = foll_from_names(op.flags) | caller.flags
    if refused_flag_mix(run.profile, caller.api, passed) or (caller.populate and passed & (FOLL.GET | FOLL.PIN)):
        return "invalid flag mix"
    if not result.range_permitted:
        return "a hole, a VMA check_vma_flags() refuses, or no process"
    if passed & FOLL.NOFAULT:
        return "FOLL_NOFAULT"
    if result.no_struct_page:
        return "memory without a struct page"
    if result.caller_refused and result.result == -Errno.EOPNOTSUPP:
        return "memory the caller itself refuses (io_uring before v6.5: file-backed VMAs)"
    return None


@prop("granted_requests_succeed")
def granted_requests_succeed(run: Run) -> str | None:
    """A get/pin the rules grant returns the full count.

    Granted: a flag mix is_valid_gup_args() accepts (see call_contract), a live calling
    process, and every page of the range inside a VMA check_vma_flags() accepts for the
    call's flags, both when the call starts and when it returns (so a race that unmaps or
    mprotects part of the range takes the call out). Pages need only be present or
    faultable: __get_user_pages() faults in what is missing, unshares or breaks COW as
    needed, and retries; its kernel-doc promises fewer pages than asked only where it stops
    at something it may refuse. That holds on every profile, for the kernel's entry points
    and for the user-space callers (io_uring, O_DIRECT, process_vm_*, /proc/pid/mem,
    vmsplice, MADV_POPULATE_*), all of which report the full count then.

    The failures the kernel may still return for a granted range, and why:
    - FOLL_NOFAULT calls: -EFAULT or a short count at the first page that would need a
      fault (faultin_page() refuses; KVM's atomic paths ask for exactly that): not covered;
    - a PTE without a struct page (vm_normal_page() NULL in a VM_MIXEDMAP mapping):
      follow_page_pte() gives -EFAULT/-EEXIST: not covered;
    - memory the caller refuses after GUP pinned it (io_uring's file-backed check before
      v6.5, -EOPNOTSUPP): GUP granted it, the caller did not: not covered;
    - FOLL_LONGTERM when a movable/CMA folio cannot be isolated or migrated (an extra
      reference, off the LRU): -ENOMEM, or -EBUSY from migrate_pages(); through a `_fast`
      entry point, the count GUP-fast pinned before the slow path failed for the rest
      (gup_fast_fallback() returns that prefix rather than the error), as for the two below;
    - a reference an overflow guard refuses (a count past INT_MAX, 8fde12ca79af): -ENOMEM
      from the slow path, so -ENOMEM or a short count (or the caller's own error for it);
    - a slab allocation of the call that fails (the long-term path's temporary arrays,
      under fault injection or exhausted memory: scenario FailSlab): -ENOMEM;
    - VM_FAULT_OOM (-ENOMEM), a fatal signal (-EINTR) and the mmap lock dropped by a
      fault: the model never runs out of memory, has no signals and keeps the lock, so
      these never arise in a run.
    Any other failure or short count is a bug: e.g. a spurious -ENOMEM on a present,
    readable page."""
    for result in run.results:
        op = result.op
        if not isinstance(op, Gup) or result.result is None or result.not_applicable:
            continue
        if _granted(run, result) is not None or result.result == op.pages:
            continue
        if result.guard_refused:
            continue  # a count the kernel cannot represent: refusing it is the guard's job
        longterm = bool((foll_from_names(op.flags) | CALLERS[op.api].flags) & FOLL.LONGTERM)
        # gup_fast_fallback(): when the slow path fails for the rest of the range, the pages
        # GUP-fast pinned first are what the call returns (a short count, not the error)
        fast_prefix = entry_point(run.profile, CALLERS[op.api]).endswith("_fast") and 0 < result.result < op.pages
        if longterm and result.migration_failed and (result.result in MIGRATION_ERRORS or fast_prefix):
            continue
        if result.alloc_failed and (result.result == -Errno.ENOMEM or fast_prefix):
            continue
        got = errno_name(result.result) if result.result < 0 else f"{result.result} of {op.pages} pages"
        return (f"op {result.index} ({describe_op(op)}) returned {got}, but every page of the range lies in a "
                "VMA check_vma_flags() accepts, with a valid flag mix"
                + (" (a folio could not be migrated, but that only explains -ENOMEM/-EBUSY)"
                   if result.migration_failed and longterm else ""))
    return None


@prop("pinned_anon_exclusive", snapshots=True)
def pinned_anon_exclusive(run: Run) -> str | None:
    """From PG_anon_exclusive (6c287605fd56, v5.19), every anonymous page a FOLL_PIN holds
    is marked exclusive, from the moment the call returns until the pin is dropped.

    Whichever path took the pin: the slow path unshares a shared anon page first
    (gup_must_unshare(), a7f226604170) and a write faults it exclusive; GUP-fast leaves a
    page that must be unshared to the slow path; remote pins and user-space callers
    (io_uring, O_DIRECT, process_vm_*) use the same paths. Nothing clears the flag while the
    page is pinned: fork copies a maybe-pinned exclusive page for the child instead of
    sharing it (page_try_dup_anon_rmap()), and a munmap, MADV_DONTNEED or exit only detach
    the pin from the mapping (the page stays pinned and anon). The flag goes only when the
    page is freed (Documentation/core-api/pin_user_pages.rst; the PG_anon_exclusive comment
    in include/linux/page-flags.h; sanity_check_pinned_pages() in mm/gup.c BUGs on a
    non-exclusive pinned anon page under CONFIG_DEBUG_VM). The zero page is not anon."""
    if not run.profile.has("anon_exclusive"):
        return None
    for result in run.results:
        if not result.flags & FOLL.PIN:
            continue
        for grab in result.grabbed:
            if grab.anon and not grab.zero and not grab.exclusive:
                return (f"op {result.index} ({describe_op(result.op)}) returned a pin of anon pfn {grab.pfn} at page "
                        f"{grab.addr} that is not PG_anon_exclusive")
    for snap in run.snapshots:
        for held in snap.held:
            if held.pin and held.anon and not held.exclusive:
                return (f"after op {snap.after} ({describe_op(run.scenario.ops[snap.after])}), anon pfn {held.pfn} "
                        f"pinned by op {held.op} (process {held.process}, page {held.addr}) is no longer "
                        "PG_anon_exclusive")
    return None


@prop("permissions_respected")
def permissions_respected(run: Run) -> str | None:
    """A get/pin never returns a page of a VMA that check_vma_flags()'s documented rules refuse
    for the call's flags, judged on the VMA the caller had there when the call started.

    The rules, as mm/gup.c has kept them on every profile the harness models (first match
    refuses): VM_IO or VM_PFNMAP; FOLL_ANON on a VMA that is not anonymous; FOLL_WRITE on a
    VMA without VM_WRITE unless FOLL_FORCE, and with FOLL_FORCE only in a COW mapping
    (private and VM_MAYWRITE: a forced write breaks COW, it never writes a shared mapping);
    a read of a VMA without VM_READ unless FOLL_FORCE, and with FOLL_FORCE only if VM_MAYREAD.
    GUP-fast must honour them too (pte_access_permitted(), and a PROT_NONE PTE is never
    followed). Stated here on their own, apart from the model's check_vma_flags(), so a
    mistake there or a path that skips it shows up; later refusals (FS-DAX, secretmem, the
    v6.5 writeback rule) only narrow what may be returned and are not needed for this side."""
    for result in run.results:
        op = result.op
        if not isinstance(op, Gup) or not result.grabbed or result.result is None or result.result <= 0:
            continue
        flags = result.flags
        for grab in result.grabbed:
            view = result.vmas_at_start.get(grab.addr)
            reason: str | None
            if view is None:
                reason = "there was no VMA there when the call started"
            else:
                reason = _refused(VM(view[0]), view[1], flags)
            if reason is not None:
                return (f"op {result.index} ({describe_op(op)}) returned pfn {grab.pfn} at page {grab.addr} "
                        f"with {foll_names(flags)}, though {reason}")
    return None


def _refused(vm: VM, anonymous: bool, flags: FOLL) -> str | None:
    if vm & (VM.IO | VM.PFNMAP):
        return "the VMA is VM_IO/VM_PFNMAP"
    if flags & FOLL.ANON and not anonymous:
        return "FOLL_ANON asks for anonymous memory and the VMA is not"
    if flags & FOLL.WRITE:
        if not vm & VM.WRITE:
            if not flags & FOLL.FORCE:
                return "the VMA is not writable and the call is not forced"
            if vm & VM.SHARED or not vm & VM.MAYWRITE:
                return "a forced write may only break COW in a private, VM_MAYWRITE mapping"
    elif not vm & VM.READ:
        if not flags & FOLL.FORCE:
            return "the VMA is not readable and the call is not forced"
        if not vm & VM.MAYREAD:
            return "a forced read needs VM_MAYREAD"
    return None
