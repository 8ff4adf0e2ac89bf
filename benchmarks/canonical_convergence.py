"""Do seeds of one search end at one counterexample? The normal form on cases it was not tuned on.

harness/normalize.py was written while looking at the benchmark's entries (`harness.bench.bugs()`:
one profile per catalogued bug). This script takes the other (file, profile, property) triples
the corpus records (every failing profile, `bugs(all_profiles=True)`, minus the benchmark's own),
samples some, runs a from-scratch search with several seeds on each, and counts the distinct
shrunk counterexamples: with the reducer as it is, and with the normal form switched off (the
greedy reducer alone). One distinct counterexample per triple is the goal.

    PYTHONPATH=. python benchmarks/canonical_convergence.py [TRIPLES] [SEEDS] [SAMPLE_SEED]
"""

from __future__ import annotations

import json
import random
import sys
import time

from hypothesis import settings

import harness.reduce as reduce_module
from harness.bench import bugs
from harness.search import BUG_BUDGET, search
from harness.serialize import to_data


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    tuned = {(p.name, profile, prop) for p, profile, prop in bugs()}
    others = [(p, profile, prop) for p, profile, prop in bugs(all_profiles=True) if (p.name, profile, prop) not in tuned]
    sample = rnd.sample(others, min(count, len(others)))
    ci = settings.get_profile("ci")
    normal = reduce_module.normal_form
    totals = {"normal form": 0, "greedy only": 0}
    for path, profile, prop in sample:
        row = []
        distinct = ""
        for mode in totals:
            reduce_module.normal_form = normal if mode == "normal form" else (lambda s, f, budget=0: (s, 0))  # type: ignore[assignment]
            started = time.perf_counter()
            found = {search(profile, [prop], seed=seed, database=None, base_settings=ci,
                            max_examples=BUG_BUDGET).counterexample for seed in range(seeds)}
            found.discard(None)
            totals[mode] += len(found) == 1
            row.append(f"{mode}: {len(found)} distinct ({time.perf_counter() - started:.1f} s)")
            if mode == "normal form" and len(found) > 1:
                distinct = "\n".join(f"    {json.dumps(to_data(s))}" for s in found)
        print(f"{path.stem} on {profile}, {prop}: " + "; ".join(row), flush=True)
        if distinct:
            print(distinct, flush=True)
    reduce_module.normal_form = normal
    print(f"{len(sample)} triples, {seeds} seeds each; one counterexample for all seeds: "
          + ", ".join(f"{mode} {n}" for mode, n in totals.items()))


if __name__ == "__main__":
    main()
