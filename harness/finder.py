"""The finding phase: the project's own strategies drawn with a plain PRNG, outside Hypothesis.

Why: Hypothesis spends most of an example's time in its own machinery (about 20 µs per choice,
some 80 choices per scenario: more than running the scenario on the model), and its engine
favours simple examples and mutations of earlier ones, which makes multi-step, multi-process
interactions slow to meet. Here the same strategy objects are interpreted directly: every
primitive choice (a bounded integer, a boolean, an index into `sampled_from`) is one call to
`random.Random` and is recorded, so the choice sequence of a failing example is exactly the one
Hypothesis would have made for it. `harness/search.py` hands that sequence to Hypothesis
(through its example database) to shrink, so counterexamples stay minimal and replayable.

Only the strategy kinds `strategies/` uses are interpreted (bounded `integers`, `booleans`,
plain `sampled_from`, `.map`, `@composite`); any other kind raises `Unsupported` and the
search falls back to Hypothesis generation. `replays_exactly` checks that Hypothesis, given the
recorded choices, draws the same scenario: the test suite runs it on every supported Hypothesis
version, so a change in how Hypothesis maps strategies to choices shows there, not as a silent
loss of shrinking.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st

#: one primitive choice, as Hypothesis records it
Choice = int | bool


class Unsupported(Exception):
    """A strategy kind the finder does not interpret (the search then uses Hypothesis)."""


class RandomDraw:
    """The `draw` a composite strategy receives: each primitive choice from the PRNG, recorded."""

    __slots__ = ("choices", "random")

    def __init__(self, rnd: random.Random) -> None:
        self.random = rnd
        self.choices: list[Choice] = []

    def __call__(self, strategy: st.SearchStrategy[Any]) -> Any:
        handler = _HANDLERS.get(strategy)
        if handler is None:
            handler = _HANDLERS[strategy] = _compile(strategy)
        return handler(self)

    def integer(self, low: int, high: int) -> int:
        value = self.random.randint(low, high)
        self.choices.append(value)
        return value

    def boolean(self) -> bool:
        value = self.random.random() < 0.5
        self.choices.append(value)
        return value


Handler = Callable[[RandomDraw], Any]
#: strategy object -> how to draw it (strategy objects are long-lived: strategies/ builds them
#: at import, and Hypothesis caches `st.integers(a, b)` and friends by argument)
_HANDLERS: dict[Any, Handler] = {}


def _compile(strategy: st.SearchStrategy[Any]) -> Handler:
    """How to draw one strategy kind, mirroring its `do_draw` choice for choice."""
    try:  # Hypothesis' internal classes (the same from 6.155 to 6.170 at least)
        from hypothesis.strategies._internal.core import CompositeStrategy
        from hypothesis.strategies._internal.lazy import LazyStrategy
        from hypothesis.strategies._internal.misc import BooleansStrategy
        from hypothesis.strategies._internal.numbers import IntegersStrategy
        from hypothesis.strategies._internal.strategies import MappedStrategy, SampledFromStrategy
    except ImportError as moved:  # pragma: no cover - a Hypothesis that reorganised them
        raise Unsupported(str(moved)) from None

    if isinstance(strategy, LazyStrategy):
        inner = strategy.wrapped_strategy
        return lambda draw: draw(inner)
    if isinstance(strategy, IntegersStrategy):
        low, high = strategy.start, strategy.end
        # uniform: Hypothesis weights the bounds of ranges wider than 127, but a choice is its
        # value either way, so the recorded sequence replays the same
        if low is None or high is None:
            raise Unsupported(f"{strategy!r}")
        return lambda draw: draw.integer(low, high)
    if isinstance(strategy, BooleansStrategy):
        return RandomDraw.boolean
    if isinstance(strategy, SampledFromStrategy):
        if getattr(strategy, "_transformations", ()):
            raise Unsupported(f"{strategy!r}")
        elements = tuple(strategy.elements)
        last = len(elements) - 1
        return lambda draw: elements[draw.integer(0, last)]
    if isinstance(strategy, MappedStrategy):
        inner, pack = strategy.mapped_strategy, strategy.pack
        return lambda draw: pack(draw(inner))
    if isinstance(strategy, CompositeStrategy):
        definition, args, kwargs = strategy.definition, strategy.args, strategy.kwargs
        return lambda draw: definition(draw, *args, **kwargs)
    raise Unsupported(type(strategy).__name__)


@attrs.define
class Found:
    """The first failing example of a finding phase."""

    value: Any
    choices: tuple[Choice, ...]
    #: examples run, this one included
    examples: int
    seconds: float


def find(strategy: st.SearchStrategy[Any], fails: Callable[[Any], bool], budget: int, rnd: random.Random) -> Found | None:
    """Draw up to `budget` examples; the first for which `fails` is true, or None.

    Raises Unsupported (before running that example) when the strategy has a kind it cannot
    draw. Reports its statistics as a Hypothesis generate phase (see `_note_statistics`)."""
    started = time.perf_counter()
    cases: list[dict[str, Any]] = []
    found = None
    try:
        for count in range(1, budget + 1):
            t0 = time.perf_counter()
            draw = RandomDraw(rnd)
            value = draw(strategy)
            t1 = time.perf_counter()
            failed = fails(value)
            cases.append({"status": "interesting" if failed else "valid", "runtime": time.perf_counter() - t0,
                          "drawtime": t1 - t0, "gctime": 0.0, "events": []})
            if failed:
                found = Found(value, tuple(draw.choices), count, time.perf_counter() - started)
                break
    finally:
        _note_statistics(cases, time.perf_counter() - started, budget, found is not None)
    return found


def _note_statistics(cases: list[dict[str, Any]], seconds: float, budget: int, found: bool) -> None:
    """Hand the finding phase's statistics to whoever collects Hypothesis' (pytest's
    --hypothesis-show-statistics through harness/search_statistics.py), in Hypothesis' own
    format: a generate phase, with a case per example."""
    if not cases:
        return
    try:
        from hypothesis.statistics import note_statistics
    except ImportError:  # pragma: no cover - a Hypothesis without the hook
        return
    stopped = ("the finding phase stops at the first failure (harness/finder.py)" if found
               else f"settings.max_examples={budget}")
    note_statistics({"generate-phase": {"duration-seconds": seconds, "test-cases": cases,  # type: ignore[typeddict-item]
                                        "distinct-failures": int(found), "shrinks-successful": 0},
                     "stopped-because": stopped})


def smallest_of_more(strategy: st.SearchStrategy[Any], found: Found, fails: Callable[[Any], bool],
                     rnd: random.Random, more: int = 3) -> Found:
    """Keep drawing until `more` further failures or as many examples again as the first
    failure took, and return the failure with the fewest choices. Why: shrinking costs far more
    than finding (each shrink step replays through Hypothesis), and the next few failures are
    often much smaller than the first. The first failure's example count stays the one reported."""
    best = found
    failures = 0
    for _ in range(found.examples):
        draw = RandomDraw(rnd)
        value = draw(strategy)
        if fails(value):
            failures += 1
            if _shortlex(tuple(draw.choices)) < _shortlex(best.choices):
                best = Found(value, tuple(draw.choices), found.examples, found.seconds)
            if failures >= more:
                break
    return best


class ReplayDraw(RandomDraw):
    """A `draw` that reads its choices from a sequence: a value out of range is clamped into
    it, and a sequence that runs out goes on with each choice's simplest value. `choices` is
    what was actually used, so it replays exactly."""

    __slots__ = ("prefix", "position")

    def __init__(self, prefix: tuple[Choice, ...]) -> None:
        super().__init__(random.Random(0))
        self.prefix = prefix
        self.position = 0

    def _next(self) -> Choice | None:
        if self.position >= len(self.prefix):
            return None
        value = self.prefix[self.position]
        self.position += 1
        return value

    def integer(self, low: int, high: int) -> int:
        given = self._next()
        value = low if given is None else min(max(int(given), low), high)
        self.choices.append(value)
        return value

    def boolean(self) -> bool:
        value = bool(self._next())
        self.choices.append(value)
        return value


def _shortlex(choices: tuple[Choice, ...]) -> tuple[int, tuple[int, ...]]:
    return len(choices), tuple(int(c) for c in choices)


def preshrink(strategy: st.SearchStrategy[Any], found: Found, fails: Callable[[Any], bool],
              max_checks: int = 300) -> Found:
    """A quick greedy shrink of the finding phase's failure before Hypothesis takes over.

    Why: Hypothesis replays every candidate through its own engine (a couple of milliseconds
    per scenario before the model runs), and a randomly found example is far from minimal, so
    its shrinker would spend most of its time there. Here candidates are replayed by this
    module's interpreter: blocks of choices deleted (dropping operations and VMAs), single
    choices set to their simplest value, then halved. A candidate is kept when it is smaller
    (shortlex on the choices actually used) and `fails` still holds; at most `max_checks`
    candidates are run. Hypothesis then finishes from the result."""
    best = found.choices
    value = found.value
    checks = 0

    def attempt(candidate: tuple[Choice, ...]) -> bool:
        nonlocal best, value, checks
        draw = ReplayDraw(candidate)
        drawn = draw(strategy)
        used = tuple(draw.choices)
        if _shortlex(used) >= _shortlex(best):
            return False
        checks += 1
        if not fails(drawn):
            return False
        best, value = used, drawn
        return True

    improved = True
    while improved and checks < max_checks:
        improved = False
        for size in (8, 4, 2, 1):
            i = 0
            while i + size <= len(best) and checks < max_checks:
                if attempt(best[:i] + best[i + size:]):
                    improved = True
                else:
                    i += 1
        at = 0
        while at < len(best) and checks < max_checks:  # `best` may get shorter as it goes
            current = int(best[at])
            if current and (attempt(best[:at] + (0,) + best[at + 1:])
                            or current > 1 and attempt(best[:at] + (current // 2,) + best[at + 1:])):
                improved = True
            at += 1
    return Found(value, best, found.examples, found.seconds)


def replays_exactly(strategy: st.SearchStrategy[Any], choices: tuple[Choice, ...], value: Any) -> bool:
    """Does Hypothesis, fed `choices`, draw `value` again (so it can shrink from them)?"""
    from hypothesis.control import BuildContext
    from hypothesis.errors import StopTest
    from hypothesis.internal.conjecture.data import ConjectureData

    data = ConjectureData.for_choices(choices)
    try:
        with BuildContext(data, is_final=False, wrapped_test=lambda: None):
            again = data.draw(strategy)
    except StopTest:
        return False
    except Exception:  # noqa: BLE001 - a misaligned replay may fail anywhere in a strategy
        return False
    return bool(again == value) and len(data.choices) == len(choices)
