"""Differential probe for classifying a surviving source mutant: does it change anything the
model shows on scenarios the project's own strategy generates?

    python benchmarks/srcmut_probe.py src:harness/model/gup.py:93:41:Or-And [--examples 200]

Runs the same derandomized stream of generated scenarios (strategies.scenarios) on every
profile of the timeline, once on the clean model and once with the mutant (in subprocesses,
GUPHARNESS_MUTANT set for the second), and compares per scenario and profile: call results,
observations, livelock, BUG, WARNs, applicability and every property's verdict. Prints the
first differences (scenario, profile, what differs), or that none was found: a hint that the
mutant is equivalent, never a proof (the survivor is still read by hand).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fingerprints(examples: int, outcomes_only: bool) -> list[list[str]]:
    from hypothesis import HealthCheck, Phase, given, settings

    from harness.model.kernels import PROFILE_NAMES
    from harness.run import run_scenario
    from harness.serialize import to_data
    from properties import check_all
    from strategies import scenarios

    rows: list[list[str]] = []

    @settings(max_examples=examples, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(scenarios())
    def collect(scenario) -> None:  # type: ignore[no-untyped-def]
        row = [json.dumps(to_data(scenario))]
        for profile in PROFILE_NAMES:
            try:
                run = run_scenario(scenario, profile)
                verdicts = {name: v is None for name, v in check_all(run).items()}
                if outcomes_only:  # which pages (pfns) and what the pages look like aside
                    row.append(repr(([r.result for r in run.results], run.livelock is not None, str(run.bug),
                                     len(run.warnings), run.not_applicable, sorted(verdicts.items()))))
                    continue
                row.append(repr(([(r.result, [g.pfn for g in r.grabbed]) for r in run.results], run.observations,
                                 run.livelock is not None, str(run.bug), run.warnings, run.not_applicable,
                                 sorted(verdicts.items()))))
            except Exception as exc:  # the mutant crashes the model: that is a difference too
                row.append(f"crash: {type(exc).__name__}: {exc}")
        rows.append(row)

    collect()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mutant")
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--outcomes-only", action="store_true",
                        help="compare call results, livelock, BUG, WARN count and verdicts only (not pfns or observations)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(fingerprints(args.examples, args.outcomes_only)))
        return 0
    from harness.model.kernels import PROFILE_NAMES
    from harness.mutate import ENV

    outputs = []
    for mutant in (None, args.mutant):
        env = {k: v for k, v in os.environ.items() if k != ENV}
        env["PYTHONPATH"] = str(ROOT)
        if mutant:
            env[ENV] = mutant
        argv = [sys.executable, __file__, args.mutant, "--examples", str(args.examples), "--worker"]
        done = subprocess.run(argv + (["--outcomes-only"] if args.outcomes_only else []),
                              env=env, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"worker failed ({'mutant' if mutant else 'clean'}): {done.stderr.strip().splitlines()[-1:]}")
            return 2
        outputs.append(json.loads(done.stdout))
    clean, mutated = outputs
    differing = 0
    for a, b in zip(clean, mutated):
        if a[0] != b[0]:
            print("the scenario streams differ: the mutant changes generation")
            return 2
        diffs = [(PROFILE_NAMES[i], x, y)
                 for i, (x, y) in enumerate(zip(a[1:], b[1:])) if x != y]
        if diffs:
            differing += 1
            if differing <= 3:
                print(f"scenario {a[0]}")
                for name, x, y in diffs[:3]:
                    print(f"  {name}: clean {x[:300]}\n  {' ' * len(name)}  mutant {y[:300]}")
    print(f"{differing} of {len(clean)} scenarios differ on some profile")
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
