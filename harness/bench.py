"""The detection benchmark: how reliably and how fast the search finds each catalogued bug.

For every regression file that expects a property to fail somewhere, search that profile
from scratch (no example database) with N seeds and report the detection rate, examples
and seconds to the first failure, seconds until shrinking is done, and how often the
shrunk scenario is canonical: the normal form (harness/normalize.py) the file's own scenario
reduces to, or that of another file recording the same property failing on that profile (the
search cannot tell them apart); and how often it is no larger than the smallest of those files'
scenarios as recorded. Also the speed of the
search beside model-only runs on the same scenarios. A benchmark, never a timed test.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import attrs
from rich.table import Table

from .model.kernels import PROFILE_NAMES
from .progress import ProgressFn
from .reduce import reduce
from .regression import RegressionError, load
from .scenario import Scenario
from .search import BUG_BUDGET, GENERATIONS, _failing, _failing_one, search


@attrs.define
class BugResult:
    file: str
    profile: str
    property: str
    seeds: int
    detected: int = 0
    examples_to_failure: list[int] = attrs.field(factory=list)
    seconds_to_failure: list[float] = attrs.field(factory=list)
    seconds_total: list[float] = attrs.field(factory=list)
    canonical: int = 0
    #: shrunk to a counterexample no larger than the smallest recorded one (scenario_size)
    no_larger: int = 0

    def to_json(self) -> dict[str, Any]:
        ex, det, tot = self.examples_to_failure, self.seconds_to_failure, self.seconds_total
        return {
            "file": self.file, "profile": self.profile, "property": self.property, "seeds": self.seeds,
            "detection_rate": self.detected / self.seeds,
            "median_examples_to_failure": statistics.median(ex) if ex else None,
            "max_examples_to_failure": max(ex) if ex else None,
            "median_seconds_to_detect": round(statistics.median(det), 3) if det else None,
            "median_seconds_to_shrunk": round(statistics.median(tot), 3) if tot else None,
            "canonical_rate": self.canonical / self.detected if self.detected else None,
            "no_larger_rate": self.no_larger / self.detected if self.detected else None,
            "examples_to_failure": ex, "seconds_to_detect": [round(t, 3) for t in det],
        }


def bugs(directory: str | Path = "regressions", all_profiles: bool = False,
         skip_broken: bool = False) -> list[tuple[Path, str, str]]:
    """(file, profile, property) for each recorded failure. By default one profile per file
    and property: first avoiding profiles where another file records a livelock (`terminates`:
    each run that livelocks ends before its later operations, starving the search), then the
    one where the fewest other files expect the same property to fail (so the search there
    can only be finding this file's bug), the earliest on a tie.
    `skip_broken` passes over files that do not load (pytest reports them on their own)."""
    regs = {}
    for path in sorted(Path(directory).glob("*.json")):
        try:
            regs[path] = load(path)
        except RegressionError:
            if not skip_broken:
                raise
    found: list[tuple[Path, str, str]] = []
    for path, reg in regs.items():
        by_prop: dict[str, list[str]] = {}
        for profile in PROFILE_NAMES:
            for prop in sorted(reg.expected_failures(profile)):
                by_prop.setdefault(prop, []).append(profile)
        for prop, profiles in by_prop.items():
            if all_profiles:
                found += [(path, profile, prop) for profile in profiles]
                continue

            def rivals(profile: str, prop: str = prop, path: Path = path) -> int:
                return sum(1 for other, r in regs.items() if other != path and prop in r.expected_failures(profile))

            def livelocks(profile: str, path: Path = path) -> int:
                return sum(1 for other, r in regs.items() if other != path and "terminates" in r.expected_failures(profile))

            found.append((path, min(profiles, key=lambda p: (livelocks(p), rivals(p))), prop))
    if all_profiles:
        return found
    # the same profile and property twice: keep the file with the smaller scenario (the other
    # records a longer story whose search would find the short one)
    # (on a tie, the file recording fewer failures there: the one about that property alone)
    best: dict[tuple[str, str], tuple[Path, str, str]] = {}

    def size(entry: tuple[Path, str, str]) -> tuple[int, int]:
        reg = regs[entry[0]]
        return len(reg.scenario.ops), len(reg.expected_failures(entry[1]))

    for entry in found:
        key = (entry[1], entry[2])
        if key not in best or size(entry) < size(best[key]):
            best[key] = entry
    return [entry for entry in found if best[(entry[1], entry[2])] is entry]


def canonical_form(scenario: Scenario, profile: str, prop: str) -> Scenario:
    """Where a search for `prop` on `profile` should end when it meets this recorded failure:
    the scenario reduced the way the search reduces its own (harness/reduce.py, which ends in
    harness/normalize.py's normal form). A file may tell a longer story (vmsplice, then a
    release) than the smallest failure of that property (the same overflow through
    get_user_pages, no release): its canonical form is that smallest one."""
    names = (prop,)
    return reduce(scenario, lambda candidate: prop in _failing_one(candidate, profile, names))


def scenario_size(scenario: Scenario) -> tuple[int, int, int]:
    """How big a counterexample is, to compare a shrunk one with the corpus's: operations
    (interleaved ones included), then VMAs, then pages."""
    ops = sum(1 + len(getattr(op, "interleave", ())) for op in scenario.ops)
    return ops, len(scenario.layout), sum(vma.pages for vma in scenario.layout)


def _search_once(task: tuple[str, str, int, int]) -> tuple[int, float, float, Scenario] | None:
    """One from-scratch search of the benchmark (in a worker process with --workers):
    (examples to failure, seconds to detect, seconds to shrunk, counterexample), or None."""
    from hypothesis import settings

    profile, prop, seed, max_examples = task
    found = search(profile, [prop], seed=seed, max_examples=max_examples, base_settings=settings.get_profile("ci"),
                   database=None)
    if found.counterexample is None:
        return None
    return found.examples_to_failure, found.seconds_to_failure or 0.0, found.seconds, found.counterexample


def run_bench(seeds: int = 20, max_examples: int = BUG_BUDGET, directory: str | Path = "regressions",
              all_profiles: bool = False, speed_examples: int = 1000,
              only: str | None = None, progress: ProgressFn | None = None, workers: int = 1) -> dict[str, Any]:
    """`workers` > 1 runs that many searches at a time, each in its own process: give it no more
    than the machine has idle cores, or the seconds measure the contention."""
    chosen = [(path, profile, prop) for path, profile, prop in bugs(directory, all_profiles)
              if only is None or only in path.name]
    total = len(chosen) * seeds + 1  # every seed of every bug, then the speed comparison
    tasks = [(profile, prop, seed, max_examples) for _path, profile, prop in chosen for seed in range(seeds)]
    outcomes: list[tuple[int, float, float, Scenario] | None] = [None] * len(tasks)
    done = 0

    def finished(index: int, outcome: tuple[int, float, float, Scenario] | None) -> None:
        nonlocal done
        outcomes[index] = outcome
        if progress is not None:  # counts those finished before this one, as the speed comparison's does
            profile, prop, seed, _ = tasks[index]
            progress(done, total, f"{prop} on {profile}, seed {seed}")
        done += 1

    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_search_once, task): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                finished(futures[future], future.result())
    else:
        for i, task in enumerate(tasks):
            finished(i, _search_once(task))
    corpus = {path: load(path) for path in sorted(Path(directory).glob("*.json"))}
    results: list[BugResult] = []
    for number, (path, profile, prop) in enumerate(chosen):
        # A search finds "prop fails on profile"; several files may record that (e.g. pin_coherence
        # on v5.7), and the search, stopping at the first failure, shrinks whichever it met. It is
        # canonical when it ends at the normal form of the file's own scenario or of another such file's.
        recorded = [r.scenario for r in corpus.values() if prop in r.expected_failures(profile)]
        canonical = {canonical_form(scenario, profile, prop) for scenario in recorded}
        smallest = min(scenario_size(scenario) for scenario in recorded)
        result = BugResult(str(path), profile, prop, seeds)
        for outcome in outcomes[number * seeds:(number + 1) * seeds]:
            if outcome is None:
                continue
            examples, seconds_to_failure, seconds, counterexample = outcome
            result.detected += 1
            result.examples_to_failure.append(examples)
            result.seconds_to_failure.append(seconds_to_failure)
            result.seconds_total.append(seconds)
            result.canonical += counterexample in canonical
            result.no_larger += scenario_size(counterexample) <= smallest
        results.append(result)
    if progress is not None:
        progress(len(chosen) * seeds, total, "search speed against model-only speed")
    speed = {generation: search_speed(generation, speed_examples) for generation in GENERATIONS}
    return {
        "machine": {"node": platform.node(), "python": platform.python_version(), "cpus": os.cpu_count(),
                    "kernel": platform.release()},
        "seeds": seeds, "max_examples": max_examples,
        "bugs": [r.to_json() for r in results],
        "search_speed": speed,
    }


def render(data: dict[str, Any]) -> Table:
    table = Table(title=f"detection over {data['seeds']} seeds (budget {data['max_examples']} examples per search)",
                  title_justify="left")
    for column in ("bug", "profile", "property", "detected", "examples median/max", "s to detect",
                   "s to shrunk", "canonical", "no larger"):
        table.add_column(column)
    for bug in data["bugs"]:
        rate = bug["detection_rate"]
        table.add_row(
            Path(bug["file"]).stem, bug["profile"], bug["property"],
            f"[{'green' if rate == 1 else 'red'}]{rate:.0%}[/]",
            f"{bug['median_examples_to_failure']}/{bug['max_examples_to_failure']}",
            f"{bug['median_seconds_to_detect']}", f"{bug['median_seconds_to_shrunk']}",
            "-" if bug["canonical_rate"] is None else f"{bug['canonical_rate']:.0%}",
            "-" if bug.get("no_larger_rate") is None else f"{bug['no_larger_rate']:.0%}",
        )
    return table


def search_speed(generation: str = "random", examples: int = 1000, profile: str = "mainline") -> dict[str, Any]:
    """Examples per second of the search (every property, `examples` examples, none stopping it)
    beside model-only runs per second on the very scenarios it drew: how much of the search's
    time is the model's. Each example is checked as its entry-point family in both."""
    from hypothesis import settings

    from properties import PROPERTIES

    from .model.kernels import get_profile

    names = tuple(PROPERTIES)
    model = get_profile(profile)
    drawn: list[Any] = []

    def judge(scenario: Any) -> dict[str, str]:
        drawn.append(scenario)
        _failing(scenario, model, names)
        return {}  # nothing stops the search: every example is drawn and checked

    started = time.perf_counter()
    search(profile, list(names), seed=0, max_examples=examples, base_settings=settings.get_profile("ci"),
           database=None, judge=judge, generation=generation)
    searching = time.perf_counter() - started
    started = time.perf_counter()
    for scenario in drawn:
        _failing(scenario, model, names)
    modelling = time.perf_counter() - started
    return {"profile": profile, "examples": len(drawn),
            "search_examples_per_second": round(len(drawn) / searching, 1),
            "model_runs_per_second": round(len(drawn) / modelling, 1),
            "ratio": round(modelling / searching, 3)}


def render_speed(data: dict[str, Any]) -> Table:
    table = Table(title="search speed against model-only speed (every property, same scenarios)",
                  title_justify="left")
    for column in ("generation", "examples", "search examples/s", "model-only runs/s", "ratio"):
        table.add_column(column)
    for generation, row in data["search_speed"].items():
        table.add_row(generation, str(row["examples"]), str(row["search_examples_per_second"]),
                      str(row["model_runs_per_second"]), f"{row['ratio']:.0%}")
    return table
