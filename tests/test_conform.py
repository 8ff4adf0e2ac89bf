"""The differential check: the model's mainline profile against the running kernel.

A short Hypothesis run over drivable scenarios must find no mismatch, and the expectations
the kernel's own selftests pin (tools/testing/selftests/mm/cow.c and gup_longterm.c) that
this kernel can show hold on BOTH sides: each is one concrete scenario, run on the model
(run_scenario, mainline) and on the live kernel (run_live), with the same expected
observation. Skipped, with the reason, where the live-kernel oracle cannot run.
"""

from __future__ import annotations

import pytest
from rich.console import Console

from harness.conform import compare, conform, render_comparison, render_report
from harness.families import FAMILIES
from harness.observe import StepObservation
from harness.oracle import availability, run_live
from harness.run import Run, run_scenario
from harness.scenario import CpuWrite, DmaRead, Exit, Fork, Gup, Release, Scenario, Vma

AVAILABLE = availability()
pytestmark = [pytest.mark.live, pytest.mark.skipif(not AVAILABLE.ok, reason=f"live-kernel oracle: {AVAILABLE.reason}")]

EFAULT = 14


def both(layout: tuple[Vma, ...], ops: tuple) -> tuple[Run, list[StepObservation], list[StepObservation]]:
    """Run on the model and on the kernel; both must finish every op."""
    scenario = Scenario(layout, ops)
    run = run_scenario(scenario, "mainline")
    assert run.livelock is None and run.not_applicable is None
    live = run_live(scenario)
    assert live.error is None, live.error
    assert len(run.observations) == len(live.steps) == len(ops)
    return run, list(run.observations), list(live.steps)


def pin(start: int, pages: int = 1, process: int = 0) -> Gup:
    return Gup("io_uring_register_buffers", start, pages, process=process)


# ---- the differential run ---------------------------------------------------------------------

@pytest.mark.slow
def test_forty_drivable_scenarios_show_no_mismatch() -> None:
    calls: list[tuple[int, int | None, str]] = []
    report = conform(40, seed=0, progress=lambda done, total, what: calls.append((done, total, what)))
    assert report.ok, report.mismatch.first_mismatch if report.mismatch else report.flaky
    assert calls == [(n, 40, "examples") for n in range(1, 41)]  # the progress bar hears of every example
    assert report.examples_to_mismatch == 40
    assert report.by_entry["layout"].agree == 40
    assert all(t.disagree == 0 for t in report.by_field.values())
    data = report.to_json()
    assert data["ok"] and data["examples"] == 40 and data["by_field"]["identity"]["disagree"] == 0
    render_report(report)  # renders without error


def test_a_comparison_names_its_first_difference_in_one_line() -> None:
    comparison = compare(Scenario((Vma(0, 1, faulted="r"),), (CpuWrite(0),)))
    assert comparison.agree and comparison.first_mismatch is None
    assert [s.entry for s in comparison.steps] == ["layout", "cpu_write"]
    assert comparison.to_json()["steps"][1]["kernel"]["pages"][0]["identity"] == "replaced"
    render_comparison(comparison)


# ---- cow.c: io_uring fixed buffers (R/W long-term pins) and fork --------------------------------

def test_io_uring_pin_then_fork_parent_keeps_seeing_its_own_writes_through_the_pin() -> None:
    """cow.c "R/W longterm pin ... iouring ... with fork": the child gets a copy of the pinned
    page, the parent keeps the pinned one and writes into it in place, and reading through
    the fixed buffer shows the parent's write."""
    ops = (pin(0), Fork(), CpuWrite(0), DmaRead(0), Release(0))
    run, model, kernel = both((Vma(0, 1, faulted="w"),), ops)
    for side in (model, kernel):
        assert side[0].result == 1
        assert (side[1].pages[0].identity, side[1].pages[0].mapped_once) == ("same", True)  # child got a copy
        assert (side[2].pages[0].identity, side[2].pages[0].mapped_once) == ("same", True)  # no COW in the parent
        assert side[4].result == 1
    (pinned,) = run.results[0].grabbed
    assert run.kernel.mms[0].ptes[0].pfn == pinned.pfn  # the model: the pin and the mapping are one page
    live = run_live(Scenario((Vma(0, 1, faulted="w"),), ops))
    assert [(c.op, c.coherent) for c in live.dma] == [(3, True)]


def test_io_uring_pin_of_a_page_shared_with_a_child_gives_the_parent_its_own_copy() -> None:
    """cow.c "R/W longterm pin" after fork: pinning a COW-shared page breaks COW first, so the
    child's later writes never reach the pinned page."""
    ops = (Fork(), pin(0), CpuWrite(0, process=1), DmaRead(0))
    _, model, kernel = both((Vma(0, 1, faulted="w"),), ops)
    for side in (model, kernel):
        assert not side[0].pages[0].mapped_once
        assert side[1].result == 1
        assert (side[1].pages[0].identity, side[1].pages[0].mapped_once) == ("replaced", True)
        assert side[2].pages[0].identity == "same"


# ---- cow.c: vmsplice (R/O FOLL_GET) and fork ----------------------------------------------------

def test_vmsplice_in_parent_then_child_writes_the_pipe_keeps_the_parents_data() -> None:
    """cow.c "vmsplice() + unmap in child"-family: the parent vmsplices, forks, the child
    writes. The child's write COWs in the child; the parent's page and the pipe are untouched."""
    ops = (Gup("vmsplice", 0, 1), Fork(), CpuWrite(0, process=1), DmaRead(0), Release(0))
    _, model, kernel = both((Vma(0, 1, faulted="w"),), ops)
    for side in (model, kernel):
        assert side[0].result == 1
        assert not side[1].pages[0].mapped_once
        assert (side[2].pages[0].identity, side[2].pages[0].mapped_once) == ("same", True)
        assert side[4].result == 1
    live = run_live(Scenario((Vma(0, 1, faulted="w"),), ops))
    assert [(c.op, c.coherent) for c in live.dma] == [(3, True)]


def test_vmsplice_then_fork_then_parent_write_cows_and_the_pipe_keeps_the_old_data() -> None:
    """The parent's own write after fork replaces its page (COW); the pipe still holds the old one."""
    ops = (Gup("vmsplice", 0, 1), Fork(), CpuWrite(0), DmaRead(0), Release(0))
    _, model, kernel = both((Vma(0, 1, faulted="w"),), ops)
    for side in (model, kernel):
        assert (side[2].pages[0].identity, side[2].pages[0].anon, side[2].pages[0].mapped_once) == ("replaced", True, True)
    live = run_live(Scenario((Vma(0, 1, faulted="w"),), ops))
    assert [(c.op, c.coherent) for c in live.dma] == [(3, False)]


def test_vmsplice_in_child_then_parent_write_cows_the_parent() -> None:
    """cow.c "vmsplice() before fork, unmap in parent after fork"-family seen from the other
    side: the child's pipe keeps the shared page, the parent's write gets a fresh copy."""
    ops = (Fork(), Gup("vmsplice", 0, 1, process=1), CpuWrite(0), DmaRead(1))
    _, model, kernel = both((Vma(0, 1, faulted="w"),), ops)
    for side in (model, kernel):
        assert side[1].result == 1
        assert (side[2].pages[0].identity, side[2].pages[0].mapped_once) == ("replaced", True)
    live = run_live(Scenario((Vma(0, 1, faulted="w"),), ops))
    assert [(c.op, c.coherent) for c in live.dma] == [(3, True)]  # the pipe shows the child's (old) page


# ---- gup_longterm.c: FOLL_LONGTERM|FOLL_WRITE on file-backed shared mappings --------------------

@pytest.mark.skipif(AVAILABLE.block_dir is None, reason="no block filesystem for ext4 files")
def test_io_uring_longterm_pin_of_shared_ext4_file_is_refused() -> None:
    """gup_longterm.c: a R/W long-term pin of a shared mapping of a file that needs writeback
    fails (8ac268436e6d); nothing is COWed or replaced."""
    _, model, kernel = both((Vma(0, 1, share="shared", backing="file", faulted="w"),), (pin(0),))
    for side in (model, kernel):
        assert side[0].result == -EFAULT
        assert side[0].pages[0].identity == "same" and not side[0].pages[0].anon


@pytest.mark.parametrize("backing", ["shmem", "anon"], ids=["memfd", "shared-anon"])
def test_io_uring_longterm_pin_of_shared_shmem_is_allowed(backing: str) -> None:
    """gup_longterm.c: memfd/shmem (and MAP_SHARED|MAP_ANONYMOUS, which is shmem) has no
    writeback to protect: the pin works, on the page-cache page itself."""
    _, model, kernel = both((Vma(0, 1, share="shared", backing=backing, faulted="w"),), (pin(0), Release(0)))
    for side in (model, kernel):
        assert side[0].result == 1
        page = side[0].pages[0]
        assert (page.identity, page.anon, page.zero) == ("same", False, False)
        assert side[1].result == 1


@pytest.mark.skipif(AVAILABLE.block_dir is None, reason="no block filesystem for ext4 files")
def test_io_uring_longterm_pin_of_private_ext4_file_pins_an_anon_copy() -> None:
    """gup_longterm.c, private file mapping: the write pin COWs the page-cache page into an
    exclusive anon page and pins that; the file is never written."""
    _, model, kernel = both((Vma(0, 1, backing="file", faulted="r"),), (pin(0),))
    for side in (model, kernel):
        assert side[0].result == 1
        page = side[0].pages[0]
        assert (page.identity, page.anon, page.mapped_once) == ("replaced", True, True)


# ---- the full view: every process, contents, map counts, VmPin, devices ------------------------

def test_every_live_process_is_observed_and_agrees() -> None:
    comparison = compare(Scenario((Vma(0, 1, faulted="w"),), (pin(0), Fork(), CpuWrite(0, 1), DmaRead(0, 0))))
    assert comparison.agree, comparison.first_mismatch
    after_fork, after_write, after_read = (s.kernel_view for s in comparison.steps[2:])
    assert after_fork is not None and after_write is not None and after_read is not None
    assert sorted(after_fork.processes) == [0, 1]
    assert after_fork.processes[0].mapcounts == after_fork.processes[1].mapcounts == (1,)  # the pinned page was copied
    assert (after_fork.processes[0].vmpin, after_fork.processes[1].vmpin) == (4, 0)
    assert after_write.processes[1].contents == ("op 2",) and after_write.processes[0].contents == ("layout",)
    assert [(d.kind, d.coherent, d.seen) for d in after_read.dma] == [("dma_read", True, "layout")]
    assert comparison.steps[4].compared["dma seen"] == 1


def test_a_grandchild_outlives_its_parent() -> None:
    comparison = compare(Scenario((Vma(0, 1, faulted="w"),), (Fork(), Fork(1), Exit(1), CpuWrite(0, 2))))
    assert comparison.agree, comparison.first_mismatch
    last = comparison.steps[-1].kernel_view
    assert last is not None and sorted(last.processes) == [0, 2] and last.processes[2].contents == ("op 3",)


def test_a_read_only_vma_split_off_a_written_neighbour_has_its_zero_page_copied_at_fork() -> None:
    """The layout's protections come after every VMA is mapped and faulted: the two VMAs merged
    first, so the read-only one shares the written one's anon_vma and vma_needs_copy() holds."""
    comparison = compare(Scenario((Vma(0, 1, prot="r", faulted="r"), Vma(1, 1, faulted="w")), (Fork(),)))
    assert comparison.agree, comparison.first_mismatch
    child = comparison.steps[-1].kernel_view.processes[1]  # type: ignore[union-attr]
    assert child.pages[0].present and child.pages[0].zero


def test_a_short_conform_run_compares_every_field_and_counts_families() -> None:
    report = conform(30, seed=3)
    assert report.ok, report.mismatch.first_mismatch if report.mismatch else report.flaky
    for name in ("processes", "process pages", "mapcount", "contents", "vmpin", "file contents"):
        assert report.by_field[name].agree > 0 and report.by_field[name].disagree == 0, name
    assert set(report.families) == set(FAMILIES) and report.families["pin_held_across_fork"] > 0
    assert report.to_json()["families"]["pin_held_across_fork"]["share"] > 0
    assert not report.crutches and report.ops_compared >= 30


def test_conform_crutches_are_an_option_the_report_names(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from harness.cli import main

    assert main(["conform", "--examples", "5", "--seed", "2", "--crutches", "--no-save", "--json", "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["crutches"] is True and data["ops_with_choices"] == 0 and data["profile"]


def test_without_the_crutches_the_kernel_takes_one_of_the_outcomes_the_model_allows() -> None:
    """Fork, child exit, two /proc/self/mem reads (FOLL_TOUCH queues the page in an activate
    batch), write: on any CPU, with no drain before the write, the kernel may copy."""
    scenario = Scenario((Vma(0, 1, faulted="w"),), (Fork(), Exit(1), Gup("proc_mem_read", 0, 1),
                                                    Gup("proc_mem_read", 0, 1), CpuWrite(0)))
    free = compare(scenario, crutches=False)
    assert free.agree, free.first_mismatch
    assert free.outcomes == 2 and free.steps_with_choices == (4,) and free.to_json()["outcome"] == free.outcome
    console = Console(record=True, width=200)
    console.print(render_comparison(free))
    assert "the model allowed 2 outcomes (differing after op(s) 4)" in console.export_text()
    held = compare(scenario, crutches=True)
    assert held.agree and held.outcomes == 1 and held.steps[-1].kernel.pages[0].identity == "same"  # type: ignore[union-attr]
