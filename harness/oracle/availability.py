"""Can the oracle run here? Each reason is something a test should skip on, not fail."""

from __future__ import annotations

import functools
import os
import platform
import struct
import sys

import attrs


@attrs.frozen
class Availability:
    ok: bool
    reason: str | None = None
    #: a block-filesystem directory for O_DIRECT and "file" VMAs (None: those are not drivable)
    block_dir: str | None = None


@functools.cache
def availability() -> Availability:
    """Checked once per process: platform, root-visible PFNs, kpageflags, io_uring."""
    if not sys.platform.startswith("linux"):
        return Availability(False, f"the live-kernel oracle needs Linux (this is {sys.platform})")
    if platform.machine() != "x86_64":
        return Availability(False, f"syscall numbers are for x86_64 (this is {platform.machine()})")
    if os.geteuid() != 0:
        return Availability(False, "not root: /proc/self/pagemap shows PFN 0, so page identity cannot be judged")
    try:
        fd = os.open("/proc/kpageflags", os.O_RDONLY)
        try:
            if len(os.pread(fd, 8, 0)) != 8:
                raise OSError("short read")
        finally:
            os.close(fd)
    except OSError as exc:
        return Availability(False, f"/proc/kpageflags unreadable ({exc})")
    if not _pfn_visible():
        return Availability(False, "/proc/self/pagemap hides PFNs (zero even as root)")
    reason = _io_uring_unavailable()
    if reason:
        return Availability(False, reason)
    from .files import block_dir  # after the cheap checks

    return Availability(True, None, block_dir())


def _pfn_visible() -> bool:
    import mmap

    buf = mmap.mmap(-1, 4096)
    try:
        buf[0] = 1  # fault it in
        import ctypes

        addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
        fd = os.open("/proc/self/pagemap", os.O_RDONLY)
        try:
            entry = struct.unpack("<Q", os.pread(fd, 8, (addr // 4096) * 8))[0]
        finally:
            os.close(fd)
        return bool(entry >> 63) and bool(entry & ((1 << 55) - 1))
    finally:
        try:
            buf.close()
        except BufferError:
            pass


def _io_uring_unavailable() -> str | None:
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            if f.read().strip() not in ("0", ""):
                return "io_uring disabled (kernel.io_uring_disabled != 0)"
    except OSError:
        pass
    from .uring import Ring

    ring = Ring()
    if not ring.ok:
        return f"io_uring_setup failed (errno {-ring.fd})"
    ring.close()
    return None
