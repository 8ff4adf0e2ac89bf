"""Run one scenario in a freshly forked child and collect its observations.

A fresh process per scenario because some state is sticky per mm (MMF_HAS_PINNED is
set by the first FOLL_PIN and never cleared) and because a crash or a hang must not take
the test run down. The child streams one JSON line per step, so a timeout or a crash
still returns the steps completed before it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time

import attrs

from ..observe import PageObservation, StepObservation, decode_pages, encode_pages
from ..scenario import DmaRead, DmaWrite, Exit, Fork, Gup, Release, Scenario
from . import syscalls as sc
from .execute import DmaCheck, Executor, NotDrivable, wait_exit
from .probe import KernelLog, Look, Probe, decode_probe, encode_probe, vmpin_kb


@attrs.frozen
class LiveRun:
    """What the live kernel did: one StepObservation per op completed, and why it stopped early."""

    steps: tuple[StepObservation, ...]
    error: str | None = None
    #: device accesses through pins and whether they agreed with the mapping
    dma: tuple[DmaCheck, ...] = ()
    #: observation after the layout was set up, before op 0 (the identity baseline)
    initial: tuple[PageObservation, ...] = ()
    #: with probe=True only: contents and pinned-vm after the layout, after each op, and after
    #: the final clean-up (probe.py)
    probes: tuple[Probe, ...] = ()


def _owner(scenario: Scenario, op: object) -> int:
    """The scenario process an op runs in (Release/DMA run where their Gup ran)."""
    if isinstance(op, (Release, DmaRead, DmaWrite)):
        gup = scenario.ops[op.of]
        return gup.process if isinstance(gup, Gup) else 0
    return getattr(op, "process", 0)


def _dead_result(op: object) -> int | None:
    """Ops addressed to an exited process: its pins went with its files, it has no mm."""
    if isinstance(op, Gup):
        return -3  # ESRCH
    if isinstance(op, (Release, Fork, Exit)):
        return 0 if isinstance(op, Release) else None
    return -14  # EFAULT


def child_main(scenario: Scenario, out: int, block_dir: str | None, probing: bool = False,
               crutches: bool = False) -> None:
    """Process 0: set up, run every op, observe after each; never returns normally.
    `crutches`: confine the scenario to one CPU and drain its LRU batches before every op."""

    def emit(message: dict) -> None:
        data = json.dumps(message).encode() + b"\n"
        while data:
            data = data[os.write(out, data):]

    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)  # orphaned grandchildren come back here to be reaped
    # The crutches: one CPU for the scenario and every process it forks: a new page waits in the per-CPU
    # LRU batch of the CPU that faulted it, and do_wp_page()'s reuse check drains only the
    # local batch (wp_can_reuse_anon_folio()), so on several CPUs whether a write reuses or
    # copies a page depends on scheduling. On one CPU it is deterministic, as the model has it.
    # Without the crutches (the default), the scheduler decides, and so do the batches: the
    # model answers with every outcome it allows where the batches matter (harness/outcomes.py).
    if crutches:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    ex = Executor(scenario, block_dir, probing)
    ex.close_on_fork = [out]
    processes: dict[int, tuple[int, int]] = {}  # number -> (pid, pidfd)
    exited: set[int] = set()
    log = KernelLog() if probing else None

    def probe(after: int) -> None:
        """What every live process shows (reads, page observations, map counts, VmPin), the
        page cache, and the kernel log (probing runs only: the live hunt, conform)."""
        if not probing:
            return
        looks = {} if 0 in exited else {0: ex.look()}
        for number, (_pid, pidfd) in processes.items():
            if number not in exited:
                reply = ex.call(number, "look", pidfd)
                if "look" in reply:
                    looks[number] = Look.decode(reply["look"])
        assert log is not None
        pids = [os.getpid(), *(pid for pid, _ in processes.values())]
        emit({"probe": encode_probe(Probe(
            after, {n: look.view for n, look in looks.items()}, ex.page_cache(), vmpin_kb(), log.splats(pids),
            {n: look.pages for n, look in looks.items()}, {n: look.mapcounts for n, look in looks.items()},
            {n: look.vmpin for n, look in looks.items()}))})
    try:
        ex.prepare_processes()
        ex.setup()
        pages, pfns = ex.observe(None)
        emit({"initial": encode_pages(pages)})
        probe(-1)
        for i, op in enumerate(scenario.ops):
            owner = _owner(scenario, op)
            if crutches:
                ex.drain_lru()  # one CPU for every process: this empties the batches they all use
            if owner in exited:  # as the kernel answers a dead process' ops
                result = _dead_result(op)
                if isinstance(op, Fork):
                    exited.add(ex.fork_number[i])  # never born: its ops get the same answers
            elif isinstance(op, Exit) and op.process == 0:
                ex.exit_mm()
                exited.add(0)
                result = None
            elif isinstance(op, Exit):
                pid, pidfd = processes[op.process]
                os.write(ex.pipes[op.process][1], f"{i}\n".encode())  # no reply: it just exits
                wait_exit(pidfd)
                exited.add(op.process)
                result = None
            elif owner == 0:
                result = ex.apply(i, op)
                if isinstance(op, Fork) and result is not None:
                    processes[ex.fork_number[i]] = (result, os.pidfd_open(result))
                    result = None
                for check in ex.dma_checks:
                    emit({"dma": attrs.astuple(check)})
                ex.dma_checks = []
            else:
                reply = ex.call(owner, i, processes[owner][1])
                if "error" in reply:
                    raise NotDrivable(reply["error"])
                result = reply["result"]
                for check in reply["dma"]:
                    emit({"dma": check})
                if isinstance(op, Fork):
                    processes[ex.fork_number[i]] = (result, os.pidfd_open(result))
                    result = None
            pages, pfns = ex.observe(pfns)
            emit({"step": [i, result, encode_pages(pages)]})
            probe(i)
        emit({"done": True})
    except NotDrivable as exc:
        emit({"error": str(exc)})
    except BaseException as exc:  # a bug or an unexpected kernel answer: report, never raise
        emit({"error": f"oracle child failed: {type(exc).__name__}: {exc}"})
    finally:
        for number, (pid, pidfd) in processes.items():
            if number not in exited:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            os.close(pidfd)
        while True:  # reap everything, including reparented grandchildren
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
        ex.cleanup()
        for fds in ex.pipes.values():
            for fd in fds:
                os.close(fd)
        if log is not None:  # everything released and every other process gone: pinned-vm is back?
            pids = [os.getpid(), *(pid for pid, _ in processes.values())]
            emit({"probe": encode_probe(Probe(None, vmpin=vmpin_kb(), kernel_log=log.splats(pids)))})
            log.close()


def run_in_child(scenario: Scenario, timeout: float, block_dir: str | None, probing: bool = False,
                 crutches: bool = False) -> LiveRun:
    """Fork, run the scenario in the child, collect its JSON lines; SIGKILL it on overrun."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.setpgid(0, 0)
            child_main(scenario, write_end, block_dir, probing, crutches)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child already did it, or already exited
    data = b""
    timed_out = False
    deadline = time.monotonic() + timeout
    poller = select.poll()
    poller.register(read_end, select.POLLIN | select.POLLHUP)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if not poller.poll(int(left * 1000) + 1):
                continue
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        if timed_out:
            for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                try:
                    target()
                except OSError:
                    pass
        _, status = os.waitpid(pid, 0)
    return _parse(data, timed_out, status)


def _parse(data: bytes, timed_out: bool, status: int) -> LiveRun:
    steps: list[StepObservation] = []
    dma: list[DmaCheck] = []
    initial: tuple[PageObservation, ...] = ()
    probes: list[Probe] = []
    error: str | None = None
    done = False
    for line in data.split(b"\n")[:-1]:  # a killed child may leave half a line: drop it
        message = json.loads(line)
        if "step" in message:
            op, result, rows = message["step"]
            steps.append(StepObservation(op=op, result=result, pages=decode_pages(rows)))
        elif "initial" in message:
            initial = decode_pages(message["initial"])
        elif "probe" in message:
            probes.append(decode_probe(message["probe"]))
        elif "dma" in message:
            dma.append(DmaCheck(*message["dma"]))
        elif "error" in message:
            error = message["error"]
        elif "done" in message:
            done = True
    if timed_out:
        error = "timeout"
    elif error is None and not done:
        if os.WIFSIGNALED(status):
            error = f"oracle child killed by signal {os.WTERMSIG(status)}"
        else:
            error = f"oracle child exited early (status {os.waitstatus_to_exitcode(status)})"
    return LiveRun(steps=tuple(steps), error=error, dma=tuple(dma), initial=initial, probes=tuple(probes))
