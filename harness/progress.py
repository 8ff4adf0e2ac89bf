"""Progress bars on stderr for the long commands (bench, conform, hunt, explore).

The long-running functions take a plain callback, `(done, total, what) -> None` (`total` None
when unknown, as while Hypothesis shrinks), and know nothing of rich; this module turns the
callback into a bar. Nothing is shown when stderr is not a terminal or with --quiet, and the
bar never touches stdout, so `--json` output and pipes stay clean."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

#: done so far, the total if known, and what is being counted
ProgressFn = Callable[[int, "int | None", str], None]


def _nothing(done: int, total: int | None, what: str) -> None:
    """The callback when no progress is shown."""


def stderr_console() -> Console:
    """The console progress goes to (a function, so a test can force a terminal)."""
    return Console(stderr=True)


@contextmanager
def shown(title: str, quiet: bool = False) -> Iterator[ProgressFn]:
    """A callback that draws a bar on stderr while the block runs (or does nothing)."""
    console = stderr_console()
    if quiet or not console.is_terminal:
        yield _nothing
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    # redirect_*=False: rich would otherwise route print() on stdout through the stderr console
    with Progress(*columns, console=console, transient=True, redirect_stdout=False,
                  redirect_stderr=False) as bar:
        tasks = [bar.add_task(escape(title), total=None)]

        def update(done: int, total: int | None, what: str) -> None:
            description = escape(f"{title}: {what}" if what else title)
            if total is None and bar.tasks[-1].total is not None:
                # rich reads total=None as "unchanged": a count with no total (shrinking) is a new task
                bar.update(tasks[-1], visible=False)
                tasks.append(bar.add_task(description, total=None))
            bar.update(tasks[-1], completed=done, total=total, description=description)

        yield update
