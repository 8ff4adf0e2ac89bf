"""The live hunt's report: what was checked how often, and a failure with the kernel's and the
model's view side by side (per step: results and pages, then the property verdicts of both)."""

from __future__ import annotations

import os

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..conform import PROFILE, render_comparison
from ..oracle.probe import Probe, writer_of
from .checks import capability
from .hunt import LiveExample, LiveHuntReport

CONTENTS_LEGEND = "contents: 'wN' written by op N, 'L' by the layout, '.' not mapped readable, else the byte in hex"


def _byte(value: int | None) -> str:
    """A page's first byte: '.' unreadable, 'L' the layout's write, 'wN' op N's, else hex."""
    if value is None:
        return "."
    writer = writer_of(value)
    if writer is None:
        return f"{value:02x}"
    return "L" if writer < 0 else f"w{writer}"


def contents_table(example: LiveExample) -> Table:
    """What each process read and what each backing file held, after each step (the probes)."""
    table = Table(title="contents: the first byte of each page", title_justify="left", show_edge=False,
                  min_width=50)
    table.add_column("after")
    table.add_column("seen by")
    table.add_column("pages")
    for probe in example.live.probes:
        if probe.op is None:
            continue
        after = "layout" if probe.op < 0 else f"op {probe.op}"
        for label, values in _rows(probe, example):
            table.add_row(after, label, " ".join(_byte(v).ljust(3) for v in values))
            after = ""
    for dma in example.live.dma:
        if dma.kind == "dma_read" and dma.seen is not None:
            table.add_row(f"op {dma.op}", "device read", _byte(dma.seen))
    return table


def _rows(probe: Probe, example: LiveExample) -> list[tuple[str, tuple[int | None, ...]]]:
    rows: list[tuple[str, tuple[int | None, ...]]] = [(f"process {k}", v) for k, v in sorted(probe.views.items())]
    for number, values in sorted(probe.files.items()):
        vma = example.scenario.layout[number]
        rows.append((f"file of VMA @{vma.start}", values))
    return rows


def verdicts_table(report: LiveHuntReport) -> Table:
    """Kernel and model verdicts of each failing property, side by side."""
    assert report.failure is not None
    table = Table(title=f"verdicts: the kernel (Linux {os.uname().release}) and the model ({PROFILE})",
                  title_justify="left", show_edge=False)
    table.add_column("property")
    table.add_column("kernel")
    table.add_column("model")
    for name, why in sorted(report.failure.failures.items()):
        if name in report.model_verdicts:
            model = report.model_verdicts[name]
            model_text = Text("holds", style="green") if model is None else Text(f"fails: {model}", style="red")
        else:
            model_text = Text("not a model property", style="dim")
        table.add_row(name, Text(f"fails: {why}", style="bold red"), model_text)
    return table


def checked_table(report: LiveHuntReport) -> Table:
    table = Table(title="checked live, per property", title_justify="left", show_edge=False)
    table.add_column("property")
    table.add_column("live")
    table.add_column("examples judged", justify="right")
    table.add_column("steps checked", justify="right")
    for name in report.properties:
        table.add_row(name, capability(name).capability, str(report.judged_examples.get(name, 0)),
                      str(report.checked.get(name, 0)))
    return table


def render_report(report: LiveHuntReport) -> RenderableType:
    head = Text()
    verdict = "no failure" if report.ok else "FAILURE" if report.failure else "UNSTABLE"
    head.append(f"hunt on the live kernel (Linux {os.uname().release}; model profile {PROFILE}): ", style="bold")
    head.append(verdict, style="bold green" if report.ok else "bold red")
    head.append(f" — {report.examples} example(s)"
                f"{' before the failure' if report.failure else ''}, {report.runs} run(s) on the kernel"
                f"{' with shrinking' if report.runs > report.examples else ''}, {report.seconds:.1f} s, "
                f"{report.per_second:.1f} examples/s"
                f"{'' if report.seed is None else f', seed {report.seed}'}")
    parts: list[RenderableType] = [head, checked_table(report)]
    for reason, count in sorted(report.stopped.items(), key=lambda kv: -kv[1]):
        parts.append(Text(f"{count} example(s) stopped early: {reason}", style="yellow"))
    if report.flaky:
        parts.append(Text(f"unstable: {report.flaky}", style="bold yellow"))
    if report.failure is not None:
        parts.append(Text("shrunk live counterexample: what the kernel did and what the model predicts", style="bold"))
        if report.comparison is not None:
            parts.append(render_comparison(report.comparison))
        if report.failure.live.probes:
            parts.append(contents_table(report.failure))
            parts.append(Text(CONTENTS_LEGEND, style="dim"))
        parts.append(verdicts_table(report))
    return Group(*parts)
