"""conform's full view (harness/fullview.py) and its generator (harness/interactions.py), without
the live kernel: the model's side of every field, the kernel's side from hand-made probes, the
comparison naming the field that differs, and the share of interactions the generator reaches."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from harness import scenario as sc
from harness.conform import FIELDS, compare, model_layout_observation
from harness.families import FAMILIES
from harness.fullview import (
    VIEW_FIELDS,
    DmaView,
    ModelViewer,
    ProcessView,
    StepView,
    content_label,
    diff_views,
    kernel_views,
)
from harness.interactions import HOLDERS, conform_scenarios, interaction_scenarios
from harness.observe import PageObservation
from harness.oracle import DmaCheck, LiveRun
from harness.oracle.probe import LAYOUT_TAG, Probe, tag
from harness.outcomes import outcomes
from harness.run import run_scenario
from harness.stats import collect
from strategies.drivable import not_drivable

W = sc.Vma(0, 1, faulted="w")
PIN = sc.Gup("io_uring_register_buffers", 0, 1)
SPLICE = sc.Gup("vmsplice", 0, 1)


def views(layout: tuple[sc.Vma, ...], *ops: sc.Op) -> dict[int, StepView]:
    scenario = sc.validate(sc.Scenario(layout, ops))
    viewer = ModelViewer(scenario)
    run_scenario(scenario, "mainline", trace=False, on_step=viewer)
    return viewer.views


def test_content_labels_name_the_writer() -> None:
    assert content_label(None) is None
    assert content_label(0) == content_label(0xA3) == "unwritten"  # zero-filled, or a file's initial pattern
    assert content_label(LAYOUT_TAG) == "layout"
    assert content_label(tag(3)) == "op 3"
    assert content_label(tag(500)) == "unattributed"


def test_each_process_reads_its_own_copy_after_a_cow() -> None:
    seen = views((W,), sc.Fork(), sc.CpuWrite(0, 1))
    assert sorted(seen) == [-1, 0, 1]
    assert seen[0].processes[1].contents == ("layout",) and seen[0].processes[1].mapcounts == (2,)
    assert seen[0].processes[1].pages[0].identity == "new"  # a process's first view, right after its fork
    assert seen[1].processes[0].contents == ("layout",) and seen[1].processes[0].mapcounts == (1,)
    assert seen[1].processes[1].contents == ("op 1",) and seen[1].processes[1].pages[0].identity == "replaced"


def test_vmpin_counts_io_uring_registrations_of_that_process_only() -> None:
    seen = views((sc.Vma(0, 2, faulted="ww"),), sc.Gup("io_uring_register_buffers", 0, 2), SPLICE, sc.Fork(),
                 sc.Release(0))
    assert [seen[op].processes[0].vmpin for op in (-1, 0, 1, 2, 3)] == [0, 8, 8, 8, 0]
    assert seen[2].processes[1].vmpin == 0  # a fork starts the child's pinned_vm at 0


def test_a_device_read_through_a_pipe_sees_the_page_the_parent_copied_away_from() -> None:
    seen = views((W,), SPLICE, sc.Fork(), sc.CpuWrite(0), sc.DmaRead(0, 0))
    assert seen[3].dma == (DmaView("dma_read", False, "layout"),)
    assert seen[2].dma == ()
    assert views((W,), PIN, sc.DmaWrite(0, 0))[1].dma == (DmaView("dma_write", True),)


def test_backing_files_show_writes_through_shared_mappings() -> None:
    shared = sc.Vma(0, 2, share="shared", backing="shmem", faulted="w-")
    seen = views((shared, sc.Vma(3, 1, backing="file")), sc.CpuWrite(1), sc.CpuWrite(3))
    assert seen[1].files == {0: ("layout", "op 0"), 1: ("unwritten",)}  # a private write stays out of its file


def _view(contents: str, vmpin: int = 0, dma: tuple[DmaView, ...] = ()) -> StepView:
    page = PageObservation(present=True, anon=True, identity="same")
    child = ProcessView((page,), (2,), ("layout",), 0)
    return StepView(0, {0: attrs.evolve(child, contents=(contents,), vmpin=vmpin), 1: child}, {}, dma)


def test_diff_views_names_every_differing_field() -> None:
    same, counts = diff_views(_view("layout"), _view("layout"))
    assert same == [] and counts["contents"] == 2 and counts["process pages"] == 5  # process 0's are conform's
    found, _ = diff_views(_view("op 1", vmpin=4), _view("layout"))
    assert [(what, field) for what, field, _m, _k in found] == [
        ("process 0 page 0 contents", "contents"), ("process 0 vmpin", "vmpin")]
    found, _ = diff_views(_view("layout", dma=(DmaView("dma_read", True, "layout"),)),
                          _view("layout", dma=(DmaView("dma_read", False, "op 0"),)))
    assert [field for _what, field, _m, _k in found] == ["dma coherent", "dma seen"]
    fewer = attrs.evolve(_view("layout"), processes={0: _view("layout").processes[0]})
    assert diff_views(_view("layout"), fewer)[0][0][:2] == ("processes", "processes")
    assert set(VIEW_FIELDS) <= set(FIELDS)


def _agreeing_live(scenario: sc.Scenario) -> LiveRun:
    """A LiveRun that shows exactly what the model predicts (bytes for labels)."""
    viewer = ModelViewer(scenario)
    run = run_scenario(scenario, "mainline", trace=False, on_step=viewer)
    byte = {"layout": LAYOUT_TAG, "unwritten": 0, None: None}
    probes, dma = [], []
    for op, view in sorted(viewer.views.items()):
        probes.append(Probe(op, {n: tuple(byte[c] if c in byte else tag(int(str(c).split()[1])) for c in p.contents)
                                 for n, p in view.processes.items()},
                            {}, None, (), {n: p.pages for n, p in view.processes.items()},
                            {n: p.mapcounts for n, p in view.processes.items()},
                            {n: p.vmpin for n, p in view.processes.items()}))
        dma += [DmaCheck(op, d.kind, d.coherent, None) for d in view.dma]
    return LiveRun(tuple(run.observations), None, tuple(dma), model_layout_observation(scenario), tuple(probes))


def test_a_comparison_names_the_first_field_where_the_kernel_differs() -> None:
    scenario = sc.validate(sc.Scenario((W,), (sc.Fork(), sc.CpuWrite(0, 1))))
    live = _agreeing_live(scenario)
    assert compare(scenario, live=live).agree
    probes = list(live.probes)
    probes[2] = attrs.evolve(probes[2], views={0: (LAYOUT_TAG,), 1: (LAYOUT_TAG,)})  # the child's write is lost
    comparison = compare(scenario, live=attrs.evolve(live, probes=tuple(probes)))
    assert comparison.first_mismatch == ("op 1 (cpu_write(page=0, process=1)): process 1 page 0 contents: "
                                         "model op 1, kernel layout")
    assert [d.field for d in comparison.steps[2].differences] == ["contents"]
    assert comparison.to_json()["steps"][2]["kernel_view"]["processes"]["1"]["contents"] == ["layout"]


def test_kernel_views_read_probes_and_device_checks() -> None:
    page = PageObservation(present=True, identity="new")
    live = LiveRun((), None, (DmaCheck(0, "dma_read", True, tag(0)),), (),
                   (Probe(0, {0: (tag(0),)}, {2: (0xA0,)}, 4, (), {0: (page,)}, {0: (1,)}, {0: 4}),
                    Probe(None, vmpin=0)))
    assert kernel_views(live) == {0: StepView(0, {0: ProcessView((page,), (1,), ("op 0",), 4)}, {2: ("unwritten",)},
                                             (DmaView("dma_read", True, "op 0"),))}


# ---- the generator ------------------------------------------------------------------------

@settings(max_examples=150, phases=[Phase.generate], database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(interaction_scenarios())
def test_interaction_scenarios_are_drivable_and_exit_only_idle_children(scenario: sc.Scenario) -> None:
    assert not_drivable(scenario) is None
    dead: set[int] = set()
    for index, op in enumerate(scenario.ops):
        assert getattr(op, "process", 0) not in dead, f"op {index} is addressed to an exited process"
        if isinstance(op, sc.Exit):
            assert op.process != 0
            holds = [i for i, g in enumerate(scenario.ops[:index]) if isinstance(g, sc.Gup) and g.process == op.process
                     and g.api in HOLDERS and not any(isinstance(r, sc.Release) and r.of == i
                                                      for r in scenario.ops[:index])]
            assert not holds, f"process {op.process} exits holding op {holds[0]}"
            dead.add(op.process)


@pytest.mark.parametrize("family", ["pin_held_across_fork", "child_exit_while_sharing", "madv_dontneed_of_held_page",
                                    "munmap_of_held_page", "repin_of_held_page", "many_holds_of_one_page"])
def test_conform_generation_reaches_the_interactions(family: str) -> None:
    shares = _shares()
    assert set(shares) == set(FAMILIES)
    assert shares[family] >= (0.10 if family == "pin_held_across_fork" else 0.02), shares


_SHARES: dict[str, float] = {}


def _shares() -> dict[str, float]:
    if not _SHARES:
        _SHARES.update(collect("mainline", 300, seed=0, strategy=conform_scenarios())["families"])
    return _SHARES


# ---- outcomes the model allows where the batches are nobody's -----------------------------------

#: the issue's scenario: fork, child exit, two /proc/self/mem reads, write
SHARED_THEN_ALONE = (sc.Fork(), sc.Exit(1), sc.Gup("proc_mem_read", 0, 1), sc.Gup("proc_mem_read", 0, 1),
                     sc.CpuWrite(0))


def test_a_reuse_that_counts_references_may_meet_another_cpus_batch() -> None:
    scenario = sc.validate(sc.Scenario((W,), SHARED_THEN_ALONE))
    assert len(outcomes(scenario, "mainline", uncontrolled_batches=False)) == 1
    allowed = outcomes(scenario, "mainline", uncontrolled_batches=True)
    assert [o.script for o in allowed] == [(), (1,)]
    assert [o.run.observations[4].pages[0].identity for o in allowed] == ["same", "replaced"]
    assert [o.views[4].processes[0].contents for o in allowed] == [("op 4",), ("op 4",)]


def test_an_exclusive_page_is_reused_whatever_the_batches_hold() -> None:
    """PageAnonExclusive reuses before any reference is counted: no choice point."""
    scenario = sc.validate(sc.Scenario((W,), (sc.Gup("proc_mem_read", 0, 1), sc.CpuWrite(0))))
    assert len(outcomes(scenario, "mainline", uncontrolled_batches=True)) == 1
