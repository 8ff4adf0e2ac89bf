"""Backing files for the oracle: ext4 temporaries (O_TMPFILE) and memfds.

O_TMPFILE files have no name, so nothing is left on disk even when the child is
killed; the page cache and blocks go away with the last fd or mapping.
"""

from __future__ import annotations

import os

from .syscalls import PAGE

#: filesystems with real block-backed O_DIRECT and writeback (tmpfs copies instead of pinning)
BLOCK_FILESYSTEMS = ("ext4", "ext3", "ext2", "xfs", "btrfs", "f2fs")
CANDIDATE_DIRS = ("/var/tmp", "/tmp")


def fs_type(path: str) -> str | None:
    """Filesystem type of the mount holding `path` (longest mount-point prefix in mountinfo)."""
    path = os.path.realpath(path)
    best, kind = "", None
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                mount_point = left.split()[4]
                if (path == mount_point or path.startswith(mount_point.rstrip("/") + "/")) and len(mount_point) >= len(best):
                    best, kind = mount_point, right.split()[0]
    except OSError:
        return None
    return kind


def block_dir() -> str | None:
    """A directory on a block filesystem where O_TMPFILE works, or None."""
    for candidate in CANDIDATE_DIRS:
        if fs_type(candidate) not in BLOCK_FILESYSTEMS:
            continue
        try:
            fd = os.open(candidate, os.O_TMPFILE | os.O_RDWR, 0o600)
        except OSError:
            continue
        os.close(fd)
        return candidate
    return None


def page_pattern(pages: int, salt: int = 0) -> bytes:
    """Recognisable content: page i is filled with 0xA0 + (i + salt) % 16."""
    return b"".join(bytes([0xA0 + (i + salt) % 16]) * PAGE for i in range(pages))


def block_file(directory: str, pages: int, sync: bool = True) -> int:
    """An unnamed ext4 file of `pages` pages of pattern content, with allocated blocks.

    Written one page per write(): a buffered write picks its page-cache folio size from the
    write's length, so this leaves order-0 folios in the page cache, as the model has them
    (one large write would leave large folios, which fault in whole on 6.18)."""
    fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    data = page_pattern(pages)
    for offset in range(0, len(data), PAGE):
        written = 0
        while written < PAGE:
            written += os.pwrite(fd, data[offset + written:offset + PAGE], offset + written)
    if sync:
        os.fdatasync(fd)
    return fd


def reopen_direct(fd: int) -> int:
    """A second, O_DIRECT file description of the same inode."""
    return os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_DIRECT | os.O_CLOEXEC)


def shmem_file(pages: int) -> int:
    fd = os.memfd_create("gup-oracle", os.MFD_CLOEXEC)
    os.ftruncate(fd, pages * PAGE)
    return fd
