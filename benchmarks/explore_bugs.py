"""Explorer figures: for each catalogued bug, the cheapest named scope holding its corpus scenario,
the smallest depth at which `explore` finds it there, the runs, distinct states and seconds it
took, against the corpus file's size; then the cost of proving each named scope clean on
mainline (the wide scope: clean but for the failures the corpus records on mainline, the driver
CMA page's livelock).

    python benchmarks/explore_bugs.py [--skip-proofs]
"""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.bench import bugs  # noqa: E402
from harness.explore import SCOPES, THOROUGH_SCOPE, explore, smallest_scope  # noqa: E402
from harness.regression import load, recorded_failures  # noqa: E402
from properties import PROPERTIES  # noqa: E402


def recorded_on(kernel: str) -> set[str]:
    """Properties some corpus file expects to fail on `kernel`."""
    return recorded_failures(kernel, ROOT / "regressions")


def main() -> None:
    console = Console(width=160)
    table = Table(title="catalogued bugs, each in the cheapest named scope holding its corpus scenario")
    for column in ("file", "profile", "property", "scope", "depth", "runs", "states", "seconds", "corpus ops"):
        table.add_column(column)
    found = total = 0
    for path, kernel, prop in bugs(ROOT / "regressions"):
        recorded = load(path).scenario
        name = smallest_scope(recorded)
        # outside every scope: the thorough one with the corpus file's placement, as before
        scope = SCOPES[name] if name else attrs.evolve(THOROUGH_SCOPE, placements=(recorded.layout[0].placement,))
        result = explore(kernel, scope, [prop])
        total += 1
        minimal = result.counterexample is not None and len(result.counterexample.ops) <= len(recorded.ops)
        found += minimal
        depth = str(len(result.counterexample.ops)) if result.counterexample else "not found"
        table.add_row(path.name, kernel, prop, name or "none (thorough, widened)", depth, str(result.runs),
                      str(result.states), f"{result.seconds:.2f}", str(len(recorded.ops)))
    console.print(table)
    console.print(f"found {found} of {total}, each no larger than its corpus file")
    if "--skip-proofs" in sys.argv:
        return
    for name, scope in SCOPES.items():
        names = [p for p in PROPERTIES if p not in recorded_on("mainline")] if name == "wide" else None
        result = explore("mainline", scope, names)
        verdict = "clean" if result.counterexample is None else f"violation: {sorted(result.failures)}"
        left_out = f" (left out, recorded on mainline: {', '.join(sorted(recorded_on('mainline')))})" if names else ""
        console.print(f"mainline, {name} scope: {scope.describe()}")
        console.print(f"  {verdict}{left_out}; {result.runs} runs, {result.states} distinct states, "
                      f"{result.seconds:.1f} s; "
                      + ", ".join(f"depth {lv.depth}: {lv.runs} runs/{lv.states} states" for lv in result.levels))


if __name__ == "__main__":
    main()
