"""FOLL_*, VM_* and FAULT_FLAG_* bits and errno values, named as in the kernel.

Bit values are our own; only the names and meanings follow include/linux/mm.h.
"""

from __future__ import annotations

import enum
import functools


class FOLL(enum.IntFlag):
    WRITE = 1 << 0
    GET = 1 << 1
    PIN = 1 << 2
    FORCE = 1 << 3
    LONGTERM = 1 << 4
    NOFAULT = 1 << 5
    ANON = 1 << 6
    REMOTE = 1 << 7
    TOUCH = 1 << 8
    #: v4.9..v5.19 only: GUP itself broke COW on this page (19be0eaffa3a), removed by 5535be309971
    COW = 1 << 9
    FAST_ONLY = 1 << 10
    UNLOCKABLE = 1 << 11
    #: fault-in only (MADV_POPULATE_*): no page references are kept
    MADV_POPULATE = 1 << 12


#: flags a caller must never pass: set by the API itself (mm/internal.h INTERNAL_GUP_FLAGS)
INTERNAL_GUP_FLAGS = FOLL.TOUCH | FOLL.REMOTE | FOLL.PIN | FOLL.FAST_ONLY | FOLL.UNLOCKABLE | FOLL.MADV_POPULATE | FOLL.COW


def foll_from_names(names: tuple[str, ...] | list[str]) -> FOLL:
    return _foll_from_names(tuple(names))


@functools.lru_cache(maxsize=1024)
def _foll_from_names(names: tuple[str, ...]) -> FOLL:
    value = FOLL(0)
    for name in names:
        value |= FOLL[name.removeprefix("FOLL_")]
    return value


def foll_names(flags: FOLL) -> str:
    names = [f"FOLL_{f.name}" for f in FOLL if f & flags]
    return "|".join(names) if names else "0"


class VM(enum.IntFlag):
    READ = 1 << 0
    WRITE = 1 << 1
    EXEC = 1 << 2
    SHARED = 1 << 3
    MAYREAD = 1 << 4
    MAYWRITE = 1 << 5
    MAYSHARE = 1 << 7
    IO = 1 << 8
    PFNMAP = 1 << 9
    MIXEDMAP = 1 << 10


def vm_names(flags: VM) -> str:
    return "|".join(f"VM_{f.name}" for f in VM if f & flags) or "0"


class FAULT_FLAG(enum.IntFlag):
    WRITE = 1 << 0
    REMOTE = 1 << 1
    UNSHARE = 1 << 2


def int_arithmetic(flag_class: type[enum.IntFlag]) -> None:
    """Bit arithmetic on these flags as plain ints. enum.Flag makes every `&` and `|` look up
    or build a member through three Python-level calls; the model tests bits millions of times
    per search, where that was about a tenth of a search's time. A combined value is therefore
    an int at run time (a member where none was combined); names come from foll_names() and
    vm_names(), which work on either. `~` stays enum's (complement within the defined bits)."""
    for name in ("__and__", "__rand__", "__or__", "__ror__", "__xor__", "__rxor__"):
        setattr(flag_class, name, getattr(int, name))


for _flag_class in (FOLL, VM, FAULT_FLAG):
    int_arithmetic(_flag_class)


class Errno(enum.IntEnum):
    ESRCH = 3
    EINTR = 4
    EIO = 5
    EAGAIN = 11
    ENOMEM = 12
    EFAULT = 14
    EEXIST = 17
    EBUSY = 16
    EINVAL = 22
    EOPNOTSUPP = 95
    EMLINK = 31  # follow_page_pte's private "must unshare" signal (v5.19+)


def errno_name(value: int) -> str:
    try:
        return "-" + Errno(-value).name
    except ValueError:
        return str(value)
