"""The property search: scenarios drawn from the project's strategies run through the model on
one profile until a property fails, then the failure is shrunk and reduced to its normal form.
Shared by `gupharness hunt`, the pytest property
tests and the benchmark, so all three see the same counterexamples."""

from __future__ import annotations

import random
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import attrs
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.database import InMemoryExampleDatabase, choices_to_bytes

from .finder import Unsupported, find, preshrink, replays_exactly, smallest_of_more
from .known import KnownFailures
from .model.kernels import Profile, get_profile
from .progress import ProgressFn
from .reduce import reduce
from .run import Run, run_scenario
from .scenario import Scenario
from .variants import family_forms, in_form

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:  # pragma: no cover - Hypothesis depends on the backport there
    from exceptiongroup import BaseExceptionGroup

#: examples a from-scratch search may spend on one catalogued bug (it stops at the first
#: failure and then shrinks): the budget the benchmark and the corpus tests use
BUG_BUDGET = 3000

#: a scenario's failures that count, by property name (empty: it holds)
Judge = Callable[[Scenario], dict[str, str]]


class PropertyFailed(AssertionError):
    def __init__(self, failures: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in failures.items()))
        self.failures = failures


_FAILURE_CLASSES: dict[tuple[str, str], type[PropertyFailed]] = {}


def _failure_class(key: tuple[str, str]) -> type[PropertyFailed]:
    """One exception class per (known-or-new, property): Hypothesis tells distinct failures
    apart by exception type and location, so each kind is shrunk on its own and a known
    failure never swallows a new one while shrinking."""
    if key not in _FAILURE_CLASSES:
        _FAILURE_CLASSES[key] = type(f"PropertyFailed_{key[0]}_{key[1]}", (PropertyFailed,), {})
    return _FAILURE_CLASSES[key]


@attrs.define
class Finding:
    """One distinct failure a search found and shrank."""

    counterexample: Scenario
    run: Run
    failures: dict[str, str]
    #: property -> the corpus file that explains its failure (absent: new); see harness.known
    explained: dict[str, Path] = attrs.field(factory=dict)

    @property
    def new(self) -> bool:
        return any(name not in self.explained for name in self.failures)


@attrs.define
class SearchResult:
    profile: Profile
    properties: tuple[str, ...]
    #: the shrunk counterexample, or None when every example held
    counterexample: Scenario | None
    run: Run | None
    failures: dict[str, str]
    #: examples run before the first failure (or in all, when none failed)
    examples_to_failure: int
    examples: int
    seconds_to_failure: float | None
    seconds: float
    #: every distinct failure, shrunk separately (new ones first); with a KnownFailures
    #: classifier and set_aside_known, only new ones
    findings: list[Finding] = attrs.field(factory=list)
    #: examples that failed only in ways the corpus explains, and were set aside
    set_aside: int = 0
    #: property -> corpus files that explained the examples set aside
    set_aside_by: dict[str, set[Path]] = attrs.field(factory=dict)
    #: the failure was replayed from the example database, not found by this search
    replayed: bool = False


def search(profile: Profile | str, property_names: tuple[str, ...] | list[str] | None = None, *,
           strategy: st.SearchStrategy[Scenario] | None = None,
           max_examples: int | None = None, seed: int | None = None,
           base_settings: settings | None = None,
           database: object = "default", reduce_further: bool = True, shrink: bool = True,
           known: KnownFailures | None = None, set_aside_known: bool = False,
           judge: Judge | None = None, progress: ProgressFn | None = None,
           generation: str = "random", hypothesis_shrink: bool = False) -> SearchResult:
    """Search for a scenario that breaks one of the named properties (default: all).

    With `known` (the corpus as seen from this profile) each failure is classified as known
    or new and the two kinds are shrunk apart; with `set_aside_known` too, examples that
    fail only in known ways count as passing, so the search keeps going past them and
    reports only failures no corpus file explains.

    `judge` replaces "run the scenario on the profile and check the properties": it returns
    the failures that count (the mutation benchmark keeps only those the clean model does not
    show). With a judge the counterexample is only Hypothesis-shrunk (no further reduction)
    and the result carries no Run. `progress` hears of each example (harness/progress.py);
    after the first failure Hypothesis gives no total for shrinking, so it hears None.

    `generation` chooses how examples are found: "random" (the default) draws them from the
    same strategies with a plain PRNG (harness/finder.py); "hypothesis" lets Hypothesis
    generate and shrink them (slower per example,
    and slower to meet multi-step interactions, see the README's "How the search works").

    After a "random" finding phase the failure is pre-shrunk on its choices and then reduced
    to its normal form (harness/reduce.py, harness/normalize.py); `hypothesis_shrink` puts
    Hypothesis' own shrinker between the two, as before the normal form existed. Measured on
    the catalogued bugs (3 seeds each) it made shrinking about twelve times slower and no more
    often canonical (benchmarks/shrink_pipeline.py)."""
    from properties import PROPERTIES
    from strategies import for_profile, scenarios

    if isinstance(profile, str):
        profile = get_profile(profile)
    names = tuple(property_names) if property_names else tuple(PROPERTIES)
    for name in names:
        if name not in PROPERTIES:
            from properties import UnknownProperty
            raise UnknownProperty(name)
    if set_aside_known and known is None:
        raise ValueError("set_aside_known needs a KnownFailures classifier")
    strategy = strategy if strategy is not None else scenarios(**for_profile(profile))
    state: dict = {"count": 0, "first": None, "first_t": None, "set_aside": 0, "focus": None,
                    "key": None}
    last: dict[tuple[str, str], Scenario] = {}
    set_aside_by: dict[str, set[Path]] = {}
    started = time.perf_counter()

    def failing_of(scenario: Scenario) -> dict[str, str]:
        # progress is reported here, not in check(): under derandomized settings Hypothesis
        # seeds its shrinking (and a "hypothesis" generation) from check()'s source
        if progress is not None:
            if state["first"] is None:
                progress(state["count"], budget, "examples")
            else:
                progress(state["count"], None, "shrinking")
        if judge is not None:
            return judge(scenario)
        if state["focus"] is not None:  # shrinking a found failure: see focus_on()
            form, failing = state["focus"]
            member = in_form(scenario, form)
            return {} if member is None else _failing_one(member, profile, failing)
        return _failing(scenario, profile, names)

    def focus_on(scenario: Scenario) -> None:
        """From the finding phase's failure on, judge only what failed: the family member
        that failed (its form) and the properties it broke. A shrink step then costs one model
        run instead of up to four, and the failure that was found is the one shrunk."""
        if judge is not None:
            return
        failures, form = failing_form(scenario, profile, names)
        if failures:
            state["focus"] = (form, tuple(sorted(failures)))

    def key_of(scenario: Scenario, failures: dict[str, str]) -> tuple[str, str]:
        if known is None:
            return ("any", "")
        explained = known.explain(scenario, failures)
        new = sorted(name for name, path in explained.items() if path is None)
        if new:
            return ("new", new[0])
        if set_aside_known:
            state["set_aside"] += 1
            for name, path in explained.items():
                if path is not None:
                    set_aside_by.setdefault(name, set()).add(path)
        return ("known", min(failures))

    def check(scenario: Scenario) -> None:
        state["count"] += 1
        failures = failing_of(scenario)
        if not failures:
            return
        key = key_of(scenario, failures)
        if key[0] == "known" and set_aside_known:
            return
        if state["first"] is None:
            state["first"] = state["count"]
            state["first_t"] = time.perf_counter() - started
        last[key] = scenario  # Hypothesis replays each shrunk failure last
        state["key"] = key
        raise _failure_class(key)(failures)

    def fails(scenario: Scenario) -> bool:
        """check() for the finding phase: the same bookkeeping, a verdict instead of a raise."""
        try:
            check(scenario)
        except PropertyFailed:
            return True
        return False

    chosen = base_settings if base_settings is not None else settings()
    overrides: dict = {"deadline": None, "report_multiple_bugs": True,
                       "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
                       "phases": [p for p in Phase if p is not Phase.explain and (shrink or p is not Phase.shrink)]}
    if max_examples is not None:
        overrides["max_examples"] = max_examples
    if database != "default":
        overrides["database"] = database
    if seed is not None:
        overrides["derandomize"] = False
    effective = settings(chosen, **overrides)
    budget = effective.max_examples
    # one example-database key per profile and property set, so a failure saved for one
    # search is replayed first by the same search (also on another CI machine sharing the DB)
    db_key = f"gupharness:{profile.name}:{','.join(names)}".encode()

    def run_hypothesis(phases: list[Phase] | None = None, db: object = "default") -> None:
        more: dict = {}
        if phases is not None:
            more["phases"] = phases
        base = effective
        if db != "default":
            more["database"] = db
            # shrinking a handed-over failure: Hypothesis ignores the database under @seed, so a
            # seeded search's shrink pass is derandomized instead, to shrink the same way each run
            base = settings(effective, derandomize=True)
        test: Callable[[], None] = settings(base, **more)(given(strategy)(check))
        test._hypothesis_internal_database_key = db_key  # type: ignore[attr-defined]
        if seed is not None and db == "default":  # Hypothesis ignores the database under @seed
            test = hypothesis_seed(seed)(test)
        try:
            test()
        except PropertyFailed:
            pass
        except BaseExceptionGroup as group:  # several distinct failures
            _, rest = group.split(PropertyFailed)
            if rest is not None:
                raise

    replayed = False
    if generation == "hypothesis":
        run_hypothesis()
    else:
        replayed = _find_then_shrink(strategy, fails, run_hypothesis, effective, db_key, budget,
                                     _finder_random(seed, effective, profile, names), shrink, seed is not None, last,
                                     focus_on, lambda: state["key"], hypothesis_shrink)
    if judge is not None:
        seconds = time.perf_counter() - started
        if not last:
            return SearchResult(profile, names, None, None, {}, state["count"], state["count"], None, seconds)
        judged = next(iter(last.values()))
        return SearchResult(profile, names, judged, None, judge(judged), state["first"], state["count"],
                            state["first_t"], seconds)
    findings = [_finish(profile, names, scenario, key, known, reduce_further and shrink)
                for key, scenario in sorted(last.items(), key=lambda item: item[0][0] != "new")]
    seconds = time.perf_counter() - started  # finding, shrinking and reducing
    common = {"findings": findings, "set_aside": state["set_aside"], "set_aside_by": set_aside_by,
              "replayed": replayed}
    if not findings:
        return SearchResult(profile, names, None, None, {}, state["count"], state["count"], None, seconds, **common)
    top = findings[0]
    return SearchResult(profile, names, top.counterexample, top.run, top.failures, state["first"], state["count"],
                        state["first_t"], seconds, **common)


#: how a search finds examples (see search()'s docstring)
GENERATIONS = ("random", "hypothesis")


def _finder_random(seed: int | None, effective: settings, profile: Profile, names: tuple[str, ...]
                   ) -> random.Random:
    """The finding phase's PRNG: the given seed's stream; under derandomized settings (the `ci`
    profile) one fixed stream per profile and property set, so a run's verdict is the same on
    every machine; otherwise a fresh one."""
    if seed is not None:
        return random.Random(seed)
    if effective.derandomize:
        return random.Random(zlib.crc32(f"{profile.name}:{','.join(names)}".encode()))
    return random.Random()


def _find_then_shrink(strategy: st.SearchStrategy[Scenario], fails: Callable[[Scenario], bool],
                      run_hypothesis: Callable[..., None], effective: settings, key: bytes, budget: int,
                      rnd: random.Random, shrink: bool, seeded: bool, last: dict,
                      focus_on: Callable[[Scenario], None], failure_key: Callable[[], object],
                      hypothesis_shrink: bool) -> bool:
    """Saved failures first (as Hypothesis replays them), then the cheap finding phase, then
    the first failure pre-shrunk on its recorded choices (and, with `hypothesis_shrink`,
    shrunk by Hypothesis from them). Its choices go to the example database, where the next
    search replays them first. True when the failure came from the example database.

    As with Hypothesis' own @seed, a seeded search neither replays nor saves (with
    `hypothesis_shrink` it shrinks in a private in-memory database)."""
    db = None if seeded else effective.database
    replay = [Phase.reuse, Phase.shrink] if shrink else [Phase.reuse]
    if db is not None and Phase.reuse in effective.phases and next(iter(db.fetch(key)), None) is not None:
        run_hypothesis(phases=replay)
        if last:
            return True
    try:
        found = find(strategy, fails, budget, rnd)
    except Unsupported:  # a strategy the finder cannot draw: Hypothesis generates instead
        run_hypothesis()
        return False
    if found is None or not shrink:
        return False
    target = failure_key()
    focus_on(found.value)

    def fails_alike(scenario: Scenario) -> bool:
        return fails(scenario) and failure_key() == target

    found = smallest_of_more(strategy, found, fails_alike, rnd)
    found = preshrink(strategy, found, fails_alike)
    # the failures met on the way that fail otherwise are not what is being shrunk
    last.clear()
    last[target] = found.value
    if not replays_exactly(strategy, found.choices, found.value):  # pragma: no cover - see finder.py
        return False  # left to the scenario reducer alone
    if not hypothesis_shrink:
        if db is not None:  # where Hypothesis keeps the failures it shrank: replayed first next time
            db.save(key, choices_to_bytes(found.choices))
        return False
    store = db if db is not None else InMemoryExampleDatabase()
    # the secondary corpus, where Hypothesis keeps failures it has not shrunk yet: one replayed
    # from the primary key counts as shrunk already, and Hypothesis would skip shrinking it
    store.save(key + b".secondary", choices_to_bytes(found.choices))  # type: ignore[attr-defined]
    run_hypothesis(phases=replay, db=store)
    return False


def _finish(profile: Profile, names: tuple[str, ...], counterexample: Scenario, key: tuple[str, str],
            known: KnownFailures | None, reduce_further: bool) -> Finding:
    """Reduce one shrunk failure further (keeping what made it this kind) and run it traced."""
    from properties import check_all

    def failing_of(scenario: Scenario) -> dict[str, str]:
        return _failing_one(scenario, profile, names)

    # the search checked each example's entry-point family: from here on, the member that fails
    counterexample = failing_member(counterexample, profile, names)[1]
    if reduce_further:
        failing = failing_of(counterexample)
        if key[0] == "new" and known is not None:
            keep = [name for name, path in known.explain(counterexample, failing).items() if path is None]
        else:
            keep = list(failing)

        def still_fails(candidate: Scenario) -> bool:
            now = failing_of(candidate)
            if not all(name in now for name in keep):
                return False
            if key[0] == "new" and known is not None:
                return all(path is None for path in known.explain(candidate, keep).values())
            return True

        counterexample = reduce(counterexample, still_fails)
    run = run_scenario(counterexample, profile)
    failures = {k: v for k, v in check_all(run, names).items() if v is not None}
    explained: dict[str, Path] = {}
    if known is not None:
        explained = {k: v for k, v in known.explain(counterexample, failures).items() if v is not None}
    return Finding(counterexample, run, failures, explained)


def _failing(scenario: Scenario, profile: Profile, names: tuple[str, ...]) -> dict[str, str]:
    """The named properties the scenario, or the first member of its entry-point family
    that fails (harness/variants.py), breaks on `profile`."""
    return failing_member(scenario, profile, names)[0]


def failing_member(scenario: Scenario, profile: Profile | str, names: tuple[str, ...] | None = None
                   ) -> tuple[dict[str, str], Scenario]:
    """(failures, the scenario that has them): the scenario itself, else the first of its
    entry-point variants that fails; ({}, scenario) when the whole family holds."""
    for _form, member in family_forms(scenario):
        failures = _failing_one(member, profile, names)
        if failures:
            return failures, member
    return {}, scenario


def failing_form(scenario: Scenario, profile: Profile | str, names: tuple[str, ...] | None = None
                 ) -> tuple[dict[str, str], str | None]:
    """failing_member(), naming the member by its form (harness/variants.py: family_forms)."""
    for form, member in family_forms(scenario):
        failures = _failing_one(member, profile, names)
        if failures:
            return failures, form
    return {}, None


def _failing_one(scenario: Scenario, profile: Profile | str, names: tuple[str, ...] | None) -> dict[str, str]:
    """The named properties the scenario breaks on `profile` (none where it does not apply)."""
    from properties import check_all, need_snapshots

    run = run_scenario(scenario, profile, trace=False, snapshots=need_snapshots(names))
    if run.not_applicable:
        return {}
    return {k: v for k, v in check_all(run, names).items() if v is not None}
