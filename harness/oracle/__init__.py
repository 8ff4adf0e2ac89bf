"""The live-kernel oracle: run a Scenario with real syscalls and observe it through /proc.

    run = run_live(scenario)          # LiveRun(steps, error, dma, initial)
    if not availability().ok: pytest.skip(availability().reason)

Steps use the same vocabulary as the model (harness.observe), one per top-level op,
for process 0, over pages [0, scenario.span). `error` is set when the child crashed,
timed out, or reached something no userspace path drives (kernel GUP APIs, pfnmap,
CMA/movable placement, GUP-internal interleaving, flags a caller does not pass
itself, a device writing through a vmsplice pipe); the steps before it are kept.

Choices a model comparison must know about:
- Gup.flags of a caller API may only repeat flags that caller passes itself (each is a
  fixed GUP call, GUP_HISTORY.md section 8); anything else is reported not drivable.
- Results (as harness/run.py reports them): Gup -> pages transferred/pinned (bytes //
  4096; partial transfers are possible for process_vm_*, vmsplice, O_DIRECT) or -errno;
  madv_populate_* -> pages or -errno; CpuRead/CpuWrite -> 0, or -EFAULT when the VMA
  (per /proc/self/maps) forbids the access; Munmap/Mprotect/MadvDontneed -> 0 or
  -errno; Release -> pages it still held (0 for callers that hold nothing after
  returning); DmaRead/DmaWrite -> 0, -EFAULT when nothing is held at that index, with
  pin/mapping coherence in LiveRun.dma; Fork, Exit -> None. Ops of an exited process:
  Gup -ESRCH, Release 0, others -EFAULT. Exit(0) is emulated (unmap everything, then
  drop the pins) so process 0 can still be observed.
- Holes between VMAs and the guard page after the area are truly unmapped.
- Ops of process k > 0 run in that process (it serves op numbers over a pipe);
  step observations are of process 0; probes (probe=True) look at every live process.
"""

from __future__ import annotations

from ..scenario import Scenario
from .availability import Availability, availability
from .child import LiveRun
from .execute import DmaCheck, NotDrivable
from .probe import Probe
from .server import run_via_executor

__all__ = ["Availability", "DmaCheck", "LiveRun", "NotDrivable", "Probe", "availability", "run_live"]


def run_live(scenario: Scenario, timeout: float = 5.0, *, probe: bool = False, crutches: bool = False) -> LiveRun:
    """Execute `scenario` on the running kernel in a fresh child process (killed after `timeout` s).
    The child is forked by the oracle's executor process (oracle/server.py), never by the caller.
    probe=True adds contents and pinned-vm after each step (LiveRun.probes, oracle/probe.py).
    crutches=False lets the scenario's processes run on any CPU and skips the LRU drain before
    each op (child.py): outcomes that depend on per-CPU LRU batches are then the kernel's to pick."""
    avail = availability()
    if not avail.ok:
        return LiveRun(steps=(), error=f"live kernel unavailable: {avail.reason}")
    return run_via_executor(scenario, timeout, avail.block_dir, probe, crutches)
