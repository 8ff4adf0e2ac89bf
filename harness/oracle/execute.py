"""Map a Scenario onto real syscalls, in the process that runs it.

An Executor lives in one process of the scenario. Process 0 is the forked child of the
test run; every Fork op forks the process that executes it, and the new process serves
the ops addressed to it over a pipe (it holds a copy of the scenario and of the
executor, so only op numbers travel). Steps observe process 0; a probe asks every live
process to look at itself (look()).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import select
import signal

import attrs

from .. import scenario as sc_mod
from ..observe import PageObservation
from ..scenario import (
    CpuRead,
    CpuWrite,
    DmaRead,
    DmaWrite,
    Exit,
    Fork,
    Gup,
    MadvDontneed,
    Mprotect,
    Munmap,
    Release,
    Scenario,
)
from . import files, probe
from . import syscalls as sc
from .procfs import Procfs
from .syscalls import PAGE
from .uring import Ring

#: where the test area goes: far below the heap and the mmap area, so that the kernel's
#: top-down search never places Python's own mappings in the holes we unmap.
AREA_HINT = 0x2AAA_0000_0000
#: fault_around_bytes (64 KiB): page 0 of the area starts a fault-around window
FAULT_AROUND_ALIGN = 16 * 4096
EFAULT = 14


#: the FOLL flags each userspace caller passes by itself (GUP_HISTORY.md section 8); a
#: scenario naming one of these is describing the same call, naming others is not drivable
CALLER_IMPLIED: dict[str, set[str]] = {
    "io_uring_register_buffers": {"FOLL_PIN", "FOLL_WRITE", "FOLL_LONGTERM"},
    "odirect_read": {"FOLL_PIN", "FOLL_WRITE"},
    "odirect_write": {"FOLL_PIN"},
    "process_vm_readv": {"FOLL_PIN"},
    "process_vm_writev": {"FOLL_PIN", "FOLL_WRITE"},
    "vmsplice": {"FOLL_GET"},
    "proc_mem_write": {"FOLL_GET", "FOLL_FORCE", "FOLL_WRITE"},
    "proc_mem_read": {"FOLL_GET", "FOLL_FORCE"},
    "madv_populate_read": set(),
    "madv_populate_write": {"FOLL_WRITE"},
}


class NotDrivable(Exception):
    """The live kernel offers no userspace path for this part of the scenario."""


@attrs.frozen
class DmaCheck:
    """Whether a device access through a pin agreed with the pinning process' mapping.

    coherent is None when the mapping could not be read without faulting (absent page or
    no read permission): a CPU read would change what we want to compare.
    """

    op: int
    kind: str
    coherent: bool | None
    #: for a device read: the first byte the device read (which write it shows, probe.writer_of)
    seen: int | None = None


@attrs.define
class Held:
    """What a Gup op still holds: an io_uring ring, a vmsplice pipe, or nothing (transient)."""

    api: str
    addr: int
    pages: int
    ring: Ring | None = None
    pipe: tuple[int, int] | None = None


def area_pages(scenario: Scenario) -> int:
    """Pages to reserve: everything the layout or an op names, plus one guard page."""
    end = scenario.span

    def visit(op: object) -> None:
        nonlocal end
        if isinstance(op, (Gup, Munmap, Mprotect, MadvDontneed)):
            end = max(end, op.start + op.pages)
            for inner in getattr(op, "interleave", ()):
                visit(inner)
        elif isinstance(op, (CpuRead, CpuWrite)):
            end = max(end, op.page + 1)

    for op in scenario.ops:
        visit(op)
    return end + 1


def check_layout(scenario: Scenario) -> None:
    for i, vma in enumerate(scenario.layout):
        if vma.backing == "pfnmap":
            raise NotDrivable(f"layout[{i}]: pfnmap not drivable on the live kernel (no userspace PFN map)")
        if vma.backing == "mixedmap":
            raise NotDrivable(f"layout[{i}]: mixedmap not drivable on the live kernel (it needs a driver that "
                              "maps its own pages with VM_MIXEDMAP)")
        if vma.placement != "normal":
            raise NotDrivable(f"layout[{i}]: placement {vma.placement!r} not drivable on the live kernel (no CMA/ZONE_MOVABLE here)")


class Executor:
    """The scenario's state inside one process."""

    def __init__(self, scenario: Scenario, block_dir: str | None, probing: bool = False) -> None:
        self.scenario = scenario
        self.block_dir = block_dir
        #: the live hunt's extra observations (probe.py): keep each VMA's backing file open
        #: and fill the O_DIRECT source with the op's tag
        self.probing = probing
        #: layout index -> an fd of that VMA's backing file (only while probing)
        self.files: dict[int, int] = {}
        self.area = area_pages(scenario)
        self.base = 0
        self.area_mapped = False
        self.held: dict[int, Held] = {}
        self.number = 0  # which scenario process this is
        self._procfs: Procfs | None = None
        self._procfs_pid = 0
        self._dio: tuple[int, int] | None = None  # (buffered fd, O_DIRECT fd) of the scratch ext4 file
        self._dio_pages = 0
        self._scratch: int | None = None  # memfd the device reads from / writes to
        self._mem_fd: int | None = None
        self._mem_pid = 0
        self._lru_scratch: int | None = None
        self._lru_scratch_pid = 0
        #: PFNs at this process's previous look() (None: it has not looked yet)
        self._looked: tuple[int, ...] | None = None
        # multi-process plumbing: command/result pipes per future process, filled by process 0
        self.pipes: dict[int, tuple[int, int, int, int]] = {}
        self.fork_number: dict[int, int] = {}
        self.dma_checks: list[DmaCheck] = []
        #: fds a forked scenario process must not keep (the report pipe to the test run)
        self.close_on_fork: list[int] = []

    # ---- resources -------------------------------------------------------------------
    @property
    def procfs(self) -> Procfs:
        if self._procfs is None or self._procfs_pid != os.getpid():
            self._procfs = Procfs()  # /proc/self binds at open time: reopen after fork
            self._procfs_pid = os.getpid()
        return self._procfs

    def _direct(self, pages: int) -> int:
        if self.block_dir is None:
            raise NotDrivable("O_DIRECT needs a block filesystem directory; none found")
        if self._dio is None or self._dio_pages < pages:
            self._close_dio()
            size = max(pages, 16)
            fd = files.block_file(self.block_dir, size)
            self._dio = (fd, files.reopen_direct(fd))
            self._dio_pages = size
        return self._dio[1]

    def _close_dio(self) -> None:
        if self._dio is not None:
            os.close(self._dio[0])
            os.close(self._dio[1])
            self._dio = None

    def _scratch_fd(self) -> int:
        if self._scratch is None:
            self._scratch = files.shmem_file(1)
        return self._scratch

    # ---- layout ----------------------------------------------------------------------
    def setup(self) -> None:
        """Reserve the area, map each VMA and fault its pages, then set protections, unmap the holes."""
        check_layout(self.scenario)
        length = self.area * PAGE
        flags = sc.MAP_PRIVATE | sc.MAP_ANONYMOUS | sc.MAP_NORESERVE
        base = sc.mmap(AREA_HINT, length, sc.PROT_NONE, flags | sc.MAP_FIXED_NOREPLACE)
        if base < 0:
            # anywhere, but aligned like AREA_HINT's page numbers: a read fault's fault-around
            # window is aligned on the virtual address (FAULT_AROUND_ALIGN), as the model assumes
            base = sc.mmap(0, length + FAULT_AROUND_ALIGN, sc.PROT_NONE, flags)
            if base >= 0:
                aligned = -(-base // FAULT_AROUND_ALIGN) * FAULT_AROUND_ALIGN
                if aligned > base:
                    sc.munmap(base, aligned - base)
                sc.munmap(aligned + length, base + FAULT_AROUND_ALIGN - aligned)
                base = aligned
        if base < 0:
            raise OSError(-base, "cannot reserve the test area")
        self.base = base
        self.area_mapped = True
        layout = sorted(self.scenario.layout, key=lambda v: v.start)
        for vma in layout:
            self._map(vma, self.scenario.layout.index(vma))
        # Protections only once every VMA is mapped and faulted, as the model's layout does
        # (vmops.mmap_layout): neighbours mapped alike merge first, so a read-only VMA split off
        # a written neighbour shares its anon_vma, which decides whether fork copies its PTEs.
        for vma in layout:
            if vma.prot != "rw":
                sc.mprotect(self.addr(vma.start), vma.pages * PAGE, sc.PROTS[vma.prot])
        edge = 0  # only now unmap the holes (and the guard) so GUP there meets no VMA at all
        for vma in layout:
            if vma.start > edge:
                sc.munmap(self.addr(edge), (vma.start - edge) * PAGE)
            edge = max(edge, vma.end)
        if self.area > edge:
            sc.munmap(self.addr(edge), (self.area - edge) * PAGE)

    def _map(self, vma: sc_mod.Vma, number: int) -> None:
        addr, length = self.addr(vma.start), vma.pages * PAGE
        share = sc.MAP_SHARED if vma.share == "shared" else sc.MAP_PRIVATE
        rw = sc.PROT_READ | sc.PROT_WRITE
        fd = -1
        if vma.backing == "anon":
            result = sc.mmap(addr, length, rw, share | sc.MAP_FIXED | sc.MAP_ANONYMOUS)
        else:
            if vma.backing == "shmem":
                fd = files.shmem_file(vma.pages)
            else:
                if self.block_dir is None:
                    raise NotDrivable("file backing needs a block filesystem directory; none found")
                fd = files.block_file(self.block_dir, vma.pages)
            result = sc.mmap(addr, length, rw, share | sc.MAP_FIXED, fd, 0)
            if self.probing:
                self.files[number] = fd  # the page cache is read back through it
            else:
                os.close(fd)  # the mapping keeps the file
        if result != addr:
            raise OSError(-result if result < 0 else 0, f"mmap of VMA at page {vma.start} failed")
        for j in range(vma.pages):
            state = vma.fault_of(j)
            if state == "r":
                sc.peek(addr + j * PAGE)
            elif state == "w":
                sc.poke(addr + j * PAGE, probe.LAYOUT_TAG)

    def addr(self, page: int) -> int:
        return self.base + page * PAGE

    def observe(self, previous: tuple[int, ...] | None) -> tuple[tuple[PageObservation, ...], tuple[int, ...]]:
        return self.procfs.observe(self.base, self.scenario.span, previous)

    def drain_lru(self) -> None:
        """Empty this CPU's LRU batches (lru_add_drain()), which hold page references of their own.

        madvise(MADV_COLD) starts with lru_add_drain(); it is applied to a scratch page outside
        the test area. Run before every op, with the scenario confined to one CPU (child.py),
        it makes do_wp_page()'s reuse-or-copy choice (wp_can_reuse_anon_folio(): refcount 1?)
        independent of batches the previous op left behind, e.g. the reference a folio_activate()
        batch takes when GUP's FOLL_TOUCH marks an LRU page accessed twice. The model does not
        keep those batches: it sees the state right after such a drain.
        """
        if self._lru_scratch is None or self._lru_scratch_pid != os.getpid():
            self._lru_scratch = sc.mmap(0, PAGE, sc.PROT_READ | sc.PROT_WRITE, sc.MAP_PRIVATE | sc.MAP_ANONYMOUS)
            self._lru_scratch_pid = os.getpid()
        if self._lru_scratch >= 0:
            sc.madvise(self._lru_scratch, PAGE, sc.MADV_COLD)

    # ---- CPU access without SIGSEGV ---------------------------------------------------
    def _perms(self, addr: int) -> str:
        """Permissions of the VMA holding addr ('' if none), from /proc/self/maps.

        Chosen over a SIGSEGV handler (no safe longjmp from Python) and over
        process_vm_readv on ourselves (that is GUP, with FOLL_PIN side effects).
        """
        with open("/proc/self/maps", "rb") as f:
            for line in f:
                span, perms = line.split(b" ", 2)[:2]
                lo, hi = (int(x, 16) for x in span.split(b"-"))
                if lo <= addr < hi:
                    return perms.decode()
        return ""

    def cpu(self, page: int, write: bool, index: int) -> int | None:
        addr = self.addr(page)
        perms = self._perms(addr)
        if ("w" if write else "r") not in perms:
            return -EFAULT
        if write:
            sc.poke(addr, probe.tag(index))
        else:
            sc.peek(addr)
        return 0

    # ---- ops -------------------------------------------------------------------------
    def apply(self, index: int, op: sc_mod.Op) -> int | None:
        """Run one op in this process; its result (count, 0, -errno or None)."""
        if isinstance(op, CpuRead):
            return self.cpu(op.page, write=False, index=index)
        if isinstance(op, CpuWrite):
            return self.cpu(op.page, write=True, index=index)
        if isinstance(op, Gup):
            return self.gup(index, op)
        if isinstance(op, Release):
            return self.release(op.of)
        if isinstance(op, (DmaWrite, DmaRead)):
            return self.dma(index, op)
        if isinstance(op, Munmap):
            return sc.munmap(self.addr(op.start), op.pages * PAGE)
        if isinstance(op, Mprotect):
            return sc.mprotect(self.addr(op.start), op.pages * PAGE, sc.PROTS[op.prot])
        if isinstance(op, MadvDontneed):
            return sc.madvise(self.addr(op.start), op.pages * PAGE, sc.MADV_DONTNEED)
        if isinstance(op, Fork):
            return self.fork(index)
        raise NotDrivable(f"op {index}: {type(op).__name__} not drivable here")

    def gup(self, index: int, op: Gup) -> int:
        if op.api in sc_mod.KERNEL_APIS:
            raise NotDrivable(f"op {index}: {op.api} is a kernel API, not drivable on the live kernel")
        if op.interleave:
            raise NotDrivable(f"op {index}: interleave (ops at GUP's retry point) not drivable on the live kernel")
        if op.repeat > 1:
            # A few vmsplice iovecs of the same page would be cheap, but refcounts are invisible
            # from userspace (/proc/kpagecount is the mapcount), and the counts that matter
            # (2**21 pins, 2**31 references) would WARN or exhaust the host kernel.
            raise NotDrivable(f"op {index}: repeat={op.repeat} not drivable on the live kernel (refcounts cannot "
                              "be observed there, and driving them near overflow would WARN the host)")
        extra = set(op.flags) - CALLER_IMPLIED.get(op.api, set())
        if extra:
            raise NotDrivable(f"op {index}: {op.api} cannot add {', '.join(sorted(extra))} on the live kernel (its GUP flags are fixed)")
        addr, length = self.addr(op.start), op.pages * PAGE
        api = op.api
        if api == "io_uring_register_buffers":
            ring = Ring()
            if not ring.ok:
                return ring.fd
            result = ring.register(addr, length)
            if result < 0:
                ring.close()
                return result
            self.held[index] = Held(api, addr, op.pages, ring=ring)
            return op.pages
        if api == "vmsplice":
            r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                fcntl.fcntl(w, sc.F_SETPIPE_SZ, max(length, PAGE))
            except OSError:
                pass
            result = sc.vmsplice(w, addr, length)
            if result < 0:
                os.close(r)
                os.close(w)
                return result
            self.held[index] = Held(api, addr, result // PAGE, pipe=(r, w))
            return result // PAGE
        self.held[index] = Held(api, addr, op.pages)  # transient: nothing kept after the call
        if api in ("odirect_read", "odirect_write"):
            fd = self._direct(op.pages)
            if api == "odirect_read":
                if self.probing and self._dio is not None:  # what lands in memory names this op
                    os.pwrite(self._dio[0], bytes([probe.tag(index)]) * length, 0)
                result = sc.pread_into(fd, addr, length, 0)
            else:
                result = sc.pwrite_from(fd, addr, length, 0)
        elif api in ("process_vm_readv", "process_vm_writev"):
            write = api == "process_vm_writev"
            local = ctypes.create_string_buffer(bytes([probe.tag(index)]) * length if write else length)
            result = sc.process_vm_rw(os.getpid(), ctypes.addressof(local), addr, length, write)
        elif api in ("proc_mem_write", "proc_mem_read"):
            if self._mem_fd is None or self._mem_pid != os.getpid():
                # /proc/self/mem binds to the opener's mm: a forked process opens its own
                self._mem_fd = os.open("/proc/self/mem", os.O_RDWR | os.O_CLOEXEC)
                self._mem_pid = os.getpid()
            if api == "proc_mem_write":
                result = sc.os_call(os.pwrite, self._mem_fd, bytes([probe.tag(index)]) * length, addr)
            else:
                result = sc.os_call(os.pread, self._mem_fd, length, addr)
        elif api in ("madv_populate_read", "madv_populate_write"):
            advice = sc.MADV_POPULATE_READ if api == "madv_populate_read" else sc.MADV_POPULATE_WRITE
            result = sc.madvise(addr, length, advice)
            return op.pages if result == 0 else result
        else:
            raise NotDrivable(f"op {index}: unknown api {api!r}")
        return result // PAGE if result >= 0 else result

    def release(self, of: int) -> int:
        """Drop what op `of` holds; the number of pages it held (0 for transient callers)."""
        held = self.held.pop(of, None)
        if held is None:
            return 0
        if held.ring is not None:
            held.ring.close()
        if held.pipe is not None:
            r, w = held.pipe
            try:  # drain: drops the page references even if another process shares the pipe
                while os.read(r, 1 << 20):
                    pass
            except BlockingIOError:
                pass
            os.close(r)
            os.close(w)
        return held.pages if (held.ring is not None or held.pipe is not None) else 0

    def dma(self, index: int, op: DmaWrite | DmaRead) -> int | None:
        """A device access through the pin of op.of: io_uring fixed I/O on the registered buffer."""
        held = self.held.get(op.of)
        kind = "dma_write" if isinstance(op, DmaWrite) else "dma_read"
        if held is None or (held.ring is None and held.pipe is None) or op.index >= held.pages:
            return -EFAULT  # nothing held there (a transient caller, or a short vmsplice)
        if held.pipe is not None and isinstance(op, DmaRead):
            return self._pipe_read(index, held, op.index)
        if held.ring is None:
            api = held.api
            raise NotDrivable(f"op {index}: {kind} through {api} not drivable (only io_uring buffers, and vmsplice pipes for reads, keep pages a device can use)")
        addr = held.addr + op.index * PAGE
        scratch = self._scratch_fd()
        if isinstance(op, DmaWrite):
            value = probe.tag(index)
            os.pwrite(scratch, bytes([value]) * PAGE, 0)
            result = held.ring.fixed_io(False, scratch, addr, PAGE, 0)  # READ_FIXED: file -> pinned page
            if result == PAGE:
                seen = self._mapped_bytes(addr)
                self.dma_checks.append(DmaCheck(index, kind, None if seen is None else seen == bytes([value]) * PAGE))
        else:
            result = held.ring.fixed_io(True, scratch, addr, PAGE, 0)  # WRITE_FIXED: pinned page -> file
            if result == PAGE:
                device = os.pread(scratch, PAGE, 0)
                seen = self._mapped_bytes(addr)
                self.dma_checks.append(DmaCheck(index, kind, None if seen is None else seen == device, device[0]))
        return 0 if result == PAGE else (result if result < 0 else -5)

    def _pipe_read(self, index: int, held: Held, page: int) -> int | None:
        """A reader of the vmsplice pipe sees the referenced page: tee a copy of the pipe's
        buffers (more references to the same pages) and read that, leaving the original
        pipe, and so the FOLL_GET references of op `of`, untouched."""
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            try:
                fcntl.fcntl(w, sc.F_SETPIPE_SZ, (page + 1) * PAGE)
            except OSError:
                pass
            copied = sc.tee(held.pipe[0], w, (page + 1) * PAGE)  # type: ignore[index]
            if copied < 0:
                return copied
            data = b""
            while len(data) < copied:
                data += os.read(r, copied - len(data))
        finally:
            os.close(r)
            os.close(w)
        if len(data) < (page + 1) * PAGE:
            return -5  # the vmsplice was short: that page is not in the pipe
        device = data[page * PAGE:(page + 1) * PAGE]
        seen = self._mapped_bytes(held.addr + page * PAGE)
        self.dma_checks.append(DmaCheck(index, "dma_read", None if seen is None else seen == device, device[0]))
        return 0

    def _mapped_bytes(self, addr: int) -> bytes | None:
        """The page's content as this process' mapping shows it, if readable without a fault."""
        if "r" not in self._perms(addr):
            return None
        if not self.procfs.entries(addr, 1)[0] >> 63:
            return None
        return ctypes.string_at(addr, PAGE)

    # ---- the live hunt's probes (probe.py) ----------------------------------------------
    def view(self) -> tuple[int | None, ...]:
        """This process's CPU view of the area: the first byte of each present, readable page."""
        span = self.scenario.span
        if not self.area_mapped:
            return (None,) * span
        return probe.view(self.base, span, self.procfs.entries(self.base, span))

    def look(self) -> probe.Look:
        """Everything this process shows of itself: its CPU view, page observations (identity
        against its previous look; a process's first look, right after its fork, sees "new"),
        the kpagecount of each present page and its VmPin."""
        span = self.scenario.span
        if not self.area_mapped:
            return probe.Look((None,) * span, (PageObservation(present=False),) * span, (None,) * span,
                              probe.vmpin_kb())
        pages, pfns = self.observe(self._looked)
        self._looked = pfns
        return probe.Look(self.view(), pages, self.procfs.mapcounts(pfns), probe.vmpin_kb())

    def page_cache(self) -> dict[int, tuple[int, ...]]:
        """The first byte of every page of each backing file, read through the file."""
        return {number: probe.file_bytes(fd, self.scenario.layout[number].pages) for number, fd in self.files.items()}

    # ---- processes -------------------------------------------------------------------
    def prepare_processes(self) -> None:
        """Process 0: one command and one result pipe per process the scenario will fork."""
        count = 0
        for i, op in enumerate(self.scenario.ops):
            if isinstance(op, Fork):
                count += 1
                self.fork_number[i] = count
                cmd_r, cmd_w = os.pipe2(os.O_CLOEXEC)
                res_r, res_w = os.pipe2(os.O_CLOEXEC)
                self.pipes[count] = (cmd_r, cmd_w, res_r, res_w)

    def fork(self, index: int) -> int:
        """Fork this process; the new one serves its ops. Returns the new pid."""
        number = self.fork_number[index]
        pid = os.fork()
        if pid:
            return pid
        try:
            if self.number == 0:
                # Dies with process 0. Not with a forking child: when that child exits, its own
                # children live on (reparented to process 0, the subreaper), as on any kernel; they
                # share process 0's process group, which a timeout kills as a whole.
                sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
            self._forget_inherited()
            self.number = number
            self.serve()
        finally:
            os._exit(0)

    def _forget_inherited(self) -> None:
        """Drop the fds of the parent's holds without releasing them (they are shared files)."""
        for held in self.held.values():
            if held.ring is not None:
                held.ring.buffer = None  # never unregister the parent's buffers from here
                held.ring.close()
            if held.pipe is not None:
                os.close(held.pipe[0])
                os.close(held.pipe[1])
        self.held = {}
        for fd in self.close_on_fork:
            os.close(fd)
        self.close_on_fork = []
        for fd in self.files.values():
            os.close(fd)
        self.files = {}
        self._looked = None  # the new process has never looked: its first look sees "new" pages

    def serve(self) -> None:
        """Process k>0: run op numbers sent by process 0, answer with a JSON line each."""
        cmd_r, _cmd_w, _res_r, res_w = self.pipes[self.number]
        buffer = b""
        while True:
            while b"\n" not in buffer:
                chunk = os.read(cmd_r, 4096)
                if not chunk:
                    return
                buffer += chunk
            line, buffer = buffer.split(b"\n", 1)
            if line == b"look":  # a probe: what this process shows of itself
                os.write(res_w, json.dumps({"look": self.look().encode()}).encode() + b"\n")
                continue
            index = int(line)
            op = self.scenario.ops[index]
            if isinstance(op, Exit):
                self.cleanup()
                os._exit(0)
            reply: dict[str, object]
            try:
                reply = {"result": self.apply(index, op), "dma": [attrs.astuple(c) for c in self.dma_checks]}
            except NotDrivable as exc:
                reply = {"error": str(exc)}
            except Exception as exc:  # report, do not hang process 0
                reply = {"error": f"process {self.number}: {type(exc).__name__}: {exc}"}
            self.dma_checks = []
            os.write(res_w, json.dumps(reply).encode() + b"\n")

    def call(self, number: int, index: int | str, pidfd: int) -> dict:
        """Process 0: have process `number` run op `index` (or "look": report what it shows);
        its reply (an error if it died)."""
        _cmd_r, cmd_w, res_r, _res_w = self.pipes[number]
        os.write(cmd_w, f"{index}\n".encode())
        poller = select.poll()
        poller.register(res_r, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        buffer = b""
        while not buffer.endswith(b"\n"):
            ready = {fd for fd, _ in poller.poll()}
            if res_r not in ready:  # only the pidfd: the process is gone without answering
                return {"error": f"op {index}: process {number} died while running it"}
            chunk = os.read(res_r, 65536)
            if not chunk:
                raise OSError(f"process {number} closed its pipe")
            buffer += chunk
        return json.loads(buffer)

    def exit_mm(self) -> None:
        """Process 0 'exits' but must keep observing: tear its mm down as exit does
        (unmap everything, then the files close and drop their pins)."""
        sc.munmap(self.base, self.area * PAGE)
        self.area_mapped = False
        for of in list(self.held):
            self.release(of)

    def cleanup(self) -> None:
        for of in list(self.held):
            self.release(of)
        if self.base and self.area_mapped:
            sc.munmap(self.base, self.area * PAGE)
        self.area_mapped = False
        self._close_dio()
        for fd in (self._scratch, self._mem_fd, *self.files.values()):
            if fd is not None:
                os.close(fd)
        self._scratch = self._mem_fd = None
        self.files = {}
        if self._procfs is not None and self._procfs_pid == os.getpid():
            self._procfs.close()
        self._procfs = None


def wait_exit(pidfd: int) -> None:
    """Block until the process behind pidfd has exited (its mm is gone by then)."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    while not poller.poll(1000):
        pass
