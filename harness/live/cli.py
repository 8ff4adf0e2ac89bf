"""The command-line side of the live hunt: `hunt --kernel live` and `replay --kernel live`.

Kept out of harness/cli.py, which only dispatches here when --kernel is `live`."""

from __future__ import annotations

import argparse
import json
import os

from rich.markup import escape

from .. import report
from ..cli import UsageError, writable_root
from ..progress import shown

#: the --kernel value that means the running kernel
LIVE_KERNEL = "live"


def _available(command: str) -> None:
    """One line, exit 2, when this machine cannot drive the kernel (no root, io_uring, pagemap...)."""
    from ..oracle import availability

    avail = availability()
    if not avail.ok:
        raise UsageError(f"gupharness {command}: the live kernel cannot be driven here: {avail.reason}")


def _names(command: str, names: list[str] | None) -> tuple[str, ...]:
    from properties import PROPERTIES, UnknownProperty

    from .checks import LIVE
    from .hunt import NotLiveCheckable, checkable_names

    for name in names or ():
        if name not in PROPERTIES and name not in LIVE:
            raise UnknownProperty(name)
    try:
        return checkable_names(names)
    except NotLiveCheckable as exc:
        raise UsageError(f"gupharness {command}: {exc}") from None


def cmd_hunt_live(args: argparse.Namespace) -> int:
    from .hunt import live_hunt, save_live_counterexample
    from .render import render_report

    if args.mutant is not None:
        raise UsageError("gupharness hunt: --mutant patches the model; it does not apply to --kernel live")
    if args.new:
        raise UsageError("gupharness hunt: --new sets aside the model's known failures; it does not apply to "
                         "--kernel live")
    names = _names("hunt", args.properties)
    if args.max_examples < 1:
        raise UsageError("gupharness hunt: --max-examples must be at least 1")
    if not args.no_save:
        writable_root(args.root, "hunt")
    _available("hunt")
    with shown("hunt live", args.quiet) as progress:
        result = live_hunt(names, args.max_examples, args.seed, progress=progress)
    saved = None
    if result.failure is not None and not args.no_save:
        found_by = "gupharness hunt --kernel live" + (f" --seed {args.seed}" if args.seed is not None else "")
        saved = save_live_counterexample(args.root, result.failure, found_by)
    if args.json:
        data = result.to_json()
        data["saved"] = str(saved) if saved else None
        print(json.dumps(data, indent=2))
    else:
        con = report.console()
        con.print(render_report(result))
        if saved is not None:
            con.print(escape(f"saved: {saved}\nreplay on the kernel: gupharness replay {saved} --kernel live"))
    return 0 if result.ok else 1


def cmd_replay_live(args: argparse.Namespace) -> int:
    """Run each file's scenario on the kernel and judge every live-checkable property; a file saved
    by the live hunt says which failed when it was found (origin.live_failures)."""
    from strategies.drivable import not_drivable

    from ..regression import load
    from .hunt import checkable_names, evaluate

    if args.update or args.trace or args.tap:
        raise UsageError("gupharness replay: --update, --trace and --tap do not apply to --kernel live")
    regs = [(path, load(path)) for path in args.files]
    _available("replay")
    names = checkable_names()
    con = report.console()
    out = []
    failed = False
    for path, reg in regs:
        why = not_drivable(reg.scenario)
        if why is not None:
            out.append({"file": path, "kernel": os.uname().release, "ok": None, "not_drivable": why})
            if not args.json:
                con.print(f"[dim]n/a[/dim] {escape(path)}: not drivable on the live kernel: {escape(why)}")
            continue
        example = evaluate(reg.scenario, names)
        found = reg.origin.get("live_failures")
        recorded: dict = found if isinstance(found, dict) else {}
        failed |= bool(example.failures)
        out.append({"file": path, "kernel": os.uname().release, "ok": not example.failures,
                    "failures": example.failures, "recorded": recorded, "stopped": example.stopped})
        if args.json:
            continue
        if example.failures:
            con.print(f"[red]FAIL[/red] {escape(path)} on Linux {escape(os.uname().release)}")
            for name, why in example.failures.items():
                con.print(escape(f"    {name}: {why}"))
        else:
            con.print(f"[green]ok[/green] {escape(path)} on Linux {escape(os.uname().release)}: every live-checkable "
                      "property holds")
        for name in recorded:
            again = "reproduces" if name in example.failures else (
                "not checkable here" if name not in names else "does NOT reproduce")
            con.print(escape(f"    recorded when found: {name} — {again}"))
        if example.stopped:
            con.print(escape(f"    stopped early: {example.stopped}"), style="yellow")
    if args.json:
        print(json.dumps(out, indent=2))
    return 1 if failed else 0
