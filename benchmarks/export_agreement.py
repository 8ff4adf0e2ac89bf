"""Do exported C programs give the live comparison's verdict on generated drivable scenarios?

Run (as root, with cc and io_uring): python benchmarks/export_agreement.py [--examples 100] [--seed 0]
Draws drivable scenarios (strategies/drivable.py), exports each to C, compiles them with
`cc -Wall -Werror -O2` (two at a time), runs them, and counts the scenarios where the program's
TAP verdict (all ok) differs from `harness.conform.compare`'s (agree). Prints the counts and
the seconds spent per stage; a benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from harness.conform import compare
from harness.export import export_c
from harness.oracle import availability
from harness.regression import Regression
from harness.scenario import Scenario
from strategies.drivable import drivable_scenarios


def draw(examples: int, seed: int) -> list[Scenario]:
    found: list[Scenario] = []

    @settings(max_examples=examples, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(drivable_scenarios())
    def collect(scenario: Scenario) -> None:
        found.append(scenario)

    hypothesis_seed(seed)(collect)()
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not availability().ok or shutil.which("cc") is None:
        print(f"cannot run here: {availability().reason or 'no cc'}", file=sys.stderr)
        return 2
    scenarios = draw(args.examples, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        for i, scenario in enumerate(scenarios):
            (directory / f"s{i}.c").write_text(export_c(Regression(f"s{i}", scenario, {"default": ()}), f"s{i}"))
        exported = time.perf_counter()
        running: list[subprocess.Popen[bytes]] = []
        for i in range(len(scenarios)):
            running.append(subprocess.Popen(["cc", "-Wall", "-Werror", "-O2", "-o", str(directory / f"s{i}"),
                                             str(directory / f"s{i}.c")]))
            if len(running) == 2 or i == len(scenarios) - 1:
                if any(job.wait() != 0 for job in running):
                    print("a program does not compile cleanly", file=sys.stderr)
                    return 1
                running = []
        compiled = time.perf_counter()
        differ = disagree = 0
        for i, scenario in enumerate(scenarios):
            tap_ok = subprocess.run([str(directory / f"s{i}")], capture_output=True, timeout=120).returncode == 0
            agree = compare(scenario).agree
            disagree += not agree
            if tap_ok != agree:
                differ += 1
                print(f"verdicts differ on s{i}: TAP {'ok' if tap_ok else 'not ok'}, conform "
                      f"{'agrees' if agree else 'disagrees'}")
        done = time.perf_counter()
    print(f"{len(scenarios)} scenarios (seed {args.seed}): {differ} with differing verdicts; conform found "
          f"{disagree} model/kernel mismatches; export {exported - started:.1f} s, compile "
          f"{compiled - exported:.1f} s, run + compare {done - compiled:.1f} s")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
