"""At which example each test that asserts a search finds a bug finds it, against its budget.

Run: PYTHONPATH=. python benchmarks/detection_margins.py [--only SUBSTRING] [--json]
Each search is the test's own call (same profile, properties, settings, seed and budget); the
derandomized ones give the same figure on every run of one Hypothesis version, so run it on
the oldest and the newest Hypothesis the project supports (tox envs py-hyp-min, py-hyp-latest).
A margin is thin when the bug is found after more than half the budget. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import hypothesis

from harness.cli import main as cli_main
from harness.profiles import register
from harness.search import search

ROOT = Path(__file__).resolve().parent.parent
#: (test id, run) -> run returns (example of the first failure or None, budget, note)
Case = tuple[str, Callable[[], tuple[int | None, int, str]]]


def property_search_cases() -> list[Case]:
    """tests/test_property_search.py, from its own parameter functions (so it stays in step)."""
    from tests import test_property_search as tps

    budget = tps.bug_budget()
    cases: list[Case] = []
    for kernel, prop, path in tps._recorded_bugs():
        def recorded(kernel: str = kernel, prop: str = prop, path: Path = path) -> tuple[int | None, int, str]:
            budget = tps.bug_budget(path)
            r = search(kernel, [prop], base_settings=tps.DERANDOMIZED(), max_examples=budget, database=None,
                       shrink=False)
            return (r.examples_to_failure if r.counterexample is not None else None), budget, "derandomized"
        cases.append((f"test_recorded_bug_is_found_from_scratch[{kernel}-{prop}-{path.name}]", recorded))
    for kernel in tps._uncovered_bug_profiles():
        def every(kernel: str = kernel) -> tuple[int | None, int, str]:
            for attempt, seed in enumerate((None, 1, 2), 1):
                r = search(kernel, sorted(tps.known_failures(kernel)), base_settings=tps.DERANDOMIZED(),
                           max_examples=budget, database=None, shrink=False, seed=seed)
                if r.counterexample is not None:
                    return r.examples_to_failure, budget, f"attempt {attempt} of 3 (seed {seed})"
            return None, budget, "none of 3 attempts"
        cases.append((f"test_every_bug_profile_shows_a_failure[{kernel}]", every))
    for seed in (0, 1, 2):
        def livelock(seed: int = seed) -> tuple[int | None, int, str]:
            r = search("v5.19-rc1", ["terminates"], seed=seed, max_examples=2000, database=None, shrink=False)
            return (r.examples_to_failure if r.counterexample is not None else None), 2000, f"seed {seed}"
        cases.append((f"test_seed_livelock_shrinks_to_one_page_and_one_longterm_call[{seed}]", livelock))
    return cases


@contextlib.contextmanager
def corpus_copy() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "regressions").mkdir()
        for path in (ROOT / "regressions").glob("*.json"):
            shutil.copy(path, Path(tmp) / "regressions" / path.name)
        yield Path(tmp)


def _hunt(argv: list[str], budget: int, note: str) -> tuple[int | None, int, str]:
    import io
    out = io.StringIO()
    with corpus_copy() as root, contextlib.redirect_stdout(out):
        cli_main(argv + ["--max-examples", str(budget), "--root", str(root), "--json", "--no-save"])
    return json.loads(out.getvalue())["examples_to_failure"], budget, note


@contextlib.contextmanager
def patched(module: object, name: str, value: object) -> Iterator[None]:
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def other_cases() -> list[Case]:
    """The other tests that assert a search finds something (their calls, repeated here)."""
    import harness.model.fault as fault
    import harness.run
    from harness.model import gup

    def known_explained() -> tuple[int | None, int, str]:  # tests/test_known.py
        return _hunt(["hunt", "--kernel", "v6.1", "--property", "pin_coherence", "--seed", "3"], 3000, "seed 3")

    def known_new() -> tuple[int | None, int, str]:  # tests/test_known.py, with its injected fault
        from harness.known import KnownFailures
        from tests.test_known import CORPUS, _seed_meeting_a_known_failure_first

        with patched(fault, "wp_can_reuse_anon_folio", lambda k, folio: False):
            seed = _seed_meeting_a_known_failure_first(KnownFailures.from_directory("v6.1", CORPUS))
            return _hunt(["hunt", "--kernel", "v6.1", "--new", "--seed", str(seed)], 3000,
                         f"seed {seed} (the test's pick), first new failure")

    def cli_seed() -> tuple[int | None, int, str]:  # tests/test_cli.py
        return _hunt(["hunt", "--kernel", "v5.19-rc1", "--property", "terminates", "--seed", "1"], 2000, "seed 1")

    def double_unpin() -> tuple[int | None, int, str]:  # tests/test_stated_rules.py, with its injected fault
        put = gup.gup_put_folio

        def twice(k, folio, flags, times=1):  # type: ignore[no-untyped-def]
            put(k, folio, flags, times)
            put(k, folio, flags, times)

        with patched(harness.run, "gup_put_folio", twice):
            r = search("mainline", ["no_bug_no_warn"], max_examples=50, database=None, seed=1, shrink=False)
        return (r.examples_to_failure if r.counterexample is not None else None), 50, "seed 1"

    def cheap_mutant() -> tuple[int | None, int, str]:  # tests/test_mutants.py
        from harness.mutants import MUTANTS
        from harness.mutbench import bench_one
        result = bench_one(MUTANTS["fast_error_leaks_prefix"], seeds=1, max_examples=300)
        return result["median_examples"], 300, "mutant worker, seed 0"

    def shared_database() -> tuple[int | None, int, str]:  # tests/test_shared_database.py: unseeded
        found = [search("v5.19-rc1", ["terminates"], seed=seed, max_examples=3000, database=None,
                        shrink=False).examples_to_failure for seed in range(10)]
        return max(found), 3000, f"unseeded in the test: worst of seeds 0-9 (all: {sorted(found)})"

    return [
        ("test_known.py::test_hunt_names_the_file_that_explains_a_finding_and_saves_no_duplicate", known_explained),
        ("test_known.py::test_hunt_new_finds_an_injected_fault_past_the_known_bug", known_new),
        ("test_cli.py::test_hunt_finds_and_saves_the_seed_livelock", cli_seed),
        ("test_stated_rules.py::test_search_and_cli_shrink_save_replay_and_print_a_bug", double_unpin),
        ("test_mutants.py::test_a_cheap_mutant_is_caught_by_a_short_search", cheap_mutant),
        ("test_shared_database.py::test_a_second_worker_replays_the_first_workers_failure_first", shared_database),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    register()
    rows = []
    for name, run in property_search_cases() + other_cases():
        if args.only not in name:
            continue
        started = time.perf_counter()
        found, budget, note = run()
        rows.append({"test": name, "found_at": found, "budget": budget, "note": note,
                     "share": None if found is None else round(found / budget, 3),
                     "seconds": round(time.perf_counter() - started, 1)})
        if not args.json:
            share = "NOT FOUND" if found is None else f"{found:>5} / {budget:<5} {100 * found / budget:5.1f}%"
            thin = "  THIN" if found is None or found > budget / 2 else ""
            print(f"{share}{thin}  {name}  ({note})", flush=True)
    if args.json:
        json.dump({"hypothesis": hypothesis.__version__, "python": sys.version.split()[0], "rows": rows},
                  sys.stdout, indent=1)
        print()
    else:
        print(f"Hypothesis {hypothesis.__version__}, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
