"""What a repeated call costs: one run of a scenario whose call is repeated up to a refcount
overflow, against the same scenario with the call made once (harness/repeat.py adds identical
repetitions up instead of making them).

Run: python benchmarks/refcount_overflow.py [--runs 200] [--kernel mainline]
Prints the median time per run in microseconds; a benchmark, never a timed test.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from harness import scenario as sc
from harness.run import run_scenario

PAGE = sc.Vma(0, 1, faulted="w")
CASES = {
    "vmsplice x1": sc.Scenario((PAGE,), (sc.Gup("vmsplice", 0, 1), sc.Release(0))),
    "vmsplice x1024 (looks pinned)": sc.Scenario((PAGE,), (sc.Gup("vmsplice", 0, 1, repeat=1024), sc.Release(0))),
    "vmsplice x2**32 (gets overflow)": sc.Scenario((PAGE,), (sc.Gup("vmsplice", 0, 1, repeat=2**32), sc.Release(0))),
    "pin_user_pages x2**21+1 (pins overflow)": sc.Scenario(
        (PAGE,), (sc.Gup("pin_user_pages", 0, 1, repeat=2**21 + 1), sc.Release(0))),
    "zero page pins x2**21+1": sc.Scenario(
        (sc.Vma(0, 1, faulted="r"),), (sc.Gup("pin_user_pages", 0, 1, repeat=2**21 + 1), sc.Release(0))),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--kernel", default="mainline")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, kernel profile {args.kernel}, {args.runs} runs each, trace off")
    for name, scenario in CASES.items():
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            run = run_scenario(scenario, args.kernel, trace=False)
            times.append(time.perf_counter() - started)
        outcome = [r.result for r in run.results]
        print(f"{name:42s} {statistics.median(times) * 1e6:8.0f} us   results {outcome}"
              + (f"  BUG: {run.bug.where}" if run.bug else "")
              + (f"  WARN: {', '.join(w.where for w in run.kernel.warnings)}" if run.kernel.warnings else ""))


if __name__ == "__main__":
    main()
