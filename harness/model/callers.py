"""Who calls GUP and how: the kernel's exported APIs, and the user-space-reachable callers
(io_uring, O_DIRECT, process_vm_*, vmsplice, /proc/pid/mem, MADV_POPULATE) as the fixed
GUP calls they make (GUP_HISTORY.md §8, LIVE_KERNEL.md)."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from . import gup
from .budget import Livelock
from .flags import FOLL, Errno
from .kernel import Kernel
from .kernels import Profile
from .memory import Folio
from .mm import MM, Vma

GupFn = Callable[..., int]


@attrs.frozen
class Caller:
    name: str
    #: the GUP entry point it uses
    api: str
    #: FOLL flags the caller adds to whatever the scenario passes
    flags: FOLL = FOLL(0)
    #: pins/references stay held after the call (until a Release op)
    holds: bool = True
    #: io_uring: fewer pages than asked is a failure, and the partial pins are dropped
    all_or_nothing: bool = False
    #: what the device does through the pages during the call: 'write' (into memory), 'read'
    dma: str | None = None
    #: errno a failure is reported as, when the caller maps errors (e.g. /proc/pid/mem: -EIO)
    error: int | None = None
    #: fault-in only (MADV_POPULATE_*): no pages kept
    populate: bool = False
    #: iomap direct I/O (ext4): GUP pinning fewer pages than asked fails the whole I/O with
    #: this errno (iomap_dio_rw() keeps dio->error), after the pages it did pin were transferred
    short_error: int | None = None


_KERNEL = ("get_user_pages", "pin_user_pages", "get_user_pages_fast", "pin_user_pages_fast",
           "get_user_pages_remote", "pin_user_pages_remote")

CALLERS: dict[str, Caller] = {c.name: c for c in (
    *(Caller(name, name) for name in _KERNEL),
    Caller("io_uring_register_buffers", "pin_user_pages_fast", FOLL.WRITE | FOLL.LONGTERM, all_or_nothing=True),
    Caller("odirect_read", "pin_user_pages_fast", FOLL.WRITE, holds=False, dma="write", short_error=-Errno.EFAULT),
    Caller("odirect_write", "pin_user_pages_fast", FOLL(0), holds=False, dma="read", short_error=-Errno.EFAULT),
    Caller("process_vm_readv", "pin_user_pages_remote", FOLL(0), holds=False, dma="read"),
    Caller("process_vm_writev", "pin_user_pages_remote", FOLL.WRITE, holds=False, dma="write"),
    Caller("vmsplice", "get_user_pages_fast", FOLL(0)),
    Caller("proc_mem_write", "get_user_pages_remote", FOLL.FORCE | FOLL.WRITE, holds=False, dma="write",
           error=-Errno.EIO),
    Caller("proc_mem_read", "get_user_pages_remote", FOLL.FORCE, holds=False, dma="read", error=-Errno.EIO),
    Caller("madv_populate_read", "populate", FOLL(0), holds=False, populate=True),
    Caller("madv_populate_write", "populate", FOLL.WRITE, holds=False, populate=True),
)}


#: callers whose GUP call passes `locked`, so it may drop the mmap lock (FOLL_UNLOCKABLE):
#: process_vm_rw_single_vec() hands pin_user_pages_remote() its &locked
_UNLOCKABLE_CALLERS = ("process_vm_readv", "process_vm_writev")


def may_drop_mmap_lock(name: str, flags: FOLL) -> bool:
    """Can the GUP call of caller/API `name` with `flags` drop the mmap lock, letting a
    munmap or mprotect (which take it for writing) run in the middle of it?

    The *_fast() fallback can (get_user_pages_unlocked(), today FOLL_UNLOCKABLE) except for
    FOLL_LONGTERM, which before v6.3 ran __gup_longterm_locked() under mmap_read_lock() with
    no `locked` (simplified: for every profile, so the model never invents such a race);
    get_user_pages()/pin_user_pages() and the *_remote() calls with no `locked` (vfio, /proc/pid/mem)
    hold it throughout. MADV_DONTNEED and CPU faults take the lock for reading and may race
    with any call."""
    caller = CALLERS[name]
    if caller.populate or caller.name in _UNLOCKABLE_CALLERS:
        return True  # madvise_populate() -> faultin_page_range() passes &locked too
    return caller.api.endswith("_fast") and not (flags | caller.flags) & FOLL.LONGTERM


def call_api(k: Kernel, api: str, mm: MM, start: int, nr_pages: int, flags: FOLL, pages: list[Folio],
             retry_hook: gup.RetryHook | None) -> int:
    """Dispatch to a GUP entry point by its kernel name."""
    if api == "get_user_pages":
        return gup.get_user_pages(k, mm, start, nr_pages, flags, pages, retry_hook)
    if api == "pin_user_pages":
        return gup.pin_user_pages(k, mm, start, nr_pages, flags, pages, retry_hook)
    if api == "get_user_pages_remote":
        return gup.get_user_pages(k, mm, start, nr_pages, flags, pages, retry_hook, remote=True)
    if api == "pin_user_pages_remote":
        return gup.pin_user_pages(k, mm, start, nr_pages, flags, pages, retry_hook, remote=True)
    if api == "get_user_pages_fast":
        return gup.get_user_pages_fast(k, mm, start, nr_pages, flags, pages, retry_hook)
    if api == "pin_user_pages_fast":
        return gup.pin_user_pages_fast(k, mm, start, nr_pages, flags, pages, retry_hook)
    raise KeyError(api)


def populate(k: Kernel, mm: MM, start: int, nr_pages: int, flags: FOLL) -> int:
    """madvise_populate(): faultin_page_range() until the range is done (pages count, for the
    runner's vocabulary) or fails. Pages faulted in before a hole or a refused VMA stay
    faulted in: there is no check of the whole range up front. __get_user_pages() reports a
    hole as -ENOMEM and a refused VMA as -EINVAL under FOLL_MADV_POPULATE."""
    addr, end = start, start + nr_pages
    stalled = 0
    while addr < end:
        ret = gup.__get_user_pages(k, mm, addr, end - addr, flags | FOLL.TOUCH | FOLL.MADV_POPULATE, None)
        if ret < 0:
            return ret
        addr += ret
        # madvise_populate() loops until the range is done: a faultin_page_range() that makes no
        # progress (returns 0) would spin until a fatal signal, a livelock like the seed's
        stalled = stalled + 1 if ret == 0 else 0
        if k.budget.limit is not None and stalled > k.budget.limit:
            raise Livelock("madvise_populate", stalled, f"faultin_page_range() at page {addr} keeps returning 0 "
                           "pages", k.trace.events[-6:], k.describe_folios())
    return nr_pages


def entry_point(profile: Profile, caller: Caller) -> str:
    """The GUP entry point `caller` calls on `profile`: io_uring registered buffers with
    pin_user_pages() under mmap_read_lock() until 1943f96b3816 (v6.10) made io_pin_pages() use
    pin_user_pages_fast(); `Caller.api` is today's."""
    if caller.name == "io_uring_register_buffers" and not profile.has("io_uring_pin_fast"):
        return "pin_user_pages"
    return caller.api


def _has_vm_file(vma: Vma) -> bool:
    """vma->vm_file is set: a file or shmem mapping (shared anonymous memory too, through
    shmem_zero_setup()), or a driver's mapping of its device file (VM_MIXEDMAP, VM_PFNMAP)."""
    return vma.file is not None or vma.backing in ("mixedmap", "pfnmap")


def _vma_is_shmem(vma: Vma) -> bool:
    return vma.file is not None and vma.file.kind == "shmem"


def io_uring_refused_vma(profile: Profile, mm: MM, start: int, nr_pages: int) -> Vma | None:
    """The VMA for which io_sqe_buffer_register() (io_pin_pages() from v6.0) fails a registration
    GUP pinned in full with -EOPNOTSUPP, or None: one with a vm_file that is not hugetlb (the
    model has none) nor, from 40dad765c045 (v5.14), shmem. The kernel looks at the vmas[] GUP
    filled in; the model looks the range up after the call, which is the same VMAs because the
    long-term pin holds the mmap lock throughout (only zaps and faults, which keep VMAs, race
    with it). From 34ed8d0dcd69 (v6.5) io_uring has no check of its own."""
    if not profile.has("io_uring_refuses_file_vmas"):
        return None
    for addr in range(start, start + nr_pages):
        vma = mm.find_vma(addr)
        if vma is None or not _has_vm_file(vma):
            continue
        if profile.has("io_uring_shmem_buffers") and _vma_is_shmem(vma):
            continue
        return vma
    return None


def caller_missing(profile: Profile, caller: Caller) -> str | None:
    """Why a user-space entry point is not there on `profile` (as the model's caller does it), or None."""
    if caller.name == "io_uring_register_buffers" and not profile.has("io_uring_buffers"):
        return f"{caller.name}: io_uring does not exist before v5.1 (2b188cc1bb85, edafccee56ff)"
    if caller.populate and not profile.has("madv_populate"):
        return f"{caller.name}: MADV_POPULATE_READ/WRITE do not exist before v5.14 (4ca9b3859dac)"
    if caller.name.startswith("odirect_") and not profile.has("odirect_pins"):
        return (f"{caller.name}: direct I/O took FOLL_GET references, not pins, before v6.5 "
                "(b7c96963925f); the model's caller pins")
    return None
