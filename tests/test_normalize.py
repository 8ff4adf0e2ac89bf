"""The normal form: equal-sized counterexamples of one bug become one (harness/normalize.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import scenario as sc
from harness.bench import canonical_form, scenario_size
from harness.normalize import API_ORDER, FLAG_ORDER, normal_form, sorted_flags, vma_key
from harness.reduce import reduce
from harness.regression import load
from harness.search import _failing_one
from strategies import ops as generator

ROOT = Path(__file__).resolve().parent.parent


def _fails(profile: str, prop: str):  # type: ignore[no-untyped-def]
    return lambda s: prop in _failing_one(s, profile, (prop,))


def _long_term_get(vma: sc.Vma, api: str = "get_user_pages") -> sc.Scenario:
    return sc.Scenario((vma,), (sc.Gup(api, 0, 1, ("FOLL_LONGTERM",)),))


#: the minima of one size that seeds of one search (v5.4, longterm_pins_only_on_pinnable) ended at
#: before the normal form: a page in ZONE_MOVABLE or CMA, reached through two or three VMA fields
V54_MINIMA = [
    _long_term_get(sc.Vma(0, 1, backing="file", placement="movable")),
    _long_term_get(sc.Vma(0, 1, faulted="w", placement="movable")),
    _long_term_get(sc.Vma(0, 1, share="shared", backing="mixedmap", placement="cma")),
    _long_term_get(sc.Vma(0, 1, share="shared", placement="movable")),
    _long_term_get(sc.Vma(0, 1, faulted="w", placement="cma"), api="get_user_pages_fast"),
]


def test_the_order_is_the_generators() -> None:
    """One simplicity order: what the generator lists first is what the normal form prefers."""
    assert API_ORDER == generator.GUP_APIS + generator.CALLER_APIS
    assert FLAG_ORDER == generator.COMMON_FLAGS + generator.RARE_FLAGS
    plain = sc.Vma(0, 1)
    others = [sc.Vma(0, 1, prot="r"), sc.Vma(0, 1, share="shared"), sc.Vma(0, 1, backing="shmem"),
              sc.Vma(0, 1, faulted="r"), sc.Vma(0, 1, placement="movable")]
    assert all(vma_key(plain) < vma_key(other) for other in others)


def test_equal_sized_minima_of_one_bug_become_one() -> None:
    fails = _fails("v5.4", "longterm_pins_only_on_pinnable")
    assert all(fails(s) for s in V54_MINIMA)
    forms = {normal_form(s, fails)[0] for s in V54_MINIMA}
    assert len(forms) == 1
    (form,) = forms
    assert fails(form)
    # the write fault done by the call itself (FOLL_WRITE), not by the layout
    assert form == sc.Scenario((sc.Vma(0, 1, placement="movable"),),
                               (sc.Gup("get_user_pages", 0, 1, ("FOLL_LONGTERM", "FOLL_WRITE")),))


def test_the_normal_form_is_a_fixpoint_and_never_grows() -> None:
    fails = _fails("v5.4", "longterm_pins_only_on_pinnable")
    for start in V54_MINIMA:
        form, spent = normal_form(start, fails)
        assert spent > 0
        assert scenario_size(form) <= scenario_size(start)
        again, _ = normal_form(form, fails)
        assert again == form


def test_a_budget_bounds_the_runs() -> None:
    calls = []

    def never(s: sc.Scenario) -> bool:
        calls.append(s)
        return False

    form, spent = normal_form(V54_MINIMA[2], never, budget=7)
    assert form == V54_MINIMA[2] and spent == len(calls) == 7


def test_flags_are_listed_in_one_order() -> None:
    s = sc.Scenario((sc.Vma(0, 1),), (sc.Gup("pin_user_pages", 0, 1, ("FOLL_FORCE", "FOLL_WRITE", "FOLL_LONGTERM")),))
    assert sorted_flags(s).ops[0].flags == ("FOLL_LONGTERM", "FOLL_WRITE", "FOLL_FORCE")  # type: ignore[union-attr]


def test_a_longer_story_reduces_to_the_smallest_failure_of_its_property() -> None:
    """The bench's canonical form of a corpus file: vmsplice's overflow and release become the
    same overflow through the plain get, with nothing after it."""
    reg = load(ROOT / "regressions" / "refcount-overflow-through-vmsplice.json")
    form = canonical_form(reg.scenario, "v4.8", "no_bug_no_warn")
    assert form == sc.Scenario((sc.Vma(0, 1),), (sc.Gup("get_user_pages", 0, 1, (), repeat=2**32),))


@pytest.mark.parametrize("name, profile, prop", [
    ("forced-cow-break-on-second-gup-strands-first-pin.json", "v5.8", "pin_coherence"),
    ("zero-pfn-longterm-livelock.json", "v5.19-rc1", "terminates"),
])
def test_reduction_keeps_the_failure(name: str, profile: str, prop: str) -> None:
    reg = load(ROOT / "regressions" / name)
    fails = _fails(profile, prop)
    reduced = reduce(reg.scenario, fails)
    assert fails(reduced)
    assert scenario_size(reduced) <= scenario_size(reg.scenario)
    assert reduce(reduced, fails) == reduced


def test_a_fork_whose_child_is_last_can_become_the_parents_own_operations() -> None:
    from harness.reduce import _without_fork

    layout = (sc.Vma(0, 1, faulted="w"),)
    child_call = sc.Gup("get_user_pages", 0, 1, (), (sc.MadvDontneed(0, 1, 1),), process=1)
    s = sc.Scenario(layout, (sc.Fork(), child_call, sc.Exit(1), sc.CpuWrite(0)))
    assert _without_fork(s, 0) == sc.Scenario(layout, (
        sc.Gup("get_user_pages", 0, 1, (), (sc.MadvDontneed(0, 1, 0),)), sc.CpuWrite(0)))
    twice = sc.Scenario(layout, (sc.Fork(), sc.Fork(1), sc.CpuWrite(0, process=2)))
    assert _without_fork(twice, 0) is None  # the second fork forks the first one's child
    assert _without_fork(twice, 1) == sc.Scenario(layout, (sc.Fork(), sc.CpuWrite(0, process=1)))


def test_a_first_read_only_call_folds_into_a_read_faulted_page() -> None:
    from harness.reduce import _fold_first_access

    layout = (sc.Vma(0, 2),)
    read = sc.Gup("get_user_pages", 1, 1)
    later = sc.Gup("get_user_pages", 1, 1, ("FOLL_WRITE", "FOLL_FORCE"))
    folded = _fold_first_access(sc.Scenario(layout, (read, later)))
    assert folded == sc.Scenario((sc.Vma(0, 2, faulted="-r"),), (later,))
    assert _fold_first_access(sc.Scenario(layout, (later, read))) is None  # a write is no read fault


def test_reduction_drops_a_vmas_leading_pages() -> None:
    """A failure on a VMA's second page ends on a one-page VMA at address 0."""
    fails = _fails("v5.19-rc1", "terminates")
    s = sc.Scenario((sc.Vma(0, 2, faulted="-r"),), (sc.Gup("pin_user_pages", 1, 1, ("FOLL_LONGTERM",)),))
    assert fails(s)
    # (untouched, as the seed file has it: the long-term call read-faults the zero page itself)
    assert reduce(s, fails) == sc.Scenario((sc.Vma(0, 1),), (sc.Gup("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)),))


def test_a_call_over_two_vmas_shrinks_to_the_page_that_matters() -> None:
    """Two one-page VMAs, a two-page long-term pin, a write to the second page: the pin's first
    page goes, then the first VMA, and the rest moves down to address 0."""
    fails = _fails("v5.7", "pin_coherence")
    s = sc.Scenario((sc.Vma(0, 1), sc.Vma(1, 1)), (sc.Gup("pin_user_pages", 0, 2, ("FOLL_LONGTERM",)), sc.CpuWrite(1)))
    assert fails(s)
    assert reduce(s, fails) == sc.Scenario((sc.Vma(0, 1),), (sc.Gup("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)),
                                                             sc.CpuWrite(0)))


def test_a_page_written_beforehand_may_be_written_by_the_call_instead() -> None:
    fails = _fails("v5.7", "longterm_pins_only_on_pinnable")
    pinned = sc.Gup("pin_user_pages", 0, 1, ("FOLL_LONGTERM",))
    s = sc.Scenario((sc.Vma(0, 1, faulted="w", placement="movable"),), (pinned,))
    assert fails(s)
    form, _ = normal_form(s, fails)
    assert form == sc.Scenario((sc.Vma(0, 1, placement="movable"),),
                               (sc.Gup("pin_user_pages", 0, 1, ("FOLL_LONGTERM", "FOLL_WRITE")),))
    # a caller's flags are its own: nothing to move the write to
    caller = sc.Scenario((sc.Vma(0, 1, faulted="w", placement="movable"),), (sc.Gup("vmsplice", 0, 1),))
    from harness.normalize import _written_by_calls
    assert _written_by_calls(caller, 0) is None


def test_a_call_may_lose_its_race_when_another_entry_point_or_flags_need_none() -> None:
    fails = _fails("v5.9", "pin_coherence")
    racing = sc.Gup("pin_user_pages_fast", 0, 1, ("FOLL_WRITE", "FOLL_FORCE"), (sc.Mprotect(0, 1, "r"),))
    s = sc.Scenario((sc.Vma(0, 1),), (racing, sc.Gup("pin_user_pages", 0, 1, ("FOLL_WRITE", "FOLL_FORCE"))))
    assert fails(s)
    form, _ = normal_form(s, fails)
    assert form == sc.Scenario((sc.Vma(0, 1),), (sc.Gup("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)), sc.CpuWrite(0)))


def test_a_race_that_needs_no_racing_becomes_an_operation_after_the_call() -> None:
    """GUP after fork reached through a two-page call whose second page's fault lets the child's
    zap race in: the zap after the call tells it with one page, and the normal form then has the
    child write instead of zapping (a CPU write is the plainer operation)."""
    fails = _fails("v4.9", "private_stays_private")
    racing = sc.Gup("get_user_pages", 0, 2, (), (sc.MadvDontneed(0, 1, 1),), process=1)
    s = sc.Scenario((sc.Vma(0, 2, faulted="w-"),), (sc.Fork(), racing, sc.CpuWrite(0)))
    assert fails(s)
    assert reduce(s, fails) == sc.Scenario((sc.Vma(0, 1, faulted="w"),), (
        sc.Fork(), sc.Gup("get_user_pages", 0, 1, process=1), sc.CpuWrite(0, 1), sc.CpuWrite(0)))
