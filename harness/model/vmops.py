"""What a process does to its address space: mmap (the layout), CPU accesses, munmap,
mprotect, MADV_DONTNEED, fork and exit (mm/mmap.c, mm/mprotect.c, mm/madvise.c, kernel/fork.c
and mm/memory.c's copy_present_pte, in outline)."""

from __future__ import annotations

from ..scenario import Vma as VmaSpec
from .budget import Livelock
from .driver import Driver
from .fault import VM_FAULT_ERROR, handle_mm_fault
from .flags import FAULT_FLAG, VM, Errno
from .kernel import Kernel
from .memory import File, Folio
from .mm import MM, Pte, Vma, is_cow_mapping, prot_to_vm

EFAULT, EINVAL, ENOMEM = -Errno.EFAULT, -Errno.EINVAL, -Errno.ENOMEM
#: a read fault's flags, built once (an enum call per CPU access showed in profiles)
_READ_FAULT = FAULT_FLAG(0)


def mmap_layout(k: Kernel, mm: MM, layout: tuple[VmaSpec, ...]) -> None:
    """Create the scenario's VMAs, fault pages in as it says, then apply each protection."""
    for i, spec in enumerate(layout):
        shared = spec.share == "shared"
        file = None
        if spec.backing in ("shmem", "file") or (spec.backing == "anon" and shared):
            kind = "file" if spec.backing == "file" else "shmem"
            file = File(name=f"{kind}{i}", kind=kind)
            k.files.append(file)
        flags = prot_to_vm("rw", shared)
        if spec.backing == "pfnmap":
            flags |= VM.IO | VM.PFNMAP
        driver = None
        if spec.backing == "mixedmap":
            # the driver's mmap handler: VM_MIXEDMAP, pages inserted by its vm_ops->fault
            flags |= VM.MIXEDMAP
            driver = Driver(f"driver{i}", i, spec.driver or "p" * spec.pages, spec.placement)
        mm.vmas.append(Vma(spec.start, spec.end, flags, spec.backing, file, 0, spec.placement, driver=driver))
        vma_merge(mm, spec.start, spec.end)  # mmap_region(): an anon mapping joins its twin neighbour
        merged = mm.find_vma(spec.start)
        assert merged is not None
        vma = merged
        if spec.backing == "pfnmap":
            # remap_pfn_range(): special PTEs to device memory without struct pages
            for addr in range(spec.start, spec.end):
                mm.ptes[addr] = Pte(pfn=1_000_000 + addr, folio=None, write=True, special=True)
            continue
        if spec.backing == "file":
            # The file was written before it was mapped: all its pages are in the page cache
            # (so a read fault's fault-around finds them, see do_fault_around()).
            for addr in range(spec.start, spec.end):
                k.pagecache_folio(vma, addr)
        for index in range(spec.pages) if spec.faulted else ():  # no `faulted`: nothing is (fault_of)
            state = spec.faulted[index]
            if state != "-":
                cpu_access(k, mm, spec.start + index, write=state == "w")
    for spec in layout:
        if spec.prot != "rw":
            mprotect(k, mm, spec.start, spec.pages, spec.prot)
    k.trace("layout", "layout mapped")


def cpu_access(k: Kernel, mm: MM, addr: int, write: bool) -> int:
    """A user-space load or store: SIGSEGV (reported as -EFAULT) without permission."""
    vma = mm.find_vma(addr)
    if vma is None:
        return EFAULT
    if not vma.flags & (VM.WRITE if write else VM.READ):
        return EFAULT
    for _ in range(3):
        pte = mm.ptes.get(addr)
        if pte is not None and (pte.write or not write):
            break
        ret = handle_mm_fault(k, mm, vma, addr, FAULT_FLAG.WRITE if write else _READ_FAULT)
        if ret & VM_FAULT_ERROR:
            return EFAULT
    else:
        # the task would take the same fault forever: a livelock (see `terminates`), not a
        # Python error escaping the runner
        raise Livelock("cpu fault", 3, f"a {'write' if write else 'read'} of page {addr} keeps faulting",
                       k.trace.events[-6:], k.describe_folios())
    pte = mm.ptes[addr]
    if write and pte.folio is not None:
        pte.dirty = True
        pte.folio.dirty = True
        pte.folio.data = k.new_token()
    return 0


def peek(mm: MM, addr: int) -> int | None:
    """The contents a CPU read of addr would return now, without faulting anything in.

    For properties that compare what processes see (the model's page contents are one token
    per page): a present PTE shows its page; an unpopulated address of a private anonymous
    mapping reads the zero page (0); one of a file or shmem mapping reads the page cache, or
    the file's contents if the page is not cached. None where the answer is not a page's
    contents: no VMA, a PFN map or driver mapping without a page behind the PTE, or no PTE
    in a driver's mapping (its fault handler decides). Permissions are ignored: this is what
    is there, not whether a load would be allowed."""
    vma = mm.find_vma(addr)
    if vma is None:
        return None
    pte = mm.ptes.get(addr)
    if pte is not None:
        return None if pte.folio is None else pte.folio.data
    if vma.flags & (VM.PFNMAP | VM.MIXEDMAP) or vma.driver is not None:
        return None
    if vma.file is None:
        return 0
    index = vma.file_index(addr)
    cached = vma.file.pages.get(index)
    return cached.data if cached is not None else vma.file.disk.get(index, 0)


def _split(mm: MM, start: int, end: int) -> list[Vma]:
    """Split VMAs at start and end; return those inside [start, end)."""
    result: list[Vma] = []
    new: list[Vma] = []
    for vma in mm.vmas:
        if vma.end <= start or vma.start >= end:
            new.append(vma)
            continue
        pieces = []
        if vma.start < start:
            pieces.append(vma.copy(end=start))
        mid = vma.copy(start=max(vma.start, start), end=min(vma.end, end),
                       pgoff=vma.pgoff + max(0, start - vma.start))
        pieces.append(mid)
        result.append(mid)
        if vma.end > end:
            pieces.append(vma.copy(start=end, pgoff=vma.pgoff + (end - vma.start)))
        new.extend(pieces)
    mm.vmas = sorted(new, key=lambda v: v.start)
    return result


def munmap(k: Kernel, mm: MM, start: int, pages: int) -> int:
    end = start + pages
    for vma in _split(mm, start, end):
        mm.vmas.remove(vma)
    for addr in [a for a in mm.ptes if start <= a < end]:
        k.zap_pte(mm, addr)
    k.trace("vma", f"munmap pages {start}-{end}")
    return 0


def mprotect(k: Kernel, mm: MM, start: int, pages: int, prot: str) -> int:
    """do_mprotect_pkey(): VMA by VMA from `start`. A hole stops it with -ENOMEM, and the VMAs
    before the hole keep their new protection (nothing is checked up front); no VMA at
    `start` at all changes nothing."""
    end = start + pages
    addr = start
    ret = 0
    while addr < end:
        vma = mm.find_vma(addr)
        if vma is None:
            ret = ENOMEM
            break
        stop = min(vma.end, end)
        mprotect_fixup(k, mm, vma, addr, stop, prot)
        addr = stop
    k.trace("vma", f"mprotect pages {start}-{end} {prot}" + (" (stopped at a hole: -ENOMEM)" if ret else ""))
    return ret


def mprotect_fixup(k: Kernel, mm: MM, vma: Vma, start: int, end: int, prot: str) -> None:
    """Change [start, end) of one VMA: nothing to do (and no split) when the flags stay the
    same; otherwise split it off, change it, and merge it with a compatible neighbour
    (vma_modify_flags())."""
    newflags = (vma.flags & ~(VM.READ | VM.WRITE)) | (prot_to_vm(prot, False) & (VM.READ | VM.WRITE))
    if newflags == vma.flags:
        return
    for piece in _split(mm, start, end):
        piece.flags = newflags
        if not piece.flags & VM.WRITE:
            for addr in range(piece.start, piece.end):
                pte = mm.ptes.get(addr)
                if pte is not None:
                    pte.write = False
        # Simplified: granting write leaves PTEs read-only; the next write faults (the kernel
        # may make exclusive anon PTEs writable at once since v6.0, which the CPU cannot tell).
    vma_merge(mm, start, end)


def _mergeable(a: Vma, b: Vma) -> bool:
    """is_mergeable_vma() for two adjacent VMAs: same flags, same file at contiguous offsets."""
    if a.end != b.start or a.flags != b.flags or a.backing != b.backing or a.placement != b.placement:
        return False
    if a.flags & (VM.IO | VM.PFNMAP | VM.MIXEDMAP):
        return False  # VM_SPECIAL mappings never merge
    if a.file is not b.file:
        return False
    return a.file is None or b.pgoff == a.pgoff + (a.end - a.start)


def vma_merge(mm: MM, start: int, end: int) -> None:
    """Merge the VMAs of [start, end) with each other and with the VMA just before and just
    after it wherever they are compatible (vma_merge_existing_range())."""
    merged: list[Vma] = []
    for vma in sorted(mm.vmas, key=lambda v: v.start):
        prev = merged[-1] if merged else None
        touches = vma.start <= end and vma.end >= start
        if prev is not None and touches and prev.end >= start and _mergeable(prev, vma):
            prev.end = vma.end
            prev.anon_vma = prev.anon_vma or vma.anon_vma
            continue
        merged.append(vma)
    mm.vmas = merged


def madv_dontneed(k: Kernel, mm: MM, start: int, pages: int) -> int:
    end = start + pages
    ret = 0
    for addr in range(start, end):
        vma = mm.find_vma(addr)
        if vma is None:
            ret = ENOMEM  # holes: the rest is still zapped, then -ENOMEM
            continue
        if vma.flags & VM.PFNMAP:
            return EINVAL
        k.zap_pte(mm, addr)
    k.trace("vma", f"MADV_DONTNEED pages {start}-{end}")
    return ret


def fork(k: Kernel, parent: MM, pid: int) -> MM:
    """dup_mmap(): the child shares pages copy-on-write, except pinned anon pages it must copy."""
    child = MM(pid=pid, has_pinned=False)
    for vma in parent.vmas:
        cvma = vma.copy()
        child.vmas.append(cvma)
        addrs = [a for a in sorted(parent.ptes) if vma.contains(a)]
        if not (vma.flags & (VM.PFNMAP | VM.MIXEDMAP)) and not vma.anon_vma:
            # vma_needs_copy(): a VMA that never had an anonymous page (no anon_vma) is not
            # copied; the child refaults from the page cache. One that had one at any time
            # copies every PTE, page-cache pages included; PFN and mixed maps always are
            continue
        for addr in addrs:
            _copy_present_pte(k, parent, child, cvma, addr)
    k.mms[pid] = child
    k.trace("fork", f"fork: process {pid} created")
    return child


def _copy_present_pte(k: Kernel, parent: MM, child: MM, vma: Vma, addr: int) -> None:
    pte = parent.ptes[addr]
    folio = pte.folio
    if folio is None or pte.special:
        child.ptes[addr] = Pte(pte.pfn, folio, write=pte.write, dirty=pte.dirty, special=pte.special)
        return
    cow = is_cow_mapping(vma.flags)
    if cow and _needs_copy_for_child(k, parent, folio):
        new = k.alloc(vma)
        new.anon = True
        new.anon_exclusive = True
        new.data = folio.data
        k.set_pte(child, addr, new, write=bool(vma.flags & VM.WRITE), dirty=True, new_ref=False)
        what = "anon" if folio.anon else "page cache"
        k.trace("fork", f"page {addr}: pinned {what} pfn {folio.pfn} copied for the child (pfn {new.pfn})")
        return
    if cow:
        pte.write = False  # both sides write-protected: the next write breaks COW
        if folio.anon:
            folio.anon_exclusive = False
    k.set_pte(child, addr, folio, write=pte.write, dirty=pte.dirty, new_ref=True)


def _needs_copy_for_child(k: Kernel, parent: MM, folio: Folio) -> bool:
    """Must fork give the child its own copy of this page of a COW mapping?

    page_needs_cow_for_dma() in every era that has it: the parent mm has pinned at some time
    (mm->has_pinned, 008cfe4418b3; later the MMF_HAS_PINNED bit) and the page may be
    DMA-pinned."""
    if k.has("anon_exclusive"):
        # 6c287605fd56 (v5.19-rc1): page_try_dup_anon_rmap() refuses to share an exclusive
        # anon page that page_needs_cow_for_dma(); non-anon pages are always shared
        return folio.anon and folio.anon_exclusive and parent.has_pinned and folio.maybe_dma_pinned()
    if k.has("fork_copy_pinned"):
        # 70e806e4e645 (v5.9): copy_present_page() copies any page vm_normal_page() finds,
        # page cache included (the !PageAnon test came only in stable backports)
        return parent.has_pinned and folio.maybe_dma_pinned()
    return False


def exit_mm(k: Kernel, mm: MM) -> None:
    """exit_mmap(): every mapping goes; pins taken by drivers stay with the drivers."""
    for addr in list(mm.ptes):
        k.zap_pte(mm, addr)
    mm.vmas.clear()
    mm.exited = True
    k.trace("exit", f"process {mm.pid} exits")
