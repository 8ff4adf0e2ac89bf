"""The oracle's executor: a separate, single-threaded process that forks the scenario children.

Forking the test run itself is unsafe once it has threads (pytest-timeout's watchdog, xdist's
I/O threads, rich's refresh thread): the child inherits locks held by threads that do not exist
in it, and Python 3.12 warns about it. So the test run spawns this executor once (fork + exec,
which is safe from any process), before it needs a live run, and hands it scenarios over a
pipe; the executor forks one child per scenario exactly as before (run_in_child), with the same
time bound, the same clean-up, and sends back what the child saw.

Protocol: one pickled request per line of stdin (hex; the scenario exactly as the caller built
it, validated or not, the time bound, the block-device directory, whether to probe, whether to use the
crutches), one JSON line per answer on
the executor's protocol descriptor (an encoded LiveRun). Both ends are this package.
"""

from __future__ import annotations

import atexit
import json
import os
import pickle
import select
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import attrs

from ..observe import StepObservation, decode_pages, encode_pages
from ..scenario import Scenario
from .child import LiveRun, run_in_child
from .execute import DmaCheck
from .probe import decode_probe, encode_probe

#: seconds the executor may take beyond the scenario's own bound before it is presumed hung
GRACE = 30.0


def encode(run: LiveRun) -> dict[str, Any]:
    return {"steps": [[s.op, s.result, encode_pages(s.pages)] for s in run.steps], "error": run.error,
            "dma": [attrs.astuple(d) for d in run.dma], "initial": encode_pages(run.initial),
            "probes": [encode_probe(p) for p in run.probes]}


def decode(data: dict[str, Any]) -> LiveRun:
    return LiveRun(steps=tuple(StepObservation(op, result, decode_pages(rows)) for op, result, rows in data["steps"]),
                   error=data["error"], dma=tuple(DmaCheck(*d) for d in data["dma"]),
                   initial=decode_pages(data["initial"]), probes=tuple(decode_probe(p) for p in data["probes"]))


class Executor:
    """The test run's handle on the executor process (started on first use, restarted if it died)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.answers: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self) -> None:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
        command = f"from harness.oracle.server import serve; serve({write_end})"
        self.proc = subprocess.Popen([sys.executable, "-c", command],
                                     stdin=subprocess.PIPE, pass_fds=(write_end,), env=env, close_fds=True)
        os.close(write_end)
        self.answers = os.fdopen(read_end, "rb")

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        if self.answers is not None:
            self.answers.close()
            self.answers = None

    def run(self, scenario: Scenario, timeout: float, block_dir: str | None, probing: bool = False,
            crutches: bool = False) -> LiveRun:
        if self.pid is None:
            self.stop()
            self.start()
        assert self.proc is not None and self.proc.stdin is not None and self.answers is not None
        request = pickle.dumps((scenario, timeout, block_dir, probing, crutches)).hex()
        try:
            self.proc.stdin.write(request.encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self.stop()
            return LiveRun(steps=(), error="oracle executor exited")
        ready, _, _ = select.select([self.answers], [], [], timeout + GRACE)
        line = self.answers.readline() if ready else b""
        if not line:
            self.stop()
            return LiveRun(steps=(), error="oracle executor did not answer" if not ready else "oracle executor exited")
        return decode(json.loads(line))


_EXECUTOR = Executor()
atexit.register(_EXECUTOR.stop)


def run_via_executor(scenario: Scenario, timeout: float, block_dir: str | None, probing: bool = False,
                     crutches: bool = False) -> LiveRun:
    return _EXECUTOR.run(scenario, timeout, block_dir, probing, crutches)


def executor_pid() -> int | None:
    """The executor's pid while it runs (tests check what it leaves behind)."""
    return _EXECUTOR.pid


def serve(answers_fd: int) -> None:
    """The executor's loop: one scenario per request line, until stdin closes."""
    answers = os.fdopen(answers_fd, "wb")
    # nothing a scenario process prints may reach the protocol: stdout goes to stderr
    os.dup2(2, 1)
    for line in sys.stdin.buffer:
        scenario, timeout, block_dir, probing, crutches = pickle.loads(bytes.fromhex(line.decode()))
        run = run_in_child(scenario, timeout, block_dir, probing, crutches)
        answers.write(json.dumps(encode(run)).encode() + b"\n")
        answers.flush()

