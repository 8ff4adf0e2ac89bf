"""Minimal io_uring: a ring with one registered buffer, and fixed reads/writes.

IORING_REGISTER_BUFFERS is the one userspace path to a long-term FOLL_PIN
(pin_user_pages_fast with FOLL_WRITE|FOLL_LONGTERM). IORING_OP_READ_FIXED and
IORING_OP_WRITE_FIXED then move data through the pinned pages themselves, not through
the page tables: exactly what a device doing DMA into/out of a pin does.
"""

from __future__ import annotations

import ctypes
import mmap as _mmap
import os
import struct

from . import syscalls as sc

IORING_REGISTER_BUFFERS = 0
IORING_UNREGISTER_BUFFERS = 1
IORING_OP_READ_FIXED = 4
IORING_OP_WRITE_FIXED = 5
IORING_ENTER_GETEVENTS = 1
IORING_OFF_SQ_RING = 0
IORING_OFF_CQ_RING = 0x8000000
IORING_OFF_SQES = 0x10000000
IORING_FEAT_SINGLE_MMAP = 1

_PARAMS_SIZE = 120
_SQE_SIZE = 64
_CQE_SIZE = 16


class Ring:
    """One io_uring instance; `buffer` is the registered (addr, length) while pinned."""

    def __init__(self) -> None:
        self.params = ctypes.create_string_buffer(_PARAMS_SIZE)
        self.fd = sc.syscall(sc.SYS_IO_URING_SETUP, 4, ctypes.addressof(self.params))
        self.buffer: tuple[int, int] | None = None
        self._maps: list[_mmap.mmap] = []

    @property
    def ok(self) -> bool:
        return self.fd >= 0

    def register(self, addr: int, length: int) -> int:
        """0 or -errno; all or nothing (the kernel unpins on partial failure)."""
        iov = sc.Iovec(addr, length)
        result = sc.syscall(sc.SYS_IO_URING_REGISTER, self.fd, IORING_REGISTER_BUFFERS, ctypes.addressof(iov), 1)
        if result >= 0:
            self.buffer = (addr, length)
        return result

    def unregister(self) -> int:
        if self.buffer is None:
            return 0
        self.buffer = None
        return sc.syscall(sc.SYS_IO_URING_REGISTER, self.fd, IORING_UNREGISTER_BUFFERS, None, 0)

    def close(self) -> None:
        self.unregister()
        for m in self._maps:
            m.close()
        self._maps = []
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _rings(self) -> tuple[_mmap.mmap, _mmap.mmap, _mmap.mmap]:
        if not self._maps:
            raw = self.params.raw
            sq_entries, cq_entries, _flags, _cpu, _idle, features = struct.unpack_from("6I", raw, 0)
            sq_off = struct.unpack_from("7I", raw, 40)  # head tail mask entries flags dropped array
            cq_off = struct.unpack_from("6I", raw, 80)  # head tail mask entries overflow cqes
            sq_size = sq_off[6] + sq_entries * 4
            cq_size = cq_off[5] + cq_entries * _CQE_SIZE
            if features & IORING_FEAT_SINGLE_MMAP:
                sq_size = cq_size = max(sq_size, cq_size)
            sq = _mmap.mmap(self.fd, sq_size, offset=IORING_OFF_SQ_RING)
            cq = sq if features & IORING_FEAT_SINGLE_MMAP else _mmap.mmap(self.fd, cq_size, offset=IORING_OFF_CQ_RING)
            sqes = _mmap.mmap(self.fd, sq_entries * _SQE_SIZE, offset=IORING_OFF_SQES)
            self._maps = [sq, sqes] + ([] if cq is sq else [cq])
            self._sq_off, self._cq_off = sq_off, cq_off
        sq, sqes = self._maps[0], self._maps[1]
        cq = self._maps[2] if len(self._maps) > 2 else sq
        return sq, cq, sqes

    def fixed_io(self, write: bool, fd: int, addr: int, length: int, offset: int) -> int:
        """READ_FIXED (file -> pinned pages) or WRITE_FIXED (pinned pages -> file); bytes or -errno."""
        sq, cq, sqes = self._rings()
        _head, tail, mask = (struct.unpack_from("I", sq, o)[0] for o in self._sq_off[:3])
        index = tail & mask
        opcode = IORING_OP_WRITE_FIXED if write else IORING_OP_READ_FIXED
        sqe = struct.pack("<BBHiQQIIQHHiQQ", opcode, 0, 0, fd, offset, addr, length, 0, 0x5A, 0, 0, 0, 0, 0)
        sqes[index * _SQE_SIZE:(index + 1) * _SQE_SIZE] = sqe
        struct.pack_into("I", sq, self._sq_off[6] + index * 4, index)
        struct.pack_into("I", sq, self._sq_off[1], tail + 1)
        submitted = sc.syscall(sc.SYS_IO_URING_ENTER, self.fd, 1, 1, IORING_ENTER_GETEVENTS, None, 0)
        if submitted < 0:
            return submitted
        cq_head, cq_tail, cq_mask = (struct.unpack_from("I", cq, o)[0] for o in self._cq_off[:3])
        if cq_head == cq_tail:
            return -5  # EIO: no completion although we waited for one
        _user_data, res, _flags = struct.unpack_from("<QiI", cq, self._cq_off[5] + (cq_head & cq_mask) * _CQE_SIZE)
        struct.pack_into("I", cq, self._cq_off[0], cq_head + 1)
        return res
