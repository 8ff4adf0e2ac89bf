"""The mutation benchmark: does the property search catch plausible mistakes in the model?

For each mutant (harness/mutants.py), a subprocess runs with GUPHARNESS_MUTANT set (so the
patched model never leaks into this process) and searches each of the mutant's profiles
from scratch with every property, under the ci settings and the bug budget, once per seed.
A failure counts only if the clean model does not show it for the same scenario on that
profile: the worker asks a second subprocess running the clean model, and a failure both
show is set aside while the search goes on (so a known bug of an old profile does not mask
the mutant). A model exception (a BUG the model reaches, or a crash) counts as a failure
named after it. Not shrunk: the benchmark measures finding, not minimising.

    python -m harness.mutbench worker --seeds N   (with GUPHARNESS_MUTANT=NAME; a JSON line per search)
    python -m harness.mutbench clean                    (the clean model's verdicts, JSON lines)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from rich.table import Table

from .mutants import MUTANTS, Mutant
from .mutate import ENV, installed, mutant_env


def _env(mutant: str | None) -> dict[str, str]:
    return mutant_env(mutant)


def verdicts(scenario: Any, profile: str) -> dict[str, str]:
    """Every property's failure on this scenario, in this process's model; a model exception
    is a failure named after it ("BUG" for the model's own consistency checks)."""
    from properties import check_all

    from .model.bug import KernelBug
    from .run import run_scenario

    try:
        run = run_scenario(scenario, profile, trace=False)
        if run.not_applicable:
            return {}
        return {k: v for k, v in check_all(run).items() if v is not None}
    except KernelBug as exc:
        return {"BUG": str(exc)}
    except Exception as exc:  # a mutant may break the model's own invariants anywhere
        return {f"crash:{type(exc).__name__}": str(exc)}


class CleanModel:
    """The clean model's verdicts, from a subprocess without the mutant (cached)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.mutbench", "clean"], env=_env(None),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.cache: dict[str, frozenset[str]] = {}

    def failures(self, scenario: Any, profile: str) -> frozenset[str]:
        from .serialize import to_data

        key = json.dumps({"profile": profile, "scenario": to_data(scenario)}, sort_keys=True)
        if key not in self.cache:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(key + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the clean-model subprocess ended")
            self.cache[key] = frozenset(json.loads(line))
        return self.cache[key]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def serve_clean(stdin: IO[str], stdout: IO[str]) -> None:
    """Answer each {"profile", "scenario"} line with the list of properties that fail."""
    from .serialize import from_data

    for line in stdin:
        request = json.loads(line)
        failing = sorted(verdicts(from_data(request["scenario"]), request["profile"]))
        stdout.write(json.dumps(failing) + "\n")
        stdout.flush()


def run_worker(seeds: int, max_examples: int, out: IO[str]) -> None:
    """In a process running a mutant: search each of its profiles once per seed, writing one
    JSON line per search as it finishes (so a worker stopped early keeps what it found)."""
    from hypothesis import settings

    from .profiles import register
    from .search import search
    from .variants import entry_point_family

    mutant = installed()
    if mutant is None:
        raise SystemExit(f"gupharness: {ENV} is not set: the worker needs a mutant")
    if not isinstance(mutant, Mutant):
        raise SystemExit(f"gupharness: {ENV} names a generated mutant: the worker needs a catalogued one")
    register()
    ci = settings.get_profile("ci")
    clean = CleanModel()
    try:
        for profile in mutant.profiles:
            masked = Counter[str]()

            def judge(scenario: Any, profile: str = profile, masked: Counter[str] = masked) -> dict[str, str]:
                # the whole entry-point family, as the search checks it (harness/variants.py)
                for member in entry_point_family(scenario):
                    failures = verdicts(member, profile)
                    if not failures:
                        continue
                    known = clean.failures(member, profile)
                    masked.update(name for name in failures if name in known)
                    new = {k: v for k, v in failures.items() if k not in known}
                    if new:
                        return new
                return {}

            for seed in range(seeds):
                masked.clear()
                started = time.perf_counter()
                found = search(profile, None, seed=seed, max_examples=max_examples, base_settings=ci,
                               database=None, shrink=False, judge=judge)
                out.write(json.dumps({
                    "profile": profile, "seed": seed, "caught": found.counterexample is not None,
                    "properties": sorted(found.failures),
                    "examples": found.examples_to_failure if found.counterexample is not None else found.examples,
                    "seconds": round(found.seconds_to_failure if found.seconds_to_failure is not None
                                     else time.perf_counter() - started, 3),
                    "set_aside": dict(masked),
                }) + "\n")
                out.flush()
    finally:
        clean.close()


def bench_one(mutant: Mutant, seeds: int, max_examples: int) -> dict[str, Any]:
    """Run one mutant's worker subprocess and summarise its seeds."""
    cmd = [sys.executable, "-m", "harness.mutbench", "worker", "--seeds", str(seeds),
           "--max-examples", str(max_examples)]
    # a backstop only (the model's step budget bounds every run): generous for a loaded machine
    timeout = 300 + 900 * seeds * len(mutant.profiles)
    try:
        done = subprocess.run(cmd, env=_env(mutant.name), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return summarise(mutant, seeds, _runs(partial), f"timed out after {timeout} s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return summarise(mutant, seeds, _runs(done.stdout), f"worker failed (exit {done.returncode}): {last}")
    return summarise(mutant, seeds, _runs(done.stdout), None)


def _runs(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def summarise(mutant: Mutant, seeds: int, runs: list[dict[str, Any]], error: str | None) -> dict[str, Any]:
    caught = [r for r in runs if r["caught"]]
    by = Counter(p for r in caught for p in r["properties"])
    set_aside = Counter[str]()
    for r in runs:
        set_aside.update(r["set_aside"])
    return {
        "mutant": mutant.name, "module": mutant.module, "why": mutant.why, "profiles": list(mutant.profiles),
        "searches": seeds * len(mutant.profiles), "completed": len(runs), "caught": len(caught),
        "by": dict(by.most_common()),
        "median_examples": statistics.median(r["examples"] for r in caught) if caught else None,
        "median_seconds": round(statistics.median(r["seconds"] for r in caught), 3) if caught else None,
        "set_aside_by_clean_model": dict(set_aside),
        "error": error, "runs": runs,
    }


def run_mutants(seeds: int, max_examples: int, only: str | None = None, workers: int = 2,
                progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    chosen = [m for m in MUTANTS.values() if only is None or only in m.name]
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for result in pool.map(lambda m: bench_one(m, seeds, max_examples), chosen):
            results.append(result)
            if progress is not None:
                progress(result)
    always = sum(1 for r in results if r["searches"] and r["caught"] == r["searches"])
    ever = sum(1 for r in results if r["caught"])
    return {"seeds": seeds, "max_examples": max_examples, "mutants": results,
            "caught_every_seed": always, "caught_some_seed": ever, "total": len(results),
            "seconds": round(time.perf_counter() - started, 1)}


def render(data: dict[str, Any]) -> Table:
    table = Table(title=f"mutants caught over {data['seeds']} seeds (budget {data['max_examples']} examples per "
                  "search, failures the clean model shows set aside)", title_justify="left")
    for column in ("mutant", "profile", "caught", "by", "examples (median)", "s (median)"):
        table.add_column(column)
    for r in data["mutants"]:
        colour = "green" if r["searches"] and r["caught"] == r["searches"] else "red"
        by = ", ".join(f"{name} {n}" for name, n in r["by"].items()) or "-"
        if r["error"]:
            by += f" [{r['error']}; {r['completed']} of {r['searches']} searches done]"
        table.add_row(r["mutant"], ",".join(r["profiles"]), f"[{colour}]{r['caught']}/{r['searches']}[/]", by,
                      "-" if r["median_examples"] is None else str(r["median_examples"]),
                      "-" if r["median_seconds"] is None else str(r["median_seconds"]))
    total = data["total"] or 1
    table.caption = (f"caught in every seed: {data['caught_every_seed']}/{data['total']} "
                     f"({data['caught_every_seed'] / total:.0%}); in some seed: {data['caught_some_seed']}/"
                     f"{data['total']} ({data['caught_some_seed'] / total:.0%}); {data['seconds']} s")
    return table


def listing(only: str | None = None) -> str:
    """Every mutant with its rationale, profiles and diff against today's source."""
    out = []
    for m in MUTANTS.values():
        if only is not None and only not in m.name:
            continue
        out.append(f"{m.name} [{', '.join(m.profiles)}]: {m.why}\n{m.diff()}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.mutbench")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker")
    worker.add_argument("--seeds", type=int, default=5)
    worker.add_argument("--max-examples", type=int, default=None)
    sub.add_parser("clean")
    args = parser.parse_args(argv)
    if args.command == "clean":
        serve_clean(sys.stdin, sys.stdout)
        return 0
    from .search import BUG_BUDGET
    run_worker(args.seeds, args.max_examples or BUG_BUDGET, sys.stdout)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
