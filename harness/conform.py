"""The differential check: the model's `mainline` profile against the running kernel.

    comparison = compare(scenario)          # one scenario, op by op, field by field
    report = conform(500, seed=0)           # a Hypothesis search for a mismatch

Both sides speak harness.observe's vocabulary: after each top-level operation, the
call's result and, for every page of process 0's test area, present / zero / anon /
mapped_once / identity. Identity is judged against the previous observation on both
sides, and the first one against the PFNs right after the layout was set up; that
layout-time observation is compared too (as the "layout" step), since the faults a
layout asks for are themselves kernel behaviour. Beyond process 0's pages, each step
compares harness/fullview.py's full view: every live process's pages, map counts
(/proc/kpagecount), contents (who wrote what each process reads) and VmPin, the backing
files' contents and the step's device accesses (coherent, what a device read returned).

A mismatch is a failure Hypothesis shrinks, so a report names the smallest scenario it
found where the model and the kernel disagree, with the first difference in one line.
The kernel is the ground truth for `mainline`.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Flaky
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from . import scenario as sc
from .families import FAMILIES, families
from .fullview import VIEW_FIELDS, StepView, diff_views, kernel_views
from .model import vmops
from .model.kernel import Kernel
from .model.kernels import get_profile, profile_for_release
from .model.mm import MM
from .observe import PageObservation, StepObservation
from .outcomes import Outcome, outcomes
from .progress import ProgressFn
from .run import Run, describe_op, format_result, observe
from .serialize import to_data

if TYPE_CHECKING:
    from .oracle import LiveRun

#: the model profile that stands for the running kernel: the newest profile not newer than
#: its release (uname -r), mainline beyond the newest numbered one
PROFILE = profile_for_release(os.uname().release)
#: the per-page fields of an observation, in the order differences are reported
PAGE_FIELDS = ("present", "zero", "anon", "mapped_once", "identity")
FIELDS = ("result",) + PAGE_FIELDS + VIEW_FIELDS
#: the pseudo op number of the observation right after the layout was set up
LAYOUT = -1


@attrs.frozen
class Difference:
    op: int
    #: "result", "page N <field>", or a full-view field ("process 1 page 2 contents", "process 0 vmpin", ...)
    what: str
    model: Any
    kernel: Any
    #: the FIELDS entry it counts under
    field: str = ""


@attrs.frozen
class StepComparison:
    op: int
    #: the Gup api, or the op kind ("cpu_write", ...); "layout" for the initial observation
    entry: str
    description: str
    model: StepObservation | None
    kernel: StepObservation | None
    differences: tuple[Difference, ...]
    #: the full views (fullview.py), when both sides have one
    model_view: StepView | None = None
    kernel_view: StepView | None = None
    #: field -> comparisons made in this step (result: 1; process 0's page fields: one per page)
    compared: dict[str, int] = attrs.field(factory=dict)

    @property
    def agree(self) -> bool:
        return not self.differences and self.model is not None and self.kernel is not None


@attrs.frozen
class Comparison:
    scenario: sc.Scenario
    steps: tuple[StepComparison, ...]
    #: why the model stopped early (a livelock, or an op that does not exist on mainline)
    model_error: str | None = None
    #: why the live run stopped early (not drivable, crash, timeout, oracle unavailable)
    kernel_error: str | None = None
    #: how many outcomes the model allowed (harness/outcomes.py; 1 with the crutches)
    outcomes: int = 1
    #: ops after which those outcomes differ (the steps with more than one allowed outcome)
    steps_with_choices: tuple[int, ...] = ()
    #: the outcome compared with: 0 is the one the deterministic model gives (every choice 0)
    outcome: int = 0

    @property
    def agree(self) -> bool:
        return self.first_mismatch is None

    @property
    def first_mismatch(self) -> str | None:
        """The first difference in one line, e.g.
        'op 2 (cpu_write(page=0)): page 0 identity: model same, kernel replaced'."""
        for step in self.steps:
            if step.differences:
                d = step.differences[0]
                return f"{_step_label(step)}: {d.what}: model {_show(d.model)}, kernel {_show(d.kernel)}"
            if step.model is None or step.kernel is None:
                missing = "model" if step.model is None else "kernel"
                why = self.model_error if step.model is None else self.kernel_error
                return f"{_step_label(step)}: no {missing} observation ({why or 'the run stopped'})"
        if self.model_error or self.kernel_error:
            which = "model" if self.model_error else "kernel"
            return f"{which} run stopped: {self.model_error or self.kernel_error}"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "agree": self.agree,
            "first_mismatch": self.first_mismatch,
            "scenario": to_data(self.scenario),
            "model_error": self.model_error,
            "kernel_error": self.kernel_error,
            "outcomes": self.outcomes,
            "steps_with_choices": list(self.steps_with_choices),
            "outcome": self.outcome,
            "steps": [
                {
                    "op": s.op,
                    "entry": s.entry,
                    "description": s.description,
                    "model": _step_json(s.model),
                    "kernel": _step_json(s.kernel),
                    "differences": [{"what": d.what, "model": d.model, "kernel": d.kernel} for d in s.differences],
                    "model_view": None if s.model_view is None else s.model_view.to_json(),
                    "kernel_view": None if s.kernel_view is None else s.kernel_view.to_json(),
                }
                for s in self.steps
            ],
        }


def _step_label(step: StepComparison) -> str:
    return "layout" if step.op == LAYOUT else f"op {step.op} ({step.description})"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return format_result(value)
    return "none" if value is None else str(value)


def _step_json(step: StepObservation | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return {"result": step.result, "pages": [attrs.asdict(p) for p in step.pages]}


def entry_point(op: sc.Op) -> str:
    """What a step exercises: the Gup caller, or the operation kind."""
    return op.api if isinstance(op, sc.Gup) else sc.OP_NAMES[type(op)]


def model_layout_observation(scenario: sc.Scenario) -> tuple[PageObservation, ...]:
    """What the model shows right after the layout is set up (the baseline of op 0's identity)."""
    k = Kernel(profile=get_profile(PROFILE))
    k.trace.enabled = False
    mm0 = MM(pid=0)
    k.mms[0] = mm0
    vmops.mmap_layout(k, mm0, scenario.layout)
    pages, _ = observe(k, scenario.span, None)
    return pages


def diff_step(op: int, model: StepObservation, kernel: StepObservation) -> tuple[Difference, ...]:
    found: list[Difference] = []
    if model.result != kernel.result:
        found.append(Difference(op, "result", model.result, kernel.result, "result"))
    for index, (m, k) in enumerate(zip(model.pages, kernel.pages)):
        for name in PAGE_FIELDS:
            mv, kv = getattr(m, name), getattr(k, name)
            if mv != kv:
                found.append(Difference(op, f"page {index} {name}", mv, kv, name))
    if len(model.pages) != len(kernel.pages):
        found.append(Difference(op, "pages observed", len(model.pages), len(kernel.pages), "present"))
    return tuple(found)


def _step(op: int, entry: str, description: str, m: StepObservation | None, k: StepObservation | None,
          mv: StepView | None, kv: StepView | None) -> StepComparison:
    """One step compared: process 0's observation, then the full views if both sides have them."""
    if m is None or k is None:
        return StepComparison(op, entry, description, m, k, ())
    diffs = list(diff_step(op, m, k))
    compared = {name: len(m.pages) for name in PAGE_FIELDS}
    if op != LAYOUT:
        compared["result"] = 1
    if mv is not None and kv is not None:
        found, counts = diff_views(mv, kv)
        diffs += [Difference(op, what, a, b, name) for what, name, a, b in found]
        compared.update(counts)
    return StepComparison(op, entry, description, m, k, tuple(diffs), mv, kv, compared)


def compare(scenario: sc.Scenario, *, timeout: float = 5.0, live: LiveRun | None = None,
            crutches: bool = False) -> Comparison:
    """Run `scenario` on the model (the running release's profile) and on the live kernel;
    compare every step. `live`: a run of `scenario` on the kernel already made (the live
    hunt's, with probes), instead of a new one."""
    return compare_run(scenario, timeout=timeout, live=live, crutches=crutches)[0]


def compare_run(scenario: sc.Scenario, *, timeout: float = 5.0, live: LiveRun | None = None,
                crutches: bool = False) -> tuple[Comparison, Run]:
    """compare(), also returning the model's Run that the kernel followed (for the interaction
    families it contains). Without the crutches the model may allow several outcomes
    (harness/outcomes.py): the comparison is with the one the kernel's steps match, or, when
    none does, with the one that matches longest."""
    from .oracle import run_live

    sc.validate(scenario)
    allowed = outcomes(scenario, PROFILE, uncontrolled_batches=not crutches)
    if live is None:
        live = run_live(scenario, timeout=timeout, probe=True, crutches=crutches)
    kernel_seen = kernel_views(live)
    compared = [_compare_outcome(scenario, outcome, live, kernel_seen) for outcome in allowed]
    best = max(range(len(compared)), key=lambda i: (compared[i].agree, _agreeing_steps(compared[i]), -i))
    choices = _steps_with_choices(allowed)
    return (attrs.evolve(compared[best], outcomes=len(allowed), steps_with_choices=choices, outcome=best),
            allowed[best].run)


def _agreeing_steps(comparison: Comparison) -> int:
    """Steps that agree before the first that does not."""
    count = 0
    for step in comparison.steps:
        if not step.agree:
            break
        count += 1
    return count


def _steps_with_choices(allowed: list[Outcome]) -> tuple[int, ...]:
    """Ops after which the allowed outcomes do not all show the same (observation, full view)."""
    if len(allowed) < 2:
        return ()
    first = allowed[0]
    ops = range(len(first.run.scenario.ops))
    seen = [({s.op: s for s in o.run.observations}, o.views) for o in allowed]
    return tuple(op for op in ops if any((obs.get(op), views.get(op)) != (seen[0][0].get(op), seen[0][1].get(op))
                                         for obs, views in seen[1:]))


def _compare_outcome(scenario: sc.Scenario, outcome: Outcome, live: LiveRun,
                     kernel_seen: dict[int, StepView]) -> Comparison:
    run, views = outcome.run, outcome.views
    model_error = None
    if run.livelock is not None:
        model_error = f"livelock: {run.livelock}"
    elif run.bug is not None:
        model_error = str(run.bug)
    elif run.not_applicable:
        model_error = f"not applicable: {run.not_applicable}"
    steps: list[StepComparison] = []
    model_initial = StepObservation(LAYOUT, None, model_layout_observation(scenario))
    kernel_initial = StepObservation(LAYOUT, None, live.initial) if live.initial or not live.error else None
    steps.append(_step(LAYOUT, "layout", "layout", model_initial, kernel_initial, views.get(LAYOUT),
                       kernel_seen.get(LAYOUT)))
    model_steps = {s.op: s for s in run.observations}
    kernel_steps = {s.op: s for s in live.steps}
    for index, op in enumerate(scenario.ops):
        m, k = model_steps.get(index), kernel_steps.get(index)
        if m is None and k is None:
            break
        steps.append(_step(index, entry_point(op), describe_op(op), m, k, views.get(index), kernel_seen.get(index)))
        if m is None or k is None:
            break
    return Comparison(scenario, tuple(steps), model_error, live.error)


# -- the search -------------------------------------------------------------------------------

class Mismatch(AssertionError):
    """The model and the kernel disagree on a scenario (what Hypothesis shrinks)."""


@attrs.define
class Tally:
    agree: int = 0
    disagree: int = 0

    @property
    def total(self) -> int:
        return self.agree + self.disagree

    def add(self, ok: bool) -> None:
        if ok:
            self.agree += 1
        else:
            self.disagree += 1


@attrs.define
class ConformReport:
    examples: int
    seed: int | None
    seconds: float
    kernel: str
    #: the shrunk scenario where the model and the kernel disagree, compared; None if none found
    mismatch: Comparison | None
    #: examples compared before the first mismatch (all of them when there was none)
    examples_to_mismatch: int
    #: entry point (Gup api or op kind, "layout") -> steps that agreed / disagreed
    by_entry: dict[str, Tally]
    #: observation field -> comparisons that agreed / disagreed (result: per step; the rest: per page)
    by_field: dict[str, Tally]
    #: examples the oracle could not finish (reported as mismatches when they are found)
    flaky: str | None = None
    #: interaction family (harness/families.py) -> examples compared whose model run contains it
    families: dict[str, int] = attrs.field(factory=dict)
    #: the oracle ran on one CPU and drained LRU batches before every op
    crutches: bool = False
    #: ops compared (layout excluded), and those after which the model allowed more than one outcome
    ops_compared: int = 0
    ops_with_choices: int = 0
    #: examples for which the model allowed more than one outcome
    examples_with_choices: int = 0
    #: examples the kernel ran as another outcome than the deterministic model's (what the
    #: crutches hide: each would be a mismatch with a model that allows one outcome)
    examples_off_default: int = 0

    @property
    def ok(self) -> bool:
        return self.mismatch is None and self.flaky is None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "profile": PROFILE,
            "kernel": self.kernel,
            "crutches": self.crutches,
            "ops_compared": self.ops_compared,
            "ops_with_choices": self.ops_with_choices,
            "examples_with_choices": self.examples_with_choices,
            "examples_off_default": self.examples_off_default,
            "examples": self.examples,
            "seed": self.seed,
            "seconds": round(self.seconds, 3),
            "examples_to_mismatch": self.examples_to_mismatch,
            "mismatch": None if self.mismatch is None else self.mismatch.to_json(),
            "flaky": self.flaky,
            "by_entry": {k: {"agree": v.agree, "disagree": v.disagree} for k, v in sorted(self.by_entry.items())},
            "by_field": {k: {"agree": v.agree, "disagree": v.disagree} for k, v in self.by_field.items()},
            "families": {name: {"examples": n, "share": round(n / self.examples_to_mismatch, 4)
                                if self.examples_to_mismatch else 0.0} for name, n in self.families.items()},
        }


def _tally(comparison: Comparison, by_entry: dict[str, Tally], by_field: dict[str, Tally]) -> None:
    for step in comparison.steps:
        if step.model is None or step.kernel is None:
            by_entry.setdefault(step.entry, Tally()).add(False)
            continue
        by_entry.setdefault(step.entry, Tally()).add(not step.differences)
        wrong = Counter(d.field for d in step.differences)
        for name, count in step.compared.items():
            tally = by_field.setdefault(name, Tally())
            tally.disagree += wrong[name]
            tally.agree += max(count - wrong[name], 0)


def conform(examples: int = 200, seed: int | None = None, *, timeout: float = 5.0,
            progress: ProgressFn | None = None, crutches: bool = False) -> ConformReport:
    """Search drivable scenarios for one where the model (mainline) and the running kernel
    disagree; shrink it. Agreement counts cover the examples before the first mismatch;
    `progress` hears of each example (no total once shrinking)."""
    from .interactions import conform_scenarios
    from .oracle import availability

    avail = availability()
    if not avail.ok:
        raise RuntimeError(f"the live-kernel oracle cannot run here: {avail.reason}")
    by_entry: dict[str, Tally] = {}
    by_field: dict[str, Tally] = {name: Tally() for name in FIELDS}
    state: dict[str, Any] = {"count": 0, "counting": True, "last": None}
    found: Counter[str] = Counter(dict.fromkeys(FAMILIES, 0))
    choices: Counter[str] = Counter()
    started = time.perf_counter()

    def check(scenario: sc.Scenario) -> None:
        comparison, run = compare_run(scenario, timeout=timeout, crutches=crutches)
        state["runs"] = state.get("runs", 0) + 1
        if progress is not None:
            progress(state["runs"], examples if state["counting"] else None,
                     "examples" if state["counting"] else "shrinking")
        if state["counting"]:
            state["count"] += 1
            _tally(comparison, by_entry, by_field)
            found.update(families(run))
            choices["ops"] += sum(1 for step in comparison.steps if step.op != LAYOUT)
            choices["with"] += len(comparison.steps_with_choices)
            choices["examples"] += comparison.outcomes > 1
            choices["off"] += comparison.agree and comparison.outcome > 0
        if not comparison.agree:
            state["counting"] = False
            state["last"] = scenario
            raise Mismatch(comparison.first_mismatch)

    flaky = search_kernel(conform_scenarios(), check, examples, seed, Mismatch)
    mismatch = None
    if state["last"] is not None:
        mismatch = compare(state["last"], timeout=timeout, crutches=crutches)
        if mismatch.agree:  # did not reproduce: keep it visible, never silently pass
            flaky = flaky or f"the mismatch did not reproduce: {describe_scenario(state['last'])}"
            mismatch = None
    return ConformReport(examples, seed, time.perf_counter() - started, os.uname().release, mismatch,
                         state["count"], by_entry, by_field, flaky, dict(found), crutches, choices["ops"],
                         choices["with"], choices["examples"], choices["off"])


def describe_scenario(scenario: sc.Scenario) -> str:
    layout = ", ".join(f"{v.start}+{v.pages} {v.prot} {v.share} {v.backing}" + (f" {v.faulted}" if v.faulted else "")
                       for v in scenario.layout)
    return f"[{layout}] " + "; ".join(describe_op(op) for op in scenario.ops)


# -- rendering --------------------------------------------------------------------------------

IDENTITY_MARKS = {"absent": "", "new": "+", "same": "", "replaced": "*"}
LEGEND = ("pages: '.' absent, 'Z' zero page, 'A'/'a' anon mapped once/shared, 'F'/'f' page cache once/shared; "
          "suffix '+' new, '*' replaced (no suffix: same page as before)")


def _page_cell(page: PageObservation) -> str:
    return page.short() + IDENTITY_MARKS[page.identity]


def _pages_text(step: StepObservation | None, other: StepObservation | None) -> Text:
    text = Text()
    if step is None:
        return Text("—", style="dim")
    for i, page in enumerate(step.pages):
        if i:
            text.append(" ")
        differs = other is not None and i < len(other.pages) and other.pages[i] != page
        text.append(_page_cell(page).ljust(2), style="bold red" if differs else "")
    return text


def _result_text(step: StepObservation | None, other: StepObservation | None) -> Text:
    if step is None:
        return Text("—", style="dim")
    shown = "" if step.result is None else format_result(step.result)
    differs = other is not None and other.result != step.result
    return Text(shown, style="bold red" if differs else "")


def render_comparison(comparison: Comparison) -> RenderableType:
    """Model and kernel side by side, one row per step; differing cells in red."""
    from .report import layout_table

    table = Table(title=f"model ({PROFILE}) vs kernel ({os.uname().release})", title_justify="left",
                  show_edge=False)
    table.add_column("#", justify="right")
    table.add_column("operation")
    table.add_column("model result", justify="right")
    table.add_column("kernel result", justify="right")
    table.add_column("model pages")
    table.add_column("kernel pages")
    for step in comparison.steps:
        style = "" if step.agree else "on grey15"
        table.add_row("" if step.op == LAYOUT else str(step.op), Text(step.description),
                      _result_text(step.model, step.kernel), _result_text(step.kernel, step.model),
                      _pages_text(step.model, step.kernel), _pages_text(step.kernel, step.model), style=style)
    shown = {s.op for s in comparison.steps}
    for index, op in enumerate(comparison.scenario.ops):
        if index not in shown:
            table.add_row(str(index), Text(describe_op(op), style="dim"), "", "", Text("not reached", style="dim"), "")
    parts: list[RenderableType] = [layout_table(comparison.scenario.layout), table, Text(LEGEND, style="dim")]
    beyond = [(step, d) for step in comparison.steps for d in step.differences if d.field in VIEW_FIELDS]
    if beyond:  # what the table does not show: other processes, map counts, contents, VmPin, files, devices
        parts.append(Text("differences beyond process 0's pages:", style="bold"))
        for step, d in beyond[:20]:
            parts.append(Text(f"  {_step_label(step)}: {d.what}: model {_show(d.model)}, kernel {_show(d.kernel)}",
                              style="red"))
        if len(beyond) > 20:
            parts.append(Text(f"  ... and {len(beyond) - 20} more (--json shows them all)", style="dim"))
    if comparison.outcomes > 1:
        after = ", ".join(str(op) for op in comparison.steps_with_choices) or "none"
        parts.append(Text(f"the model allowed {comparison.outcomes} outcomes (differing after op(s) {after}); "
                          "shown: the one the kernel's steps match longest", style="dim"))
    if comparison.model_error:
        parts.append(Text(f"model stopped: {comparison.model_error}", style="yellow"))
    if comparison.kernel_error:
        parts.append(Text(f"kernel run stopped: {comparison.kernel_error}", style="yellow"))
    first = comparison.first_mismatch
    parts.append(Text(f"first mismatch: {first}", style="bold red") if first
                 else Text("model and kernel agree on every step", style="bold green"))
    return Group(*parts)


def _tally_table(title: str, key: str, rows: dict[str, Tally]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    table.add_column(key)
    table.add_column("agree", justify="right")
    table.add_column("disagree", justify="right")
    table.add_column("agreement", justify="right")
    for name, tally in rows.items():
        rate = f"{100 * tally.agree / tally.total:.1f}%" if tally.total else "—"
        table.add_row(name, str(tally.agree), Text(str(tally.disagree), style="bold red" if tally.disagree else ""),
                      rate)
    return table


def _family_table(report: ConformReport) -> Table:
    """Each interaction family's share of the examples compared (harness/families.py)."""
    table = Table(title="interaction families (share of the examples compared whose run contains one)",
                  title_justify="left", show_edge=False)
    table.add_column("family")
    table.add_column("examples", justify="right")
    table.add_column("share", justify="right")
    total = report.examples_to_mismatch
    for name, count in report.families.items():
        share = count / total if total else 0.0
        table.add_row(name, str(count), Text(f"{share:.1%}", style="bold white on red" if not count else ""))
    return table


def render_report(report: ConformReport) -> RenderableType:
    """The search's outcome, agreement per entry point and per field, and the shrunk mismatch."""
    head = Text()
    verdict = ("no mismatch" if report.ok else "MISMATCH" if report.mismatch else "UNSTABLE")
    head.append(f"conform: model {PROFILE} (the profile for Linux {report.kernel}: the newest not newer than it) "
                f"vs Linux {report.kernel}: ", style="bold")
    head.append(verdict, style="bold green" if report.ok else "bold red")
    head.append(f" — {report.examples_to_mismatch} example(s) compared"
                f"{', one CPU and LRU drains before each op' if report.crutches else ', any CPU, no LRU drains'}"
                f"{' before the mismatch' if report.mismatch else ''}, {report.seconds:.1f} s"
                f"{'' if report.seed is None else f', seed {report.seed}'}")
    parts: list[RenderableType] = [head]
    if not report.crutches:
        share = report.ops_with_choices / report.ops_compared if report.ops_compared else 0.0
        parts.append(Text(f"the model allowed more than one outcome after {report.ops_with_choices} of "
                          f"{report.ops_compared} ops ({share:.2%}), in {report.examples_with_choices} example(s): "
                          "agreement there is the kernel's outcome being one of them; the kernel took another than "
                          f"the deterministic model's in {report.examples_off_default}"))
    entries = dict(sorted(report.by_entry.items(), key=lambda kv: (kv[0] not in sc.CALLER_APIS, kv[0])))
    parts.append(_tally_table("agreement per entry point (steps)", "entry point", entries))
    parts.append(_tally_table("agreement per field (result, processes, vmpin: per step and process; others: per "
                              "page, file page or device access)", "field", report.by_field))
    parts.append(_family_table(report))
    if report.flaky:
        parts.append(Text(f"unstable: {report.flaky}", style="bold yellow"))
    if report.mismatch is not None:
        parts.append(Text("shrunk mismatch:", style="bold"))
        parts.append(render_comparison(report.mismatch))
    return Group(*parts)


def search_kernel(strategy: Any, check: Callable[[Any], None], examples: int, seed: int | None,
                  stop: type[Exception]) -> str | None:
    """Run a Hypothesis search whose examples run on the kernel: no database (the kernel, not
    the model, decides), no deadline, one failure (`stop`, raised by `check`) shrunk on the
    kernel. Returns Hypothesis' Flaky message when the kernel did not repeat itself while
    shrinking, else None. Shared by `conform` and `hunt --kernel live`."""
    test = settings(
        max_examples=examples, deadline=None, database=None, derandomize=False,
        suppress_health_check=list(HealthCheck), phases=[p for p in Phase if p is not Phase.explain],
        report_multiple_bugs=False, print_blob=False,
    )(given(strategy)(check))
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    try:
        test()
    except stop:
        pass
    except Flaky as exc:  # the kernel did not repeat itself while shrinking
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None
