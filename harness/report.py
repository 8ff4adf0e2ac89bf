"""Rich renderings shared by the CLI and the pytest plugin: a counterexample as a person
reads it (layout, calls, results, the loop's repeating steps), a step-by-step trace, and
the kernel timeline."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from . import scenario as sc
from .model.kernels import PROFILES, SWITCHES, TIMELINE, Profile, changes_between
from .model.trace import Event
from .run import Run, describe_op, format_result

KIND_STYLES = {
    "call": "bold cyan", "round": "bold magenta", "fault": "yellow", "grab": "green", "unpin": "red",
    "put": "red", "isolate": "magenta", "migrate": "blue", "drain": "blue", "unshare": "bright_yellow",
    "cow": "bright_yellow", "op": "bold", "return": "bold cyan", "race": "bold red", "fork": "bold",
}


def layout_table(layout: Iterable[sc.Vma], title: str = "layout") -> Table:
    table = Table(title=title, title_justify="left", show_edge=False)
    for column in ("pages", "prot", "share", "backing", "faulted", "placement"):
        table.add_column(column)
    for vma in layout:
        table.add_row(f"{vma.start}-{vma.end - 1}" if vma.pages > 1 else str(vma.start), vma.prot, vma.share,
                      vma.backing, vma.faulted or "-" * min(vma.pages, 1) + ("" if vma.pages == 1 else " (untouched)"),
                      vma.placement)
    return table


def ops_table(run: Run) -> Table:
    table = Table(title="operations", title_justify="left", show_edge=False)
    table.add_column("#")
    table.add_column("operation")
    table.add_column("result")
    results = {r.index: r for r in run.results}
    for index, op in enumerate(run.scenario.ops):
        result = results.get(index)
        if result is None:
            shown = Text("not reached", style="dim")
        elif run.livelock is not None and result is run.results[-1]:
            shown = Text("never returns", style="bold red")
        elif result.not_applicable:
            shown = Text(f"n/a: {result.not_applicable}", style="dim")
        elif result.result is None:
            shown = Text("done")
        else:
            shown = Text(format_result(result.result))
        table.add_row(str(index), Text(describe_op(op)), shown)  # Text: "[...]" in an op is not markup
    return table


def events_text(events: Iterable[Event], indent: int = 0) -> Text:
    text = Text()
    for event in events:
        text.append("  " * (event.depth + indent))
        text.append(f"{event.kind:8}", style=KIND_STYLES.get(event.kind, ""))
        text.append(f" {event.text}\n")
    return text


def counterexample(run: Run, failures: dict[str, str], *, title: str | None = None) -> Panel:
    parts: list = [layout_table(run.scenario.layout), ops_table(run)]
    for name, message in failures.items():
        parts.append(Text.assemble(("✗ ", "bold red"), (name, "bold"), f": {message}"))
    if run.livelock is not None:
        lock = run.livelock
        parts.append(Text(f"\nthe loop ({lock.loop}) repeats these steps:", style="bold"))
        parts.append(events_text(lock.repeating, indent=-min((e.depth for e in lock.repeating), default=0)))
        parts.append(Text(f"repeating state: {lock.state}", style="dim"))
    heading = title or f"counterexample on {run.profile.name}"
    return Panel(Group(*parts), title=heading, title_align="left", border_style="red" if failures else "green")


def trace_view(run: Run) -> Group:
    """Everything the run did, op by op, and the folios it touched."""
    parts: list = [layout_table(run.scenario.layout, "layout (before the operations)")]
    parts.append(Text("trace", style="bold underline"))
    parts.append(events_text(run.trace))
    parts.append(folios_table(run))
    return Group(*parts)


def folios_table(run: Run) -> Table:
    table = Table(title="folios at the end (after releasing what the scenario held)", title_justify="left",
                  show_edge=False)
    for column in ("pfn", "what", "zone", "refcount", "mapcount", "flags"):
        table.add_column(column)
    for folio in run.kernel.mem.live():
        if folio.is_zero:
            what = "zero page"
        elif folio.anon:
            what = "anon"
        elif folio.mapping is not None:
            what = f"{folio.mapping.name}[{folio.index}]"
        else:
            what = "?"
        flags = ",".join(n for n, on in (("exclusive", folio.anon_exclusive and folio.anon), ("lru", folio.lru),
                                          ("batch", folio.in_lru_batch), ("dirty", folio.dirty)) if on)
        zone = folio.zone + ("/" + folio.migratetype if folio.migratetype in ("CMA", "ISOLATE") else "")
        table.add_row(str(folio.pfn), what, zone, str(folio.refcount), str(folio.mapcount), flags)
    return table


def timeline_table(verbose: bool = False) -> Table:
    table = Table(title="kernel profiles (oldest first)", title_justify="left")
    table.add_column("profile", style="bold")
    table.add_column("changes from the previous profile" if verbose else "switches on")
    previous: Profile | None = None
    for step in TIMELINE:
        profile = PROFILES[step.name]
        if verbose:
            lines = []
            if previous is not None:
                on, off = changes_between(previous, profile)
                lines += [f"+ {s.name} ({s.commit}, {s.release}): {s.summary}" for s in on]
                lines += [f"- {s.name} ({s.commit}): {s.summary}" for s in off]
            else:
                lines += [f"+ {SWITCHES[n].name} ({SWITCHES[n].commit}, {SWITCHES[n].release})"
                          for n in sorted(profile.switches)]
            if step.note:
                lines.append(f"[dim]{step.note}[/dim]")
            table.add_row(profile.name, "\n".join(lines))
        else:
            table.add_row(profile.name, ", ".join(sorted(profile.switches)))
        previous = profile
    return table


def console(stderr: bool = False) -> Console:
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        out.width = 140  # logs and pipes: wide enough for the tables, never squeezed to 80
    return out
