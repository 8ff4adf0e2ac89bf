"""What a live property needs beyond the observation vocabulary: page contents and pinned-vm.

For the live hunt and the differential check (run_live(..., probe=True)); the C export does
not ask for it, so its syscall sequence is unchanged.

Every write the oracle makes stores a tag naming the op that wrote it (`tag`), so the first
byte of a page says which write it shows. A probe reads, without faulting anything in:
- each scenario process's view: the first byte of every page it maps present and readable
  (pagemap bit 63 and /proc/self/maps), i.e. a CPU read in that process;
- the page cache: the first byte of each page of every file/shmem VMA's backing file,
  through a separate file descriptor (pread, which maps nothing and, on shmem, does not
  allocate a hole);
- VmPin from /proc/self/status (mm->pinned_vm: pages pinned by io_uring registrations), of
  process 0 and, with the page observations below, of every live process;
- each live process's page observations (the vocabulary of harness/observe.py, identity
  relative to that process's previous probe, "new" at its first) and /proc/kpagecount of
  each present page (its mapcount), for conform's comparison of every process;
- the kernel log (/dev/kmsg) since the previous probe: WARNING/BUG/Oops records, kept only when
  the records logged with them name the pid of one of the scenario's processes (the log is
  the whole machine's; another process's splat is not the scenario's).
"""

from __future__ import annotations

import ctypes
import os
import re

import attrs

from ..observe import PageObservation, decode_pages, encode_pages
from .syscalls import PAGE

#: the byte a layout "w" fault writes (process 0, before any op and any fork)
LAYOUT_TAG = 0xFE
#: op i writes FIRST_OP_TAG + i, for i < OP_TAGS; later ops all write LAST_TAG (not attributable)
FIRST_OP_TAG = 0x01
OP_TAGS = 0x9E
LAST_TAG = 0xFD
#: bytes that never name a write: 0 (a fresh anon or shmem page, the zero page) and the file
#: pattern 0xA0..0xAF (files.page_pattern) a layout's files start with
UNTAGGED = frozenset({0, *range(0xA0, 0xB0)})


def tag(op: int) -> int:
    """The byte op number `op` writes (CPU, forced or remote write, O_DIRECT read, device write)."""
    return FIRST_OP_TAG + op if 0 <= op < OP_TAGS else LAST_TAG


def writer_of(value: int) -> int | None:
    """The op number a byte names; -1 for the layout; None when it names no single write."""
    if value == LAYOUT_TAG:
        return -1
    if FIRST_OP_TAG <= value < FIRST_OP_TAG + OP_TAGS:
        return value - FIRST_OP_TAG
    return None


@attrs.frozen
class Probe:
    """Contents and pinned-vm after op `op` (-1: after the layout; None: after the final clean-up)."""

    op: int | None
    #: scenario process number -> first byte of each page of the area (None: not mapped present
    #: and readable there, so reading would fault)
    views: dict[int, tuple[int | None, ...]] = attrs.field(factory=dict)
    #: layout index of a file/shmem VMA -> first byte of each of its file's pages
    files: dict[int, tuple[int, ...]] = attrs.field(factory=dict)
    #: process 0's VmPin in kB (None when it could not be read)
    vmpin: int | None = None
    #: WARNING/BUG/Oops lines the kernel logged for a scenario process since the previous probe
    #: (None: /dev/kmsg could not be read)
    kernel_log: tuple[str, ...] | None = None
    #: scenario process number -> its page observations (pagemap + kpageflags)
    pages: dict[int, tuple[PageObservation, ...]] = attrs.field(factory=dict)
    #: scenario process number -> /proc/kpagecount of each page it maps present (None: absent)
    mapcounts: dict[int, tuple[int | None, ...]] = attrs.field(factory=dict)
    #: scenario process number -> its VmPin in kB (None: unreadable)
    vmpins: dict[int, int | None] = attrs.field(factory=dict)


def encode_probe(probe: Probe) -> list:
    return [probe.op, {str(k): list(v) for k, v in probe.views.items()},
            {str(k): list(v) for k, v in probe.files.items()}, probe.vmpin,
            None if probe.kernel_log is None else list(probe.kernel_log),
            {str(k): encode_pages(v) for k, v in probe.pages.items()},
            {str(k): list(v) for k, v in probe.mapcounts.items()}, {str(k): v for k, v in probe.vmpins.items()}]


def decode_probe(row: list) -> Probe:
    op, views, file_rows, vmpin, log, pages, counts, vmpins = row
    return Probe(op, {int(k): tuple(v) for k, v in views.items()}, {int(k): tuple(v) for k, v in file_rows.items()},
                 vmpin, None if log is None else tuple(log), {int(k): decode_pages(v) for k, v in pages.items()},
                 {int(k): tuple(v) for k, v in counts.items()}, {int(k): v for k, v in vmpins.items()})


@attrs.frozen
class Look:
    """What one scenario process shows of itself (Executor.look): a Probe's per-process parts."""

    view: tuple[int | None, ...]
    pages: tuple[PageObservation, ...]
    mapcounts: tuple[int | None, ...]
    vmpin: int | None

    def encode(self) -> list:
        return [list(self.view), encode_pages(self.pages), list(self.mapcounts), self.vmpin]

    @classmethod
    def decode(cls, row: list) -> Look:
        view, pages, counts, vmpin = row
        return cls(tuple(view), decode_pages(pages), tuple(counts), vmpin)


#: the first line of a kernel splat (WARN_ON, BUG_ON, VM_BUG_ON_*, bad page state, an oops)
SPLAT = re.compile(r"WARNING:|BUG:|kernel BUG at|Oops|general protection fault")


class KernelLog:
    """/dev/kmsg from the moment it is opened; None-valued reads when it cannot be opened."""

    def __init__(self) -> None:
        try:
            self.fd: int | None = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            self.fd = None

    def splats(self, pids: list[int]) -> tuple[str, ...] | None:
        """Splat lines logged since the last call, if the records among them name one of `pids`."""
        if self.fd is None:
            return None
        messages = []
        while True:
            try:
                record = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:  # records overwritten before we read them: go on from the next
                continue
            except OSError:
                return None
            if not record:
                break
            messages.append(record.decode(errors="replace").split(";", 1)[-1].strip())
        bad = [m.splitlines()[0] for m in messages if SPLAT.search(m)]
        ours = any(re.search(rf"\b(PID|pid)[: ]+{pid}\b", m) for m in messages for pid in pids)
        return tuple(bad) if bad and ours else ()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def readable_ranges() -> list[tuple[int, int]]:
    """[lo, hi) of this process's readable VMAs, from /proc/self/maps."""
    ranges = []
    with open("/proc/self/maps", "rb") as f:
        for line in f:
            span, perms = line.split(b" ", 2)[:2]
            if perms[:1] == b"r":
                lo, hi = (int(x, 16) for x in span.split(b"-"))
                ranges.append((lo, hi))
    return ranges


def view(base: int, pages: int, entries: tuple[int, ...]) -> tuple[int | None, ...]:
    """The first byte of each present, readable page from `base` (`entries`: its pagemap entries)."""
    ranges = readable_ranges()
    seen: list[int | None] = []
    for i, entry in enumerate(entries[:pages]):
        addr = base + i * PAGE
        if entry >> 63 and any(lo <= addr < hi for lo, hi in ranges):
            seen.append(ctypes.c_ubyte.from_address(addr).value)
        else:
            seen.append(None)
    return tuple(seen)


def file_bytes(fd: int, pages: int) -> tuple[int, ...]:
    """The first byte of each page of the file behind fd, read through the file (not a mapping)."""
    return tuple((os.pread(fd, 1, i * PAGE) or b"\0")[0] for i in range(pages))


def vmpin_kb() -> int | None:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmPin:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
