"""The finding phase (harness/finder.py): the project's strategies drawn with a plain PRNG, and
Hypothesis shrinking from the recorded choices."""

from __future__ import annotations

import random

import pytest
from hypothesis import strategies as st

from harness.finder import RandomDraw, Unsupported, find, preshrink, replays_exactly, smallest_of_more
from harness.model.kernels import PROFILE_NAMES, get_profile
from harness.search import search
from strategies import for_profile, scenarios
from strategies.drivable import drivable_scenarios


@pytest.mark.parametrize("kernel", ["v4.8", "v5.8", "v5.19-rc1", "mainline"])
def test_hypothesis_replays_every_drawn_scenario_from_its_choices(kernel: str) -> None:
    """The contract the shrinking hand-over rests on, checked on the installed Hypothesis (tox
    runs the oldest and the newest supported): the recorded choices make Hypothesis draw the
    very scenario the finder drew."""
    strategy = scenarios(**for_profile(get_profile(kernel)))
    rnd = random.Random(kernel)
    for _ in range(150):
        draw = RandomDraw(rnd)
        scenario = draw(strategy)
        assert replays_exactly(strategy, tuple(draw.choices), scenario), scenario


def test_a_wrong_choice_sequence_does_not_replay() -> None:
    strategy = scenarios(**for_profile(get_profile("mainline")))
    draw = RandomDraw(random.Random(5))
    scenario = draw(strategy)
    assert not replays_exactly(strategy, tuple(draw.choices[:-3]), scenario)  # runs out of choices
    other = RandomDraw(random.Random(6))
    other(strategy)
    assert not replays_exactly(strategy, tuple(other.choices), scenario)  # another scenario


def test_the_same_seed_draws_the_same_examples() -> None:
    strategy = scenarios()
    rnd_a, rnd_b, rnd_c = random.Random(11), random.Random(11), random.Random(12)
    drawn = [RandomDraw(rnd_a)(strategy) for _ in range(30)]
    assert drawn == [RandomDraw(rnd_b)(strategy) for _ in range(30)]
    assert drawn != [RandomDraw(rnd_c)(strategy) for _ in range(30)]


def test_find_stops_at_the_first_failure_and_respects_the_budget() -> None:
    seen: list[int] = []
    found = find(st.integers(0, 9), lambda v: seen.append(v) or v == 7, 1000, random.Random(0))
    assert found is not None and found.value == 7 and found.choices == (7,) and found.examples == len(seen)
    assert seen.count(7) == 1 and seen[-1] == 7
    assert find(st.integers(0, 9), lambda v: False, 25, random.Random(0)) is None


def test_a_strategy_kind_it_cannot_draw_is_unsupported_and_the_search_falls_back() -> None:
    with pytest.raises(Unsupported):
        RandomDraw(random.Random(0))(drivable_scenarios())  # st.lists
    result = search("v5.19-rc1", ["terminates"], strategy=drivable_scenarios(), max_examples=20, seed=0,
                    database=None)
    assert result.examples > 0  # Hypothesis generated them instead


@pytest.mark.slow
def test_random_and_hypothesis_generation_find_and_shrink_the_seed_livelock_alike() -> None:
    for generation in ("random", "hypothesis"):
        result = search("v5.19-rc1", ["terminates"], max_examples=3000, seed=2, database=None,
                        generation=generation)
        assert result.counterexample is not None and len(result.counterexample.ops) == 1, generation
        (vma,) = result.counterexample.layout
        assert vma.pages == 1 and "FOLL_LONGTERM" in result.counterexample.ops[0].flags  # type: ignore[union-attr]


def test_every_profile_s_strategy_is_drawn_by_the_finder() -> None:
    """No profile falls back to Hypothesis generation silently: each one's strategy is drawable."""
    for name in PROFILE_NAMES:
        strategy = scenarios(**for_profile(get_profile(name)))
        rnd = random.Random(name)
        for _ in range(20):
            RandomDraw(rnd)(strategy)


@st.composite
def _numbers(draw: st.DrawFn) -> list[int]:
    return [draw(st.integers(0, 20)) for _ in range(draw(st.integers(0, 9)))]


def test_preshrink_drops_and_simplifies_choices_and_the_result_replays() -> None:
    strategy = _numbers()

    def fails(numbers: list[int]) -> bool:
        return any(n >= 7 for n in numbers)

    before = after = 0
    for seed in range(10):
        found = find(strategy, fails, 1000, random.Random(seed))
        assert found is not None
        small = preshrink(strategy, found, fails)
        assert fails(small.value) and len(small.choices) <= len(found.choices)
        assert replays_exactly(strategy, small.choices, small.value)
        before, after = before + len(found.value), after + len(small.value)
    # a head start, not a full shrinker (Hypothesis finishes): most numbers are gone
    assert after <= before // 2, (before, after)


def test_smallest_of_more_failures_is_never_larger_and_still_fails() -> None:
    strategy = _numbers()

    def fails(numbers: list[int]) -> bool:
        return sum(numbers) >= 30

    smaller = 0
    for seed in range(10):
        rnd = random.Random(seed)
        found = find(strategy, fails, 1000, rnd)
        assert found is not None
        best = smallest_of_more(strategy, found, fails, rnd)
        assert fails(best.value) and replays_exactly(strategy, best.choices, best.value)
        assert (len(best.choices), best.choices) <= (len(found.choices), found.choices)
        assert best.examples == found.examples  # the first failure's count is the one reported
        smaller += best.choices != found.choices
    assert smaller >= 3  # later failures are often smaller
