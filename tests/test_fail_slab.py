"""A GUP call whose own slab allocations fail (scenario `fail_slab`): where the kernel's
long-term path allocates (v5.2..v5.10's vmas array before pinning, v6.11's folio array after
pinning) and what each profile does when that fails: nothing pinned, or v6.11's pin leak."""

from __future__ import annotations

import json

import pytest

from harness import scenario as sc
from harness import serialize
from harness.model.flags import Errno
from harness.run import Run, run_scenario
from properties import check_all
from strategies.drivable import not_drivable

V, G = sc.Vma, sc.Gup
ENOMEM = -Errno.ENOMEM


def longterm_pin(api: str = "pin_user_pages", faulted: str = "ww") -> sc.Scenario:
    flags = ("FOLL_LONGTERM",) if api in sc.KERNEL_APIS else ()
    return sc.validate(sc.Scenario((V(0, 2, faulted=faulted),), (G(api, 0, 2, flags, (sc.FailSlab(),)),)))


def failing(run: Run) -> set[str]:
    return {name for name, verdict in check_all(run).items() if verdict}


def pinned_refcounts(run: Run) -> list[int]:
    return [f.refcount for f in run.kernel.mem.live() if not f.is_zero]


def test_fail_slab_belongs_inside_a_call_and_round_trips_through_json() -> None:
    with pytest.raises(sc.ScenarioError) as excinfo:
        sc.validate(sc.Scenario((V(0, 1),), (sc.FailSlab(),)))
    assert excinfo.value.where == "ops[0]"
    scenario = longterm_pin()
    data = json.loads(serialize.dumps(scenario))
    assert data["ops"][0]["interleave"] == [{"op": "fail_slab"}]
    assert serialize.from_data(data) == scenario


def test_v6_11_leaks_every_pin_of_the_range_when_its_folio_array_cannot_be_allocated() -> None:
    run = run_scenario(longterm_pin(), "v6.11")
    assert run.results[0].result == ENOMEM and run.results[0].alloc_failed
    assert pinned_refcounts(run) == [2 + 1024, 2 + 1024]  # mapping + LRU batch + a pin nobody holds
    assert failing(run) == {"pin_balance", "refcount_accounting"}


@pytest.mark.parametrize("kernel", ["v6.6", "v6.12", "mainline"])
def test_without_the_folio_array_the_call_allocates_nothing_and_succeeds(kernel: str) -> None:
    run = run_scenario(longterm_pin(), kernel)
    assert run.results[0].result == 2 and not run.results[0].alloc_failed
    assert failing(run) == set()


@pytest.mark.parametrize("kernel", ["v5.7", "v5.10"])
def test_before_v5_11_the_vmas_array_fails_before_anything_is_pinned(kernel: str) -> None:
    """-ENOMEM with nothing held: granted_requests_succeed accepts it (the allocation failed)."""
    run = run_scenario(longterm_pin(), kernel)
    assert run.results[0].result == ENOMEM and run.results[0].alloc_failed
    assert pinned_refcounts(run) == [2, 2]
    assert failing(run) == set()


def test_io_uring_reaches_the_v6_11_leak_through_the_slow_path_only() -> None:
    """pin_user_pages_fast(): present pages are pinned locklessly (no long-term check, no
    allocation); untouched ones go through __gup_longterm_locked() and its folio array."""
    present = run_scenario(longterm_pin("io_uring_register_buffers", faulted="ww"), "v6.11")
    assert present.results[0].result == 2 and failing(present) == set()
    fresh = run_scenario(longterm_pin("io_uring_register_buffers", faulted=""), "v6.11")
    assert fresh.results[0].result == ENOMEM
    assert "pin_balance" in failing(fresh)


def test_a_call_without_long_term_path_ignores_fail_slab() -> None:
    run = run_scenario(sc.validate(sc.Scenario((V(0, 1, faulted="w"),),
                                               (G("pin_user_pages", 0, 1, (), (sc.FailSlab(),)),))), "v6.11")
    assert run.results[0].result == 1 and not run.results[0].alloc_failed


def test_fail_slab_is_not_drivable_on_the_live_kernel() -> None:
    assert not_drivable(longterm_pin("io_uring_register_buffers")) is not None
