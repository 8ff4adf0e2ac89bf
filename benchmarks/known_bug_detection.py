"""How soon a from-scratch search meets the two bugs of issue 10 item 1-2 *as such*: the corpus
properties fail for other reasons on the same profiles too (on v5.4..v5.9 a FOLL_GET|FOLL_LONGTERM
reference to ZONE_MOVABLE memory or to a driver's CMA page also breaks
longterm_pins_only_on_pinnable), so each search here looks for a narrowed predicate that only
the bug itself satisfies. A benchmark, never a test.

    PYTHONPATH=. python benchmarks/known_bug_detection.py [--seeds 5] [--budget 4000]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import properties  # noqa: E402,F401  (registers the properties)
from harness import scenario as sc  # noqa: E402
from harness.model.flags import FOLL, Errno  # noqa: E402
from harness.run import Run  # noqa: E402
from harness.search import search  # noqa: E402
from properties.core import pin_balance  # noqa: E402
from properties.registry import prop  # noqa: E402


@prop("bench_fast_longterm_get_keeps_cma")
def fast_longterm_get_keeps_cma(run: Run) -> str | None:
    """get_user_pages_fast(FOLL_LONGTERM) returned a page in a CMA pageblock."""
    for r in run.results:
        if isinstance(r.op, sc.Gup) and r.op.api == "get_user_pages_fast" and r.flags & FOLL.LONGTERM:
            if any(g.migratetype == "CMA" and not g.zero for g in r.grabbed):
                return "GUP-fast kept a CMA page for FOLL_GET|FOLL_LONGTERM"
    return None


@prop("bench_folio_array_leak")
def folio_array_leak(run: Run) -> str | None:
    """A call whose allocation failed returned -ENOMEM, and pins are left over."""
    failed = any(r.alloc_failed and r.result == -Errno.ENOMEM for r in run.results)
    return "pins leaked after -ENOMEM" if failed and pin_balance(run) else None


CASES = (("bench_fast_longterm_get_keeps_cma", "v5.4"), ("bench_fast_longterm_get_keeps_cma", "v5.9"),
         ("bench_folio_array_leak", "v6.11"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=4000)
    args = parser.parse_args()
    for name, kernel in CASES:
        found = []
        for seed in range(args.seeds):
            result = search(kernel, [name], seed=seed, max_examples=args.budget, database=None, shrink=False,
                            base_settings=settings())
            found.append(result.examples if result.counterexample is not None else None)
        print(f"{name} on {kernel}: examples to the first hit per seed {found} (budget {args.budget})")


if __name__ == "__main__":
    main()
