"""What Hypothesis' shrinker adds after the finder's pre-shrink and before the normal form.

For every catalogued bug (`harness.bench.bugs()`), a seeded search with each pipeline: the
default (pre-shrink, then the reducer's normal form) and `hypothesis_shrink=True` (Hypothesis'
shrinker in between). Prints the seconds spent after detection (shrinking and reducing) and
how many shrinks ended at the canonical form (harness/bench.py canonical_form). Run it idle:

    PYTHONPATH=. python benchmarks/shrink_pipeline.py [SEEDS]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from hypothesis import settings

from harness.bench import bugs, canonical_form
from harness.regression import load
from harness.search import BUG_BUDGET, search


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    ci = settings.get_profile("ci")
    corpus = [load(path) for path in sorted(Path("regressions").glob("*.json"))]
    totals = {False: [0.0, 0, 0], True: [0.0, 0, 0]}  # seconds after detection, canonical, searches
    for path, profile, prop in bugs():
        targets = {canonical_form(r.scenario, profile, prop) for r in corpus if prop in r.expected_failures(profile)}
        row = []
        for hypothesis_shrink in (False, True):
            seconds, canonical = 0.0, 0
            for seed in range(seeds):
                started = time.perf_counter()
                found = search(profile, [prop], seed=seed, max_examples=BUG_BUDGET, base_settings=ci, database=None,
                               hypothesis_shrink=hypothesis_shrink)
                seconds += time.perf_counter() - started - (found.seconds_to_failure or 0.0)
                canonical += found.counterexample in targets
            total = totals[hypothesis_shrink]
            total[0] += seconds
            total[1] += canonical
            total[2] += seeds
            row.append(f"{'with' if hypothesis_shrink else 'without'} Hypothesis: {seconds / seeds:.2f} s, "
                       f"{canonical}/{seeds} canonical")
        print(f"{path.stem} on {profile}, {prop}: " + "; ".join(row), flush=True)
    for hypothesis_shrink, (seconds, canonical, count) in totals.items():
        print(f"{'with' if hypothesis_shrink else 'without'} Hypothesis' shrinker: {seconds:.1f} s after detection "
              f"in {count} searches, {canonical} canonical")


if __name__ == "__main__":
    main()
