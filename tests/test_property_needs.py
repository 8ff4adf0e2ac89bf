"""Runs without snapshots (run_scenario(snapshots=False)) for properties that do not read them."""

from __future__ import annotations

import random

import pytest

from harness import scenario as sc
from harness.finder import RandomDraw
from harness.model.kernels import get_profile
from harness.run import run_scenario
from properties import PROPERTIES, check_all, need_snapshots
from strategies import for_profile, scenarios


def test_only_the_declared_properties_need_snapshots() -> None:
    readers = {name for name, p in PROPERTIES.items() if p.snapshots}
    assert readers == {"refcount_accounting", "mapcount_matches_page_tables", "pin_coherence",
                       "pinned_anon_exclusive"}
    assert need_snapshots() and need_snapshots(["pin_coherence", "terminates"])
    assert not need_snapshots(["terminates", "user_held_pins_longterm"])


def test_reading_snapshots_a_run_did_not_take_is_an_error() -> None:
    run = run_scenario(sc.Scenario((sc.Vma(0, 1),), (sc.Gup("pin_user_pages", 0, 1),)), "mainline", snapshots=False)
    with pytest.raises(RuntimeError, match="snapshots=True"):
        list(run.snapshots)
    with pytest.raises(RuntimeError, match="snapshots=True"):
        len(run.snapshots)


@pytest.mark.parametrize("profile", ["v4.9", "v5.7", "v6.11", "mainline"])
def test_every_undeclared_property_judges_alike_without_snapshots(profile: str) -> None:
    """Each property that says it needs no snapshots gives the same verdict on a run without
    them, over generated scenarios (one reading them would raise here)."""
    undeclared = [name for name, p in PROPERTIES.items() if not p.snapshots]
    strategy = scenarios(**for_profile(get_profile(profile)))
    draw = RandomDraw(random.Random(profile))
    failing = 0
    for _ in range(150):
        scenario = draw(strategy)
        full = check_all(run_scenario(scenario, profile, trace=False), undeclared)
        lean = check_all(run_scenario(scenario, profile, trace=False, snapshots=False), undeclared)
        assert lean == full, scenario
        failing += any(full.values())
    assert failing or profile == "mainline"  # the comparison met failures, not only passes
