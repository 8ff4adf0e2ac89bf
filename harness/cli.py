"""gupharness: the command line.

Exit status: 0 = every property holds / every recorded expectation is met; 1 = a property
fails or an expectation is violated (a counterexample was found); 2 = bad input or usage,
with one line on stderr saying what and where.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from properties.registry import UnknownProperty

from . import report
from .model.kernels import PROFILE_NAMES, PROFILES, SWITCHES, TIMELINE, UnknownProfile, changes_between, get_profile
from .mutate import ENV as MUTANT_ENV
from .mutate import MutantError, installed
from .regression import RegressionError


class UsageError(Exception):
    """Bad input or usage: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gupharness", description="Property-based regression harness for get_user_pages.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    kernels = sub.add_parser("kernels", help="list the kernel profiles and their switches")
    kernels.add_argument("--verbose", "-v", action="store_true", help="show what each step of the timeline changes")
    kernels.add_argument("--json", action="store_true")

    hunt = sub.add_parser("hunt", help="search for a counterexample on one kernel profile")
    hunt.add_argument("--kernel", required=True, help="profile name (see `gupharness kernels`)")
    hunt.add_argument("--property", action="append", dest="properties", help="only this property (repeatable)")
    hunt.add_argument("--max-examples", type=int, default=1000)
    hunt.add_argument("--seed", type=int, default=None)
    hunt.add_argument("--no-save", action="store_true", help="do not write the counterexample to regressions/pending")
    hunt.add_argument("--root", default=".", help="project root holding regressions/ (default: .)")
    hunt.add_argument("--json", action="store_true")
    hunt.add_argument("--mutant", default=None, help="search the model with this source mutant applied "
                      "(see `gupharness mutants`); nothing is saved")

    replay = sub.add_parser("replay", help="run regression files and check their expectations")
    replay.add_argument("files", nargs="+")
    replay.add_argument("--kernel", default=None, help="a profile name, or 'all'; checks every property there "
                        "(default: the file's recorded expectation on every profile)")
    replay.add_argument("--trace", action="store_true", help="render each run step by step")
    replay.add_argument("--json", action="store_true")

    bisect = sub.add_parser("bisect", help="find where on the timeline a regression file's verdict changes")
    bisect.add_argument("file")
    bisect.add_argument("--property", default=None, help="bisect this property (default: any property)")
    bisect.add_argument("--json", action="store_true")

    conform = sub.add_parser("conform", help="compare the model (mainline) with the running kernel")
    conform.add_argument("--examples", type=int, default=200)
    conform.add_argument("--seed", type=int, default=None)
    conform.add_argument("--file", action="append", dest="files", default=[],
                         help="compare these regression files' scenarios instead of searching (repeatable)")
    conform.add_argument("--no-save", action="store_true", help="do not write a mismatch to regressions/pending")
    conform.add_argument("--root", default=".", help="project root holding regressions/ (default: .)")
    conform.add_argument("--json", action="store_true")

    bench = sub.add_parser("bench", help="how reliably and fast the search finds each catalogued bug")
    bench.add_argument("--seeds", type=int, default=20)
    bench.add_argument("--max-examples", type=int, default=None, help="budget per search (default: the bug budget)")
    bench.add_argument("--all-profiles", action="store_true", help="every failing profile, not the first per bug")
    bench.add_argument("--only", default=None, help="only regression files whose name contains this")
    bench.add_argument("--json", dest="json_file", default=None, help="also write the results to this file")
    bench.add_argument("--mutants", action="store_true", help="the mutation benchmark: how many of the model's "
                       "source mutants the search catches (see `gupharness mutants`)")
    bench.add_argument("--list", action="store_true", help="with --mutants: list the mutants and their diffs")
    bench.add_argument("--workers", type=int, default=2, help="with --mutants: mutants searched at a time")

    mutants = sub.add_parser("mutants", help="list the model's source mutants (the mutation benchmark)")
    mutants.add_argument("--only", default=None, help="only mutants whose name contains this")

    properties = sub.add_parser("properties", help="list the properties")
    properties.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from .profiles import register
    register()
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except UnknownProfile as exc:
        print(f"gupharness: {exc}", file=sys.stderr)
        return 2
    except (UnknownProperty, RegressionError, MutantError) as exc:
        print(f"gupharness: {exc}", file=sys.stderr)
        return 2


def cmd_kernels(args: argparse.Namespace) -> int:
    if args.json:
        out = []
        previous = None
        for step in TIMELINE:
            profile = PROFILES[step.name]
            entry: dict[str, Any] = {"name": profile.name, "switches": sorted(profile.switches), "note": step.note}
            if previous is not None:
                on, off = changes_between(previous, profile)
                entry["on"] = [s.name for s in on]
                entry["off"] = [s.name for s in off]
            out.append(entry)
            previous = profile
        print(json.dumps({"profiles": out, "switches": {n: {"commit": s.commit, "release": s.release,
                                                             "summary": s.summary} for n, s in SWITCHES.items()}},
                         indent=2))
        return 0
    report.console().print(report.timeline_table(verbose=args.verbose))
    return 0


def cmd_properties(args: argparse.Namespace) -> int:
    from properties import PROPERTIES
    if args.json:
        print(json.dumps({p.name: p.doc.strip() for p in PROPERTIES.values()}, indent=2))
        return 0
    con = report.console()
    for prop in PROPERTIES.values():
        con.print(f"[bold]{prop.name}[/bold]: {prop.doc.strip()}\n")
    return 0


def cmd_hunt(args: argparse.Namespace) -> int:
    from properties import get_property

    from .regression import save_counterexample
    from .search import search

    profile = get_profile(args.kernel)
    for name in args.properties or ():
        get_property(name)
    if args.max_examples < 1:
        raise UsageError("gupharness hunt: --max-examples must be at least 1")
    if args.mutant is not None:
        running = installed()
        if running is None or running.name != args.mutant:
            return _rerun_with_mutant(args.mutant, args.argv)
    result = search(profile, args.properties, max_examples=args.max_examples, seed=args.seed)
    saved = None
    if result.counterexample is not None and not args.no_save and args.mutant is None:
        saved = save_counterexample(args.root, result.counterexample, profile.name, result.failures,
                                    f"gupharness hunt --kernel {profile.name}"
                                    + (f" --seed {args.seed}" if args.seed is not None else ""))
    if args.json:
        from .serialize import to_data
        print(json.dumps({
            "kernel": profile.name,
            "mutant": args.mutant,
            "properties": list(result.properties),
            "examples": result.examples,
            "examples_to_failure": result.examples_to_failure if result.counterexample else None,
            "seconds": round(result.seconds, 3),
            "failures": result.failures,
            "counterexample": to_data(result.counterexample) if result.counterexample else None,
            "saved": str(saved) if saved else None,
        }, indent=2))
        return 1 if result.counterexample else 0
    con = report.console()
    patched = installed()
    if patched is not None:
        con.print(f"[bold]model patched by mutant {patched.name}[/bold] (nothing is saved)")
    if result.counterexample is None or result.run is None:
        con.print(f"[green]no counterexample[/green] on {profile.name} after {result.examples} examples "
                  f"({result.seconds:.2f} s): {', '.join(result.properties)} hold")
        return 0
    con.print(report.counterexample(result.run, result.failures))
    con.print(f"found after {result.examples_to_failure} examples, shrunk in {result.examples} examples "
              f"({result.seconds:.2f} s)")
    if saved is not None:
        con.print(f"saved: {saved}\nreplay: gupharness replay {saved} --kernel {profile.name} --trace")
    return 1


def _rerun_with_mutant(name: str, argv: list[str]) -> int:
    """Run this same command again in a fresh interpreter with GUPHARNESS_MUTANT set, so the
    patched model module is compiled at import (this process has the clean one loaded)."""
    import os
    import subprocess

    from .mutants import get_mutant

    get_mutant(name).check()  # unknown or not applying: one line, exit 2, before re-running
    env = dict(os.environ, **{MUTANT_ENV: name})
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "harness", *argv], env=env).returncode


def cmd_mutants(args: argparse.Namespace) -> int:
    from .mutbench import listing
    text = listing(args.only)
    if not text:
        raise UsageError(f"gupharness mutants: no mutant name contains {args.only!r}")
    print(text)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from .regression import check, load

    regs = [(path, load(path)) for path in args.files]  # every file is validated before anything runs
    if args.kernel is not None and args.kernel != "all":
        get_profile(args.kernel)
    con = report.console()
    failed = False
    out = []
    for path, reg in regs:
        profiles = PROFILE_NAMES if args.kernel in (None, "all") else (args.kernel,)
        for profile in profiles:
            expected = reg.expected_failures(profile) if args.kernel is None else frozenset()
            verdict = check(reg.scenario, profile, expected)
            ok = verdict.ok
            failed |= not ok
            out.append({"file": path, "kernel": profile, "ok": ok, "failures": verdict.failures,
                        "expected_failures": sorted(expected), "not_applicable": verdict.not_applicable})
            if args.json:
                continue
            if verdict.not_applicable:
                con.print(f"[dim]n/a[/dim] {path} on {profile}: {verdict.not_applicable}")
                continue
            mark = "[green]ok[/green]" if ok else "[red]FAIL[/red]"
            what = ", ".join(f"{k} fails" for k in verdict.failures) or "all properties hold"
            expectation = "" if args.kernel is not None else f" (expected: {', '.join(sorted(expected)) or 'all hold'})"
            con.print(f"{mark} {path} on {profile}: {what}{expectation}")
            if not ok and args.kernel is None:
                con.print(f"    {verdict.explain()}")
            if args.trace:
                con.print(report.trace_view(verdict.run))
                if verdict.failures:
                    con.print(report.counterexample(verdict.run, verdict.failures))
    if args.json:
        print(json.dumps(out, indent=2))
    return 1 if failed else 0


def cmd_bisect(args: argparse.Namespace) -> int:
    from properties import get_property

    from .bisect import bisect
    from .regression import load

    reg = load(args.file)
    if args.property is not None:
        get_property(args.property)
    result = bisect(reg.scenario, args.property)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        report.console().print(result.render(args.file))
    return 0


def cmd_conform(args: argparse.Namespace) -> int:
    from .conform import compare, conform, render_comparison, render_report
    from .oracle import availability
    from .regression import load, save_counterexample

    regs = [(path, load(path)) for path in args.files]
    if args.examples < 1:
        raise UsageError("gupharness conform: --examples must be at least 1")
    avail = availability()
    if not avail.ok:
        raise UsageError(f"gupharness conform: the live kernel cannot be observed here: {avail.reason}")
    con = report.console()
    if regs:
        failed = False
        out = []
        for path, reg in regs:
            comparison = compare(reg.scenario)
            failed |= not comparison.agree
            out.append({"file": path, **comparison.to_json()})
            if not args.json:
                con.print(render_comparison(comparison))
        if args.json:
            print(json.dumps(out, indent=2))
        return 1 if failed else 0
    result = conform(args.examples, args.seed)
    saved = None
    if result.mismatch is not None and not args.no_save:
        saved = save_counterexample(args.root, result.mismatch.scenario, "mainline",
                                    {"conform": result.mismatch.first_mismatch or "model and kernel disagree"},
                                    "gupharness conform", live=True)
    if args.json:
        data = result.to_json()
        data["saved"] = str(saved) if saved else None
        print(json.dumps(data, indent=2))
    else:
        con.print(render_report(result))
        if saved is not None:
            con.print(f"saved: {saved}\nreplay: gupharness conform --file {saved}")
    return 0 if result.ok else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import render, render_throughput, run_bench
    from .search import BUG_BUDGET

    if args.seeds < 1:
        raise UsageError("gupharness bench: --seeds must be at least 1")
    if args.list and not args.mutants:
        raise UsageError("gupharness bench: --list goes with --mutants")
    if args.mutants:
        return _bench_mutants(args)
    data = run_bench(args.seeds, args.max_examples or BUG_BUDGET, all_profiles=args.all_profiles, only=args.only)
    con = report.console()
    con.print(render(data))
    con.print(render_throughput(data))
    if args.json_file:
        from .regression import save_json_atomic
        save_json_atomic(args.json_file, data)
        con.print(f"written: {args.json_file}")
    return 0


def _bench_mutants(args: argparse.Namespace) -> int:
    from .mutbench import listing, render, run_mutants
    from .search import BUG_BUDGET

    if args.all_profiles:
        raise UsageError("gupharness bench: --all-profiles does not apply to --mutants")
    if args.list:
        args.only = getattr(args, "only", None)
        return cmd_mutants(args)
    if args.max_examples is not None and args.max_examples < 1:
        raise UsageError("gupharness bench: --max-examples must be at least 1")
    if args.workers < 1:
        raise UsageError("gupharness bench: --workers must be at least 1")
    if args.only is not None and not listing(args.only):
        raise UsageError(f"gupharness bench: no mutant name contains {args.only!r}")
    con = report.console()

    def progress(result: dict[str, Any]) -> None:
        con.print(f"{result['mutant']}: caught {result['caught']}/{result['searches']}"
                  + (f" ({result['error']})" if result["error"] else ""))
        sys.stdout.flush()  # progress shows up even when the output goes to a file

    data = run_mutants(args.seeds, args.max_examples or BUG_BUDGET, only=args.only, workers=args.workers,
                       progress=progress)
    con.print(render(data))
    if args.json_file:
        from .regression import save_json_atomic
        save_json_atomic(args.json_file, data)
        con.print(f"written: {args.json_file}")
    return 0


COMMANDS = {
    "kernels": cmd_kernels,
    "hunt": cmd_hunt,
    "replay": cmd_replay,
    "bisect": cmd_bisect,
    "properties": cmd_properties,
    "conform": cmd_conform,
    "bench": cmd_bench,
    "mutants": cmd_mutants,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
