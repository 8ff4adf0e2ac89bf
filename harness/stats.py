"""`gupharness stats`: how often generated scenarios contain each interaction family.

Draws N scenarios with the same strategy the search uses on a profile (generation only: no
property is checked, nothing shrinks), runs each on that profile and counts, per family of
harness/families.py and per API x flag mix, the share of scenarios that contain it. A family
at 0% is one the search cannot find a bug in.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.strategies import SearchStrategy
from rich.console import Group
from rich.table import Table
from rich.text import Text

from . import scenario as sc
from .families import FAMILIES, FLAG_MIXES, calls, families, possible_mix
from .model.kernels import Profile, get_profile
from .run import run_scenario


def collect(profile: Profile | str, examples: int, seed: int = 0,
            strategy: SearchStrategy[sc.Scenario] | None = None) -> dict[str, Any]:
    """Generate `examples` scenarios for `profile` (with the search's strategy for it, or
    `strategy`, e.g. conform's) and count families and API x flag mixes."""
    from strategies import for_profile, scenarios

    profile = get_profile(profile) if isinstance(profile, str) else profile
    if strategy is None:
        strategy = scenarios(**for_profile(profile))
    family_counts = dict.fromkeys(FAMILIES, 0)
    call_counts: dict[tuple[str, str], int] = {}
    state = {"n": 0, "ops": 0, "run_s": 0.0}

    def record(scenario: sc.Scenario) -> None:
        state["n"] += 1
        state["ops"] += len(scenario.ops)
        t = time.perf_counter()
        run = run_scenario(scenario, profile, trace=False)
        state["run_s"] += time.perf_counter() - t
        for name in families(run):
            family_counts[name] += 1
        for key in calls(scenario):
            call_counts[key] = call_counts.get(key, 0) + 1

    test = settings(max_examples=examples, phases=[Phase.generate], database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))(given(strategy)(record))
    started = time.perf_counter()
    hypothesis_seed(seed)(test)()
    seconds = time.perf_counter() - started
    n = max(state["n"], 1)
    apis = sc.APIS
    return {
        "kernel": profile.name, "examples": state["n"], "seconds": round(seconds, 3),
        "examples_per_second": round(state["n"] / seconds, 1) if seconds else None,
        "mean_ops": round(state["ops"] / n, 2),
        "model_seconds": round(state["run_s"], 3),
        "families": {name: round(family_counts[name] / n, 4) for name in FAMILIES},
        "calls": {api: {mix: (round(call_counts.get((api, mix), 0) / n, 4) if possible_mix(profile, api, mix)
                              else None) for mix in FLAG_MIXES} for api in apis},
    }


def _cell(share: float | None) -> Text:
    if share is None:
        return Text("·", style="dim")
    if share == 0:
        return Text("0%", style="bold white on red")
    return Text(f"{share:.1%}" if share < 0.1 else f"{share:.0%}")


def render(data: dict[str, Any]) -> Group:
    """Two tables; every family or possible API x flag mix at 0% shows white on red."""
    head = Text(f"{data['examples']} scenarios generated on {data['kernel']} in {data['seconds']} s "
                f"({data['examples_per_second']}/s, {data['mean_ops']} ops on average; "
                f"model runs {data['model_seconds']} s of it)")
    fam = Table(title="interaction families (share of scenarios containing one)", title_justify="left")
    fam.add_column("family")
    fam.add_column("share", justify="right")
    fam.add_column("meaning")
    for name, share in data["families"].items():
        fam.add_row(name, _cell(share), FAMILIES[name][0])
    api = Table(title="GUP calls: share of scenarios with a call of this API and flag mix "
                "(· the format cannot express it on this profile)", title_justify="left")
    api.add_column("api")
    for mix in FLAG_MIXES:
        api.add_column(mix, justify="right")
    for name, row in data["calls"].items():
        api.add_row(name, *(_cell(row[mix]) for mix in FLAG_MIXES))
    zero = [n for n, s in data["families"].items() if s == 0]
    zero += [f"{a} {m}" for a, row in data["calls"].items() for m, s in row.items() if s == 0]
    tail = Text(f"never generated: {', '.join(zero)}", style="bold red") if zero else Text(
        "every family and every possible API x flag mix was generated", style="green")
    return Group(head, fam, api, tail)
