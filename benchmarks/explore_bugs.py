"""Explorer figures: for each catalogued bug, the smallest depth at which `explore` finds it, the
runs, distinct states and seconds it took, against the corpus file's size; then the cost of
proving the ci and thorough scopes clean on mainline.

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
from harness.explore import CI_SCOPE, THOROUGH_SCOPE, explore  # noqa: E402
from harness.regression import load  # noqa: E402


def main() -> None:
    console = Console()
    table = Table(title="catalogued bugs, thorough scope (placement of the corpus file)")
    for column in ("file", "profile", "property", "depth", "runs", "states", "seconds", "corpus ops"):
        table.add_column(column)
    for path, kernel, prop in bugs(ROOT / "regressions"):
        recorded = load(path).scenario
        scope = attrs.evolve(THOROUGH_SCOPE, placements=(recorded.layout[0].placement,))
        result = explore(kernel, scope, [prop])
        depth = str(len(result.counterexample.ops)) if result.counterexample else "not found"
        table.add_row(path.name, kernel, prop, depth, str(result.runs), str(result.states),
                      f"{result.seconds:.2f}", str(len(recorded.ops)))
    console.print(table)
    if "--skip-proofs" in sys.argv:
        return
    for name, scope in (("ci", CI_SCOPE), ("thorough", THOROUGH_SCOPE)):
        result = explore("mainline", scope)
        verdict = "clean" if result.counterexample is None else f"violation: {sorted(result.failures)}"
        console.print(f"mainline, {name} scope: {scope.describe()}")
        console.print(f"  {verdict}; {result.runs} runs, {result.states} distinct states, {result.seconds:.1f} s; "
                      + ", ".join(f"depth {lv.depth}: {lv.runs} runs/{lv.states} states" for lv in result.levels))


if __name__ == "__main__":
    main()
