"""Thin ctypes wrappers for the syscalls the oracle drives.

Every wrapper returns the kernel's result as an int: >= 0 on success, -errno on
failure, never raising. That is the vocabulary the observations use (page count or
-errno), and it keeps the forked child free of exception plumbing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

PAGE = 4096

PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MAP_SHARED, MAP_PRIVATE = 0x01, 0x02
MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE = 0x10, 0x20, 0x4000
MAP_FIXED_NOREPLACE = 0x100000
MAP_FAILED = ctypes.c_void_p(-1).value

MADV_DONTNEED = 4
MADV_COLD = 20
MADV_POPULATE_READ = 22
MADV_POPULATE_WRITE = 23

SPLICE_F_NONBLOCK = 0x02
F_SETPIPE_SZ = 1031

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

# x86_64 syscall numbers
SYS_IO_URING_SETUP = 425
SYS_IO_URING_ENTER = 426
SYS_IO_URING_REGISTER = 427

PROTS = {"rw": PROT_READ | PROT_WRITE, "r": PROT_READ, "none": PROT_NONE}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
for _name in ("munmap", "mprotect", "madvise"):
    getattr(_libc, _name).restype = ctypes.c_int
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long
_libc.pread.restype = ctypes.c_ssize_t
_libc.pread.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long]
_libc.pwrite.restype = ctypes.c_ssize_t
_libc.pwrite.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_long]
_libc.vmsplice.restype = ctypes.c_ssize_t
_libc.vmsplice.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint]
_libc.tee.restype = ctypes.c_ssize_t
_libc.tee.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
_libc.process_vm_readv.restype = ctypes.c_ssize_t
_libc.process_vm_readv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
_libc.process_vm_writev.restype = ctypes.c_ssize_t
_libc.process_vm_writev.argtypes = _libc.process_vm_readv.argtypes
_libc.prctl.restype = ctypes.c_int
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


class Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


def _ret(value: int) -> int:
    """Turn a libc -1 into -errno."""
    return -ctypes.get_errno() if value == -1 else value


def mmap(addr: int, length: int, prot: int, flags: int, fd: int = -1, offset: int = 0) -> int:
    """Address of the new mapping, or -errno."""
    ctypes.set_errno(0)
    result = _libc.mmap(addr, length, prot, flags, fd, offset)
    if result is None or result == MAP_FAILED:
        return -ctypes.get_errno()
    return int(result)


def munmap(addr: int, length: int) -> int:
    return _ret(_libc.munmap(addr, length))


def mprotect(addr: int, length: int, prot: int) -> int:
    return _ret(_libc.mprotect(addr, length, prot))


def madvise(addr: int, length: int, advice: int) -> int:
    return _ret(_libc.madvise(addr, length, advice))


def syscall(number: int, *args: int | ctypes.c_void_p | None) -> int:
    converted = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return _ret(_libc.syscall(ctypes.c_long(number), *converted))


def pread_into(fd: int, addr: int, length: int, offset: int) -> int:
    """read() into raw memory: the user buffer the kernel will GUP."""
    return _ret(_libc.pread(fd, addr, length, offset))


def pwrite_from(fd: int, addr: int, length: int, offset: int) -> int:
    return _ret(_libc.pwrite(fd, addr, length, offset))


def vmsplice(pipe_w: int, addr: int, length: int) -> int:
    iov = Iovec(addr, length)
    return _ret(_libc.vmsplice(pipe_w, ctypes.addressof(iov), 1, SPLICE_F_NONBLOCK))


def tee(pipe_r: int, pipe_w: int, length: int) -> int:
    """Duplicate pipe buffers (taking page references) without consuming them."""
    return _ret(_libc.tee(pipe_r, pipe_w, length, SPLICE_F_NONBLOCK))


def process_vm_rw(pid: int, local: int, remote: int, length: int, write: bool) -> int:
    """process_vm_readv/writev with one iovec each side; `remote` is the GUP'd side."""
    liov = Iovec(local, length)
    riov = Iovec(remote, length)
    fn = _libc.process_vm_writev if write else _libc.process_vm_readv
    return _ret(fn(pid, ctypes.addressof(liov), 1, ctypes.addressof(riov), 1, 0))


def prctl(option: int, arg: int) -> int:
    return _ret(_libc.prctl(option, arg, 0, 0, 0))


def os_call(fn: Callable[..., int | bytes], *args: object) -> int:
    """Run an os.* call that returns a count, mapping OSError to -errno."""
    try:
        result = fn(*args)
    except OSError as exc:
        return -(exc.errno or 5)
    return len(result) if isinstance(result, (bytes, bytearray)) else int(result)


def peek(addr: int) -> int:
    """A CPU read of one byte (the caller has checked that it cannot fault)."""
    return ctypes.c_ubyte.from_address(addr).value


def poke(addr: int, value: int) -> None:
    """A CPU write of one byte (the caller has checked that it cannot fault)."""
    ctypes.c_ubyte.from_address(addr).value = value & 0xFF
