"""The model's speed in a search's finding phase, and a digest of everything it computes.

    PYTHONPATH=. python benchmarks/model_speed.py [--examples N] [--profiles mainline v5.10 ...]

Speed: examples per CPU-second of the finding phase as harness/search.py runs it (the finder's
PRNG draws an example, its whole entry-point family is judged on every property), best of
three, with no shrinking. Digest: a hash over every run of the same examples' families on
those profiles and of every corpus scenario on every profile, traced and untraced: results,
trace, observations, snapshots, writes, warnings, livelock, BUG, what was held, the final
machine and the property verdicts. An optimisation of the model must leave the digest as it
was (compare it with the commit before; it depends on the examples drawn, so on Hypothesis'
strategies and the project's). A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.finder import RandomDraw  # noqa: E402
from harness.model.kernels import PROFILE_NAMES, get_profile  # noqa: E402
from harness.regression import RegressionError, load  # noqa: E402
from harness.run import run_scenario  # noqa: E402
from harness.scenario import Scenario  # noqa: E402
from harness.search import _failing  # noqa: E402
from harness.variants import family_forms  # noqa: E402
from properties import PROPERTIES, check_all  # noqa: E402
from strategies import for_profile, scenarios  # noqa: E402


def examples(profile: str, count: int, seed: int = 1234) -> list[Scenario]:
    strategy = scenarios(**for_profile(get_profile(profile)))
    rnd = random.Random(seed)
    return [RandomDraw(rnd)(strategy) for _ in range(count)]


def speed(profile: str, count: int) -> float:
    """Examples per CPU-second of the finding phase (best of three)."""
    drawn = examples(profile, count, seed=7)
    names = tuple(PROPERTIES)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for scenario in drawn:
            _failing(scenario, get_profile(profile), names)
        best = min(best, time.process_time() - started)
    return count / best


def digest_run(scenario: Scenario, profile: str, trace: bool) -> str:
    run = run_scenario(scenario, profile, trace=trace, final_state=trace)
    k = run.kernel
    parts = [repr(run.results), repr(run.trace), repr(run.observations), repr(run.snapshots), repr(run.writes),
             repr(run.warnings), str(run.livelock), str(run.bug), repr(run.bug_at), repr(run.held_at_end),
             repr(run.baseline), repr(run.not_applicable), repr(run.final_state), repr(k.fingerprint()),
             k.describe_folios(), repr(k.next_token), repr(k.migration_failures), repr(k.alloc_failures),
             repr(sorted((pid, [(v.start, v.end, int(v.flags), v.backing, v.pgoff, v.anon_vma) for v in mm.vmas])
                         for pid, mm in k.mms.items()))]
    if not trace and not run.not_applicable:
        parts.append(repr(sorted(check_all(run).items())))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def digest(profiles: list[str], count: int) -> tuple[str, int]:
    corpus = []
    for path in sorted((ROOT / "regressions").glob("*.json")):
        try:
            corpus.append(load(path).scenario)
        except RegressionError:
            continue
    total = hashlib.sha256()
    runs = 0
    for profile in PROFILE_NAMES:
        chosen = corpus[:]
        if profile in profiles:
            chosen += [member for example in examples(profile, count) for _form, member in family_forms(example)]
        for scenario in chosen:
            for trace in (True, False):
                total.update(digest_run(scenario, profile, trace).encode())
                runs += 1
    return total.hexdigest(), runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=600)
    parser.add_argument("--profiles", nargs="+", default=["v4.9", "v5.4", "v5.10", "v6.1", "v6.6", "mainline"])
    parser.add_argument("--no-digest", action="store_true")
    args = parser.parse_args()
    for profile in args.profiles:
        print(f"{profile:10} {speed(profile, min(args.examples, 1000)):7.0f} examples/s (finding phase, CPU)")
    if not args.no_digest:
        value, runs = digest(args.profiles, args.examples)
        print(f"digest {value} over {runs} runs")


if __name__ == "__main__":
    main()
