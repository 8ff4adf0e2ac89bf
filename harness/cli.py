"""gupharness: the command line.

Exit status: 0 = every property holds / every recorded expectation is met; 1 = a property
fails or an expectation is violated (a counterexample was found); 2 = bad input or usage,
with one line on stderr saying what and where.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.markup import escape

from properties.registry import UnknownProperty

from . import report
from .model.kernels import PROFILE_NAMES, PROFILES, SWITCHES, TIMELINE, UnknownProfile, changes_between, get_profile
from .mutate import ENV as MUTANT_ENV
from .mutate import MutantError, installed
from .progress import shown
from .regression import Regression, RegressionError


class UsageError(Exception):
    """Bad input or usage: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="no progress bar on stderr (none is shown when stderr is not a terminal either)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gupharness", description="Property-based regression harness for get_user_pages.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    kernels = sub.add_parser("kernels", help="list the kernel profiles and their switches")
    kernels.add_argument("--verbose", "-v", action="store_true", help="show what each step of the timeline changes")
    kernels.add_argument("--json", action="store_true")
    kernels.add_argument("--markdown", action="store_true", help="the switch table, as the README carries it")

    hunt = sub.add_parser("hunt", help="search for a counterexample on one kernel profile")
    hunt.add_argument("--kernel", required=True, help="profile name (see `gupharness kernels`), or `live`: "
                      "the running kernel, through the oracle")
    hunt.add_argument("--property", action="append", dest="properties", help="only this property (repeatable)")
    hunt.add_argument("--max-examples", type=int, default=1000)
    hunt.add_argument("--seed", type=int, default=None)
    hunt.add_argument("--no-save", action="store_true", help="do not write the counterexample to regressions/pending")
    hunt.add_argument("--root", default=".", help="project root holding regressions/ (default: .)")
    hunt.add_argument("--new", action="store_true", help="set aside failures a corpus file explains and keep "
                      "searching; report only new ones, each shrunk separately")
    hunt.add_argument("--json", action="store_true")
    _add_quiet(hunt)
    hunt.add_argument("--mutant", default=None, help="search the model with this source mutant applied "
                      "(see `gupharness mutants`); nothing is saved")

    replay = sub.add_parser("replay", help="run regression files and check their expectations")
    replay.add_argument("files", nargs="+")
    replay.add_argument("--kernel", default=None, help="a profile name, or 'all'; checks every property there "
                        "(default: the file's recorded expectation on every profile); 'live': every "
                        "live-checkable property on the running kernel")
    replay.add_argument("--trace", action="store_true", help="render each run step by step")
    replay.add_argument("--update", action="store_true", help="first rewrite each file's outcome snapshot with "
                        "what the model does now (printing what changed), then replay")
    replay.add_argument("--no-variants", action="store_true",
                        help="do not also run each call through the other entry points that can make it")
    replay.add_argument("--json", action="store_true")
    replay.add_argument("--tap", action="store_true", help="KTAP output (one test per file and profile), for "
                        "kernel CI systems")

    expect = sub.add_parser("expect", help="recompute regression files' per-profile expectations and snapshots")
    expect.add_argument("files", nargs="+")
    expect.add_argument("--update", action="store_true", help="write the recomputed expectations and snapshot "
                        "(default: only print what would change; exit 1 if anything would)")

    bisect = sub.add_parser("bisect", help="find where on the timeline a regression file's verdict changes")
    bisect.add_argument("file")
    bisect.add_argument("--property", default=None, help="bisect this property (default: any property)")
    bisect.add_argument("--json", action="store_true")

    conform = sub.add_parser("conform", help="compare the model (the profile for the running release) with the running kernel")
    conform.add_argument("--examples", type=int, default=200)
    conform.add_argument("--seed", type=int, default=None)
    conform.add_argument("--file", action="append", dest="files", default=[],
                         help="compare these regression files' scenarios instead of searching (repeatable)")
    conform.add_argument("--no-save", action="store_true", help="do not write a mismatch to regressions/pending")
    conform.add_argument("--root", default=".", help="project root holding regressions/ (default: .)")
    conform.add_argument("--crutches", action="store_true",
                         help="run the scenario on one CPU and drain its LRU batches before each op (the model "
                              "then allows one outcome per step)")
    conform.add_argument("--json", action="store_true")
    _add_quiet(conform)

    bench = sub.add_parser("bench", help="how reliably and fast the search finds each catalogued bug")
    bench.add_argument("--seeds", type=int, default=20)
    bench.add_argument("--max-examples", type=int, default=None, help="budget per search (default: the bug budget)")
    bench.add_argument("--all-profiles", action="store_true", help="every failing profile, not the first per bug")
    bench.add_argument("--only", default=None, help="only regression files whose name contains this")
    bench.add_argument("--json", dest="json_file", default=None, help="also write the results to this file")
    bench.add_argument("--mutants", action="store_true", help="the mutation benchmark: how many of the model's "
                       "source mutants the search catches (see `gupharness mutants`)")
    bench.add_argument("--list", action="store_true", help="with --mutants: list the mutants and their diffs")
    bench.add_argument("--workers", type=int, default=None,
                       help="searches at a time, each in its own process (default: 1; with --mutants: 2 mutants)")
    _add_quiet(bench)

    mutants = sub.add_parser("mutants", help="list the model's source mutants (the mutation benchmark)")
    mutants.add_argument("--only", default=None, help="only mutants whose name contains this")

    from .srcmut import add_arguments as add_srcmut_arguments
    srcmut = sub.add_parser("srcmut", help="the source-mutation score: how many one-token mutants of a file "
                            "make pytest fail")
    add_srcmut_arguments(srcmut)

    explore = sub.add_parser("explore", help="check every scenario of a bounded scope, shortest first")
    explore.add_argument("--kernel", required=True, help="profile name (see `gupharness kernels`)")
    explore.add_argument("--scope", choices=("ci", "wide", "thorough"), default="ci",
                         help="the layout and op vocabulary (ci: 1-page anon/file layouts, pin/get_user_pages, "
                              "depth 2; wide: every layout kind (driver mappings, CMA) and call (GUP-fast, io_uring, "
                              "vmsplice, failing slab, overflowing repeats), depth 2; thorough: private normal "
                              "memory, depth 4. Every catalogued bug fits one of them)")
    explore.add_argument("--depth", type=int, default=None, help="operations per scenario (default: the scope's)")
    explore.add_argument("--pages", type=int, default=None, help="pages in the VMA (default: the scope's)")
    explore.add_argument("--property", action="append", dest="properties", help="only this property (repeatable)")
    explore.add_argument("--max-runs", type=int, default=None, help="stop after this many scenario runs")
    explore.add_argument("--no-save", action="store_true", help="do not write the counterexample to regressions/pending")
    explore.add_argument("--root", default=".", help="project root holding regressions/ (default: .)")
    explore.add_argument("--json", action="store_true")
    _add_quiet(explore)
    export = sub.add_parser("export", help="write a regression file as a standalone C reproducer (kselftest style)")
    export.add_argument("file")
    export.add_argument("--format", default="c", choices=("c",), help="output format (only c)")
    export.add_argument("-o", "--output", default=None, help="write here instead of to stdout")

    stats = sub.add_parser("stats", help="how often generated scenarios contain each interaction family")
    stats.add_argument("--kernel", default="mainline", help="profile to generate for and run on (default: mainline)")
    stats.add_argument("--examples", type=int, default=2000)
    stats.add_argument("--seed", type=int, default=0)
    stats.add_argument("--json", action="store_true")

    properties = sub.add_parser("properties", help="list the properties")
    properties.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Every way it can end is an exit status, never a traceback: 2 with one
    line on stderr for bad input, 130 for Ctrl-C, a quiet exit when the reader of stdout went away."""
    from .profiles import SettingsProfileError, keep_hypothesis_files_out_of_cwd, register

    try:
        keep_hypothesis_files_out_of_cwd()
        register()
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        code = COMMANDS[args.command](args)
        # what is still buffered is written here, so a reader that went away after the last
        # write meets the handler below, not Python's flush at exit (exit status 120)
        sys.stdout.flush()
        return code
    except UsageError as exc:
        return _bad_input(str(exc))
    except (UnknownProfile, UnknownProperty, RegressionError, SettingsProfileError, MutantError) as exc:
        return _bad_input(f"gupharness: {exc}")
    except KeyboardInterrupt:
        print("gupharness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `gupharness ... | head`: the reader has gone; say nothing more, and keep Python's own
        # flush at exit from raising again on the closed pipe
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _bad_input(message: str) -> int:
    print(message.splitlines()[0] if message else "gupharness: bad input", file=sys.stderr)
    return 2


def writable_file(path: str, command: str, option: str) -> Path:
    """Check before a long run that `path` can be written, so the run's results are not lost."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"gupharness {command}: {option} {path}: is a directory")
    if not parent.is_dir():
        raise UsageError(f"gupharness {command}: {option} {path}: no such directory {parent}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"gupharness {command}: {option} {path}: directory {parent} is not writable")
    return target


def writable_root(root: str, command: str) -> Path:
    """--root must be a directory where regressions/pending can be created."""
    path = Path(root)
    if not path.is_dir():
        raise UsageError(f"gupharness {command}: --root {root}: not a directory")
    pending = path / "regressions" / "pending"
    existing = next(p for p in (pending, pending.parent, path) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise UsageError(f"gupharness {command}: --root {root}: {existing} is not a writable directory")
    return path


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
                                                             "summary": s.summary, "source": s.source}
                                                         for n, s in SWITCHES.items()}},
                         indent=2))
        return 0
    if args.markdown:
        sys.stdout.write(report.switches_markdown())
        return 0
    report.console().print(report.timeline_table(verbose=args.verbose))
    return 0


def cmd_properties(args: argparse.Namespace) -> int:
    from properties import PROPERTIES

    from .live import capability
    if args.json:
        print(json.dumps({p.name: p.doc.strip() for p in PROPERTIES.values()}, indent=2))
        return 0
    con = report.console()
    for prop in PROPERTIES.values():
        live = capability(prop.name)
        con.print(f"[bold]{prop.name}[/bold]: {escape(prop.doc.strip())}\n"
                  f"[dim]live: {live.capability} — {escape(live.how)}[/dim]\n")
    checkable = sum(capability(name).checkable for name in PROPERTIES)
    con.print(f"checkable on the live kernel (gupharness hunt --kernel live): {checkable} of {len(PROPERTIES)}")
    return 0


def cmd_hunt(args: argparse.Namespace) -> int:
    from properties import get_property

    if args.kernel == "live":
        from .live.cli import cmd_hunt_live
        return cmd_hunt_live(args)

    from .known import KnownFailures
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
    if not args.no_save and args.mutant is None:
        writable_root(args.root, "hunt")
    known = KnownFailures.from_directory(profile, Path(args.root) / "regressions")
    found_by = f"gupharness hunt --kernel {profile.name}" + (f" --seed {args.seed}" if args.seed is not None else "")
    with shown(f"hunt {profile.name}", args.quiet) as progress:
        if args.new:
            result = search(profile, args.properties, max_examples=args.max_examples, seed=args.seed,
                            known=known, set_aside_known=True, progress=progress)
        else:
            # stop at the first failure as always; then say whether the corpus already explains it
            result = search(profile, args.properties, max_examples=args.max_examples, seed=args.seed,
                            progress=progress)
    findings = result.findings
    if not args.new:
        for finding in findings:
            finding.explained = {k: v for k, v in known.explain(finding.counterexample, finding.failures).items()
                                 if v is not None}
    saved: list[Path | None] = []
    for finding in findings:
        if finding.new and not args.no_save and args.mutant is None:  # a mutant's finding is not the kernel's
            saved.append(save_counterexample(args.root, finding.counterexample, profile.name, finding.failures,
                                             found_by + (" --new" if args.new else "")))
        else:
            saved.append(None)  # known: the corpus file that explains it is the record
    new = [f for f in findings if f.new]
    set_aside = {prop: sorted(str(p) for p in paths) for prop, paths in result.set_aside_by.items()}
    if args.json:
        from .serialize import to_data
        print(json.dumps({
            "kernel": profile.name,
            "mutant": args.mutant,
            "properties": list(result.properties),
            "examples": result.examples,
            "examples_to_failure": result.examples_to_failure if result.counterexample else None,
            "replayed": result.replayed,
            "seconds": round(result.seconds, 3),
            "failures": result.failures,
            "counterexample": to_data(result.counterexample) if result.counterexample else None,
            "saved": str(saved[0]) if saved and saved[0] else None,
            "findings": [{"failures": f.failures, "new": f.new,
                          "explained_by": {k: str(v) for k, v in f.explained.items()},
                          "why_new": {k: known.why_new(f.counterexample, k) for k in f.failures
                                      if k not in f.explained},
                          "counterexample": to_data(f.counterexample), "saved": str(path) if path else None}
                         for f, path in zip(findings, saved)],
            "set_aside": result.set_aside,
            "set_aside_by": set_aside,
        }, indent=2))
        return 1 if new or (findings and not args.new) else 0
    con = report.console()
    patched = installed()
    if patched is not None:
        con.print(f"[bold]model patched by mutant {patched.name}[/bold] (nothing is saved)")
    if args.new:
        aside = "; ".join(f"{prop}: {', '.join(paths)}" for prop, paths in set_aside.items())
        con.print(f"set aside {result.set_aside} example(s) failing only as the corpus records"
                  + (f" ({escape(aside)})" if aside else ""))
    if not findings:
        what = "no new failure" if args.new else "no counterexample"
        con.print(f"[green]{what}[/green] on {profile.name} after {result.examples} examples "
                  f"({result.seconds:.2f} s): {escape(', '.join(result.properties))} hold"
                  + (" apart from known failures" if args.new and result.set_aside else ""))
        return 0
    for finding, path in zip(findings, saved):
        title = None if finding.new else f"known failure on {profile.name}"
        con.print(report.counterexample(finding.run, finding.failures, title=title))
        for prop in finding.failures:
            if prop in finding.explained:
                con.print(f"{prop}: already explained by {escape(str(finding.explained[prop]))}")
            elif args.new:
                con.print(f"{prop}: new: {escape(known.why_new(finding.counterexample, prop))}")
        if path is not None:
            con.print(f"saved: {escape(str(path))}\n"
                      f"replay: gupharness replay {escape(str(path))} --kernel {profile.name} --trace")
        elif not finding.new:
            con.print(f"not saved (known); gupharness hunt --kernel {profile.name} --new looks past it")
    found = ("replayed from the example database (a failure an earlier search saved)" if result.replayed
             else f"found after {result.examples_to_failure} examples")
    con.print(f"{found}, shrunk in {result.examples} examples ({result.seconds:.2f} s)")
    return 1 if new or not args.new else 0


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


def cmd_srcmut(args: argparse.Namespace) -> int:
    from .srcmut import SrcmutError, command
    try:
        return command(args)
    except SrcmutError as exc:
        raise UsageError(f"gupharness srcmut: {exc}") from None


def cmd_replay(args: argparse.Namespace) -> int:
    from .regression import behaviour_change, check, load, snapshot_changes, with_snapshot
    from .snapshot import grouped
    from .tap import TapResult, ktap
    from .variants import VariantVerdict, check_variants

    if args.kernel == "live":
        from .live.cli import cmd_replay_live
        return cmd_replay_live(args)
    regs = [(path, load(path)) for path in args.files]  # every file is validated before anything runs
    if args.kernel is not None and args.kernel != "all":
        get_profile(args.kernel)
    if args.update and args.kernel is not None:
        raise UsageError("gupharness replay: --update records every profile; leave out --kernel")
    con = report.console()
    if args.update:
        regs = _update_files(regs, with_snapshot, lambda old, new: snapshot_changes(old, new.snapshot or {}),
                             quiet=args.json or args.tap)
    out = []
    tap: list[TapResult] = []
    quiet = args.json or args.tap
    variant_runs: list[tuple[str, list[VariantVerdict]]] = []
    for path, reg in regs:
        if reg.snapshot is None and not quiet:
            con.print(f"[dim]no snapshot[/dim] {escape(path)}: behaviour not checked "
                      f"(gupharness replay --update {escape(path)} records one)")
        profiles = PROFILE_NAMES if args.kernel in (None, "all") else (args.kernel,)
        changes: dict[str, list[str]] = {}
        for profile in profiles:
            expected = reg.expected_failures(profile) if args.kernel is None else frozenset()
            verdict = check(reg.scenario, profile, expected)
            changed = behaviour_change(reg, profile, verdict.run)
            changes[profile] = changed or []
            ok = verdict.ok and not changed
            if not args.no_variants and not verdict.not_applicable:
                variant_runs.append((path, check_variants(reg.scenario, profile, set(verdict.failures))))
            out.append({"file": path, "kernel": profile, "ok": ok, "failures": verdict.failures,
                        "expected_failures": sorted(expected), "not_applicable": verdict.not_applicable,
                        "behaviour_change": changed})
            diagnostic = "\n".join(([verdict.explain()] if not verdict.ok else [])
                                   + [f"behaviour changed: {line}" for line in changed or []])
            tap.append(TapResult(f"{path}::{profile}", ok, skip=verdict.not_applicable, diagnostic=diagnostic))
            if quiet:
                continue
            if verdict.not_applicable:
                con.print(f"[dim]n/a[/dim] {escape(f'{path} on {profile}: {verdict.not_applicable}')}")
                continue
            mark = "[green]ok[/green]" if verdict.ok else "[red]FAIL[/red]"
            what = ", ".join(f"{k} fails" for k in verdict.failures) or "all properties hold"
            expectation = "" if args.kernel is not None else f" (expected: {', '.join(sorted(expected)) or 'all hold'})"
            con.print(f"{mark} {escape(f'{path} on {profile}: {what}{expectation}')}")
            if not verdict.ok and args.kernel is None:
                con.print(escape(f"    {verdict.explain()}"))
            if args.trace:
                con.print(report.trace_view(verdict.run))
                if verdict.failures:
                    con.print(report.counterexample(verdict.run, verdict.failures))
        for label, lines in grouped(changes):
            if quiet:
                break
            con.print(f"[red]CHANGED[/red] {escape(f'{path} on {label}')}: the model now does something else, "
                      f"though the recorded expectations may still hold")
            for line in lines:
                con.print(f"    {escape(line)}")
            con.print(f"    accept deliberately with: gupharness replay --update {escape(path)}")
    if not args.no_variants:
        tap += _report_variants(variant_runs, out, None if quiet else con)
    passed = sum(1 for r in tap if r.ok and not r.skip)
    skipped = sum(1 for r in tap if r.skip)
    failed = len(tap) - passed - skipped
    if args.json:
        print(json.dumps(out, indent=2))
    elif args.tap:
        print(ktap(tap), end="")
    else:
        # not applicable is neither a pass nor a failure: counted on its own
        con.print(f"replay: {passed} passed, {failed} failed, {skipped} skipped (not applicable)")
    return 1 if failed else 0


def _update_files(regs: list[tuple[str, Regression]], update: Callable[[Regression], Regression],
                  changes: Callable[[Regression, Regression], list[str]], *, quiet: bool = False
                  ) -> list[tuple[str, Regression]]:
    """Recompute every file first, then write each atomically (a bad or unwritable file
    leaves the others as they were up to that point and never a half-written file)."""
    from .regression import dumps, write_atomic

    con = report.console(stderr=quiet)
    updated = [(path, reg, update(reg)) for path, reg in regs]
    for path, old, new in updated:
        lines = changes(old, new)
        if not lines:
            con.print(f"unchanged {escape(path)}")
            continue
        try:
            write_atomic(path, dumps(new))
        except OSError as exc:
            raise UsageError(f"gupharness: {path}: cannot write: {exc.strerror}") from None
        con.print(f"updated {escape(path)}: {len(lines)} change(s)")
        for line in lines:
            con.print(f"    {escape(line)}")
    return [(path, new) for path, _old, new in updated]


def cmd_expect(args: argparse.Namespace) -> int:
    from .regression import expectation_changes, load, with_expectations

    regs = [(path, load(path)) for path in args.files]
    if args.update:
        _update_files(regs, with_expectations, expectation_changes)
        return 0
    con = report.console()
    pending = False
    for path, reg in regs:
        lines = expectation_changes(reg, with_expectations(reg))
        pending |= bool(lines)
        con.print(f"{'would change' if lines else 'up to date'} {escape(path)}"
                  + (f": {len(lines)} change(s)" if lines else ""))
        for line in lines:
            con.print(f"    {escape(line)}")
    if pending:
        con.print("write them with: gupharness expect --update FILE...")
    return 1 if pending else 0


def _report_variants(runs: list[tuple[str, list[Any]]], out: list[dict[str, Any]], con: Any) -> list[Any]:
    """The entry-point variants section of `replay`: one failed result per variant that fails a
    property its original satisfies on the same profile (a counterexample no file records, so
    the exit status is 1)."""
    from .tap import TapResult

    total = sum(1 for _path, verdicts in runs for v in verdicts if not v.not_applicable)
    bad = [(path, v) for path, verdicts in runs for v in verdicts if v.new_failures]
    results = []
    for path, v in bad:
        out.append({"file": path, "kernel": v.profile, "variant": v.variant.label, "ok": False,
                    "failures": sorted(v.failures), "new_failures": list(v.new_failures)})
        why = "; ".join(f"{name} fails where the original holds: {v.failures[name]}" for name in v.new_failures)
        results.append(TapResult(f"{path}::{v.profile}::variant {v.variant.label}", False, diagnostic=why))
    if con is not None and runs:
        con.print(f"[bold]entry-point variants[/bold] (each call through every other entry point that can make it): "
                  f"{total} runs")
        for path, v in bad:
            for name in v.new_failures:
                con.print("[red]VARIANT FAILS[/red] " + escape(f"{path} on {v.profile}: {v.variant.label}: {name} "
                                                              f"fails where the original holds: {v.failures[name]}"))
        if not bad:
            con.print("[green]ok[/green] every variant holds wherever its original does")
    return results


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
    from .conform import PROFILE, compare, conform, render_comparison, render_report
    from .oracle import availability
    from .regression import load, save_counterexample

    regs = [(path, load(path)) for path in args.files]
    if args.examples < 1:
        raise UsageError("gupharness conform: --examples must be at least 1")
    if not args.no_save and not regs:
        writable_root(args.root, "conform")
    avail = availability()
    if not avail.ok:
        raise UsageError(f"gupharness conform: the live kernel cannot be observed here: {avail.reason}")
    con = report.console()
    if regs:
        failed = False
        out = []
        for path, reg in regs:
            comparison = compare(reg.scenario, crutches=args.crutches)  # one file is quick: no progress
            failed |= not comparison.agree
            out.append({"file": path, **comparison.to_json()})
            if not args.json:
                con.print(render_comparison(comparison))
        if args.json:
            print(json.dumps(out, indent=2))
        return 1 if failed else 0
    with shown("conform", args.quiet) as progress:
        result = conform(args.examples, args.seed, progress=progress, crutches=args.crutches)
    saved = None
    if result.mismatch is not None and not args.no_save:
        saved = save_counterexample(args.root, result.mismatch.scenario, PROFILE,
                                    {"conform": result.mismatch.first_mismatch or "model and kernel disagree"},
                                    "gupharness conform", live=True)
    if args.json:
        data = result.to_json()
        data["saved"] = str(saved) if saved else None
        print(json.dumps(data, indent=2))
    else:
        con.print(render_report(result))
        if saved is not None:
            con.print(escape(f"saved: {saved}\nreplay: gupharness conform --file {saved}"))
    return 0 if result.ok else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import render, render_speed, run_bench
    from .search import BUG_BUDGET

    if args.seeds < 1:
        raise UsageError("gupharness bench: --seeds must be at least 1")
    if args.list and not args.mutants:
        raise UsageError("gupharness bench: --list goes with --mutants")
    if args.mutants:
        return _bench_mutants(args)
    if args.max_examples is not None and args.max_examples < 1:
        raise UsageError("gupharness bench: --max-examples must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise UsageError("gupharness bench: --workers must be at least 1")
    if args.json_file:
        writable_file(args.json_file, "bench", "--json")
    if args.only is not None:
        from .bench import bugs
        if not any(args.only in path.name for path, _profile, _prop in bugs("regressions", args.all_profiles)):
            raise UsageError(f"gupharness bench: --only {args.only}: no catalogued bug's file name contains it")
    with shown("bench", args.quiet) as progress:
        data = run_bench(args.seeds, args.max_examples or BUG_BUDGET, all_profiles=args.all_profiles, only=args.only,
                         progress=progress, workers=args.workers or 1)
    con = report.console()
    con.print(render(data))
    con.print(render_speed(data))
    if args.json_file:
        from .regression import save_json_atomic
        save_json_atomic(args.json_file, data)
        con.print(escape(f"written: {args.json_file}"))
    return 0


def cmd_explore(args: argparse.Namespace) -> int:
    import attrs as _attrs

    from properties import get_property

    from .explore import SCOPES, Level, explore
    from .regression import save_counterexample
    from .serialize import to_data

    profile = get_profile(args.kernel)
    for name in args.properties or ():
        get_property(name)
    scope = SCOPES[args.scope]
    if args.depth is not None:
        if not 1 <= args.depth <= 8:
            raise UsageError("gupharness explore: --depth must be between 1 and 8")
        scope = _attrs.evolve(scope, depth=args.depth)
    if args.pages is not None:
        if not 1 <= args.pages <= 4:
            raise UsageError("gupharness explore: --pages must be between 1 and 4")
        scope = _attrs.evolve(scope, pages=args.pages)
    if args.max_runs is not None and args.max_runs < 1:
        raise UsageError("gupharness explore: --max-runs must be at least 1")
    if not args.no_save:
        writable_root(args.root, "explore")
    with shown(f"explore {profile.name}", args.quiet) as progress:
        def level_done(level: Level) -> None:
            progress(level.depth, scope.depth, f"depth {level.depth}: {level.runs} runs")

        result = explore(profile, scope, args.properties, max_runs=args.max_runs, progress=level_done)
    saved = None
    if result.counterexample is not None and not args.no_save:
        saved = save_counterexample(args.root, result.counterexample, profile.name, result.failures,
                                    f"gupharness explore --kernel {profile.name} --scope {args.scope}"
                                    f" --depth {scope.depth}")
    if args.json:
        print(json.dumps({
            "kernel": profile.name, "scope": scope.describe(), "properties": list(result.properties),
            "runs": result.runs, "states": result.states, "seconds": round(result.seconds, 3),
            "complete": result.complete,
            "levels": [_attrs.asdict(level) for level in result.levels],
            "failures": result.failures,
            "counterexample": to_data(result.counterexample) if result.counterexample else None,
            "saved": str(saved) if saved else None,
        }, indent=2))
        return 1 if result.counterexample else 0
    con = report.console()
    con.print(escape(f"scope: {scope.describe()}"))
    for level in result.levels:
        con.print(f"depth {level.depth}: {level.runs} scenarios run, {level.states} new distinct states "
                  f"({level.seconds:.2f} s)")
    con.print(f"{result.runs} scenarios run, {result.states} distinct states, {result.seconds:.2f} s")
    if result.counterexample is None or result.run is None:
        if result.complete:
            con.print(f"[green]no violation within scope[/green] on {profile.name}: "
                      f"{escape(', '.join(result.properties))} hold for every scenario of the scope")
        else:
            con.print(f"[yellow]stopped after {result.runs} runs[/yellow] (--max-runs): nothing proved")
        return 0
    con.print(report.counterexample(result.run, result.failures,
                                    title=f"minimal counterexample on {profile.name} "
                                          f"({len(result.counterexample.ops)} ops)"))
    if saved is not None:
        con.print(escape(f"saved: {saved}\nreplay: gupharness replay {saved} --kernel {profile.name} --trace"))
    return 1


def cmd_export(args: argparse.Namespace) -> int:
    from .export import ExportError, export_c
    from .regression import load

    reg = load(args.file)
    if args.output is not None:
        writable_file(args.output, "export", "-o")
    try:
        text = export_c(reg, args.file)
    except ExportError as exc:
        raise UsageError(f"gupharness export: {args.file}: {exc}") from None
    if args.output is None:
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .stats import collect, render

    profile = get_profile(args.kernel)
    if args.examples < 1:
        raise UsageError("gupharness stats: --examples must be at least 1")
    data = collect(profile, args.examples, args.seed)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        report.console().print(render(data))
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
    if args.workers is None:
        args.workers = 2
    if args.workers < 1:
        raise UsageError("gupharness bench: --workers must be at least 1")
    if args.only is not None and not listing(args.only):
        raise UsageError(f"gupharness bench: no mutant name contains {args.only!r}")
    con = report.console()
    from .mutants import MUTANTS
    total = sum(1 for name in MUTANTS if args.only is None or args.only in name)
    done: list[dict[str, Any]] = []

    with shown("bench --mutants", args.quiet) as bar:
        def progress(result: dict[str, Any]) -> None:
            done.append(result)
            bar(len(done), total, f"{result['mutant']} done")
            con.print(f"{result['mutant']}: caught {result['caught']}/{result['searches']}"
                      + (f" ({result['error']})" if result["error"] else ""))
            sys.stdout.flush()  # the per-mutant lines show up even when the output goes to a file

        data = run_mutants(args.seeds, args.max_examples or BUG_BUDGET, only=args.only, workers=args.workers,
                           progress=progress)
    con.print(render(data))
    if args.json_file:
        from .regression import save_json_atomic
        save_json_atomic(args.json_file, data)
        con.print(f"written: {args.json_file}")
    return 0


COMMANDS = {
    "srcmut": cmd_srcmut,
    "kernels": cmd_kernels,
    "hunt": cmd_hunt,
    "replay": cmd_replay,
    "expect": cmd_expect,
    "bisect": cmd_bisect,
    "properties": cmd_properties,
    "conform": cmd_conform,
    "bench": cmd_bench,
    "explore": cmd_explore,
    "export": cmd_export,
    "stats": cmd_stats,
    "mutants": cmd_mutants,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
