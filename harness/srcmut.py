"""The source-mutation score: does the test suite fail when the model changes?

`gupharness srcmut FILE... --sample N --seed S` draws N of the generated one-token mutants of
the files (harness/srcmutants.py) reproducibly, and runs pytest once per mutant, in a
subprocess with GUPHARNESS_MUTANT set (so xdist workers and CLI subprocesses run the mutant
too). Each mutant ends as one of:

- killed: pytest failed (a test failed or collection broke); `timeout`: it ran past the
  per-mutant bound (a mutant that makes the model loop), also counted as killed;
- survived: every selected test passed;
- invalid: the mutated module does not compile or import; left out of the score.

Before the mutants, the clean model runs the same selection once: it must pass, and its
time sets the default per-mutant bound. The score is killed / (killed + survived); mutants
listed in an --equivalent file (read and classified by hand: no observable change) are
reported apart and left out of the score's denominator.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from attrs import asdict, frozen

from .mutate import ROOT, mutant_env
from .srcmutants import SourceMutant, SourceMutantError, enumerate_mutants

#: the suite without its from-scratch searches (the `slow` mark): the corpus replay and every test file
DEFAULT_TESTS = "-m 'not slow'"
#: always added: stop at the first failure, model-level tests first (harness/srcmut_order.py) so
#: that a killed mutant stops early, no cache written into the project
FIXED_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "-p", "harness.srcmut_order")
STATUSES = ("killed", "timeout", "survived", "equivalent", "invalid")


class SrcmutError(Exception):
    """Bad input (file, option, equivalence list) or a test selection the clean model fails."""


@frozen
class Outcome:
    name: str
    status: str
    seconds: float
    #: the first failing test, the import error, or the reason it is equivalent
    detail: str = ""
    old: str = ""
    new: str = ""


def sample(files: Sequence[str], n: int | None, seed: int) -> list[SourceMutant]:
    """N mutants drawn without replacement from all of FILES' mutants (all if N is None), in
    source order; the same files, source and seed give the same sample."""
    pool: list[SourceMutant] = []
    for file in files:
        pool += enumerate_mutants(file)
    if n is None or n >= len(pool):
        return pool
    chosen = random.Random(seed).sample(range(len(pool)), n)
    return [pool[i] for i in sorted(chosen)]


def read_equivalent(path: str) -> dict[str, str]:
    """An equivalence list: one `src:...` name per line, then `#` and why it is equivalent."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SrcmutError(f"--equivalent {path}: {exc.strerror}") from None
    listed: dict[str, str] = {}
    for number, row in enumerate(text.splitlines(), 1):
        row = row.strip()
        if not row or row.startswith("#"):
            continue
        name, _, why = row.partition("#")
        if not name.strip().startswith("src:") or not why.strip():
            raise SrcmutError(f"--equivalent {path}:{number}: expected `src:PATH:LINE:COL:OP  # why`")
        listed[name.strip()] = why.strip()
    return listed


def _environment(mutant: str | None) -> dict[str, str]:
    env = mutant_env(mutant, {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")})
    env["CI"] = "true"  # the ci settings profile: derandomized, no example database, same run every time
    return env


def _run(argv: list[str], env: dict[str, str], timeout: float | None) -> tuple[int | None, str, float]:
    """Run in its own process group (so a timeout also ends xdist workers): (status, output, seconds)."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out, time.monotonic() - start
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out, time.monotonic() - start


def _first_failure(output: str) -> str:
    for row in output.splitlines():
        if row.startswith(("FAILED ", "ERROR ")):
            return row[:200]
    rows = [row for row in output.splitlines() if row.strip()]
    return rows[-1][:200] if rows else ""


def pytest_argv(tests: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *FIXED_ARGS, *shlex.split(tests)]


def baseline(tests: str) -> float:
    """Run the selection on the clean model: it must pass. Returns its time."""
    status, out, seconds = _run(pytest_argv(tests), _environment(None), None)
    if status != 0:
        raise SrcmutError(f"the clean model does not pass the selected tests (pytest exit {status}): "
                          f"{_first_failure(out)}")
    return seconds


def run_mutant(mutant: SourceMutant, tests: str, timeout: float) -> Outcome:
    """Run one mutant: invalid if its module does not compile or import, else pytest's verdict."""
    def outcome(status: str, seconds: float, detail: str = "") -> Outcome:
        return Outcome(mutant.name, status, round(seconds, 1), detail, mutant.old, mutant.new)

    try:
        compile(mutant.patch(mutant.file.read_text()), str(mutant.file), "exec", dont_inherit=True)
    except SyntaxError as exc:
        return outcome("invalid", 0.0, f"does not compile: {exc.msg}")
    env = _environment(mutant.name)
    status, out, seconds = _run([sys.executable, "-c", f"import harness, {mutant.module}"], env, 60)
    if status != 0:
        return outcome("invalid", seconds, f"does not import: {_first_failure(out)}")
    status, out, seconds = _run(pytest_argv(tests), env, timeout)
    if status is None:
        return outcome("timeout", seconds, f"pytest ran past {timeout:.0f} s")
    if status == 0:
        return outcome("survived", seconds)
    if status in (4, 5):  # usage error, nothing collected: the selection, not the mutant
        raise SrcmutError(f"pytest exit {status} under {mutant.name}: {_first_failure(out)}")
    return outcome("killed", seconds, _first_failure(out))


def run_all(mutants: Sequence[SourceMutant], tests: str, timeout: float, workers: int,
            equivalent: dict[str, str], done: Callable[[Outcome], None]) -> list[Outcome]:
    """Every mutant, `workers` at a time; survivors listed as equivalent are reported so."""
    def one(mutant: SourceMutant) -> Outcome:
        result = run_mutant(mutant, tests, timeout)
        if result.status == "survived" and mutant.name in equivalent:
            result = Outcome(result.name, "equivalent", result.seconds, equivalent[mutant.name], result.old,
                             result.new)
        done(result)
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, mutants))


def score(outcomes: Sequence[Outcome]) -> dict[str, float | int]:
    counts = Counter(o.status for o in outcomes)
    caught = counts["killed"] + counts["timeout"]
    scored = caught + counts["survived"]
    return {**{s: counts[s] for s in STATUSES}, "total": len(outcomes),
            "score": round(100 * caught / scored, 1) if scored else 0.0}


def render(outcomes: Sequence[Outcome]) -> str:
    figures = score(outcomes)
    lines = [f"{figures['total']} mutants: {figures['killed']} killed, {figures['timeout']} timeout, "
             f"{figures['survived']} survived, {figures['equivalent']} equivalent, {figures['invalid']} invalid",
             f"score: {figures['score']}% of the non-equivalent valid mutants killed"]
    for status in ("survived", "equivalent", "invalid"):
        chosen = [o for o in outcomes if o.status == status]
        if chosen:
            lines.append(f"{status}:")
            lines += [f"  {o.name}  {o.old!r} -> {o.new!r}" + (f"  # {o.detail}" if o.detail else "")
                      for o in chosen]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="Python file(s) of the project to mutate")
    parser.add_argument("--sample", type=int, default=None, help="this many mutants, drawn at random (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default: 0)")
    parser.add_argument("--tests", default=DEFAULT_TESTS,
                        help=f"pytest arguments (added: {' '.join(FIXED_ARGS)}; default: {DEFAULT_TESTS})")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per mutant before it counts as killed (timeout) (default: 3x the clean run + 30)")
    parser.add_argument("--workers", type=int, default=1, help="mutants run at a time (default: 1)")
    parser.add_argument("--equivalent", default=None, metavar="LIST",
                        help="survivors known to be equivalent: lines `src:PATH:LINE:COL:OP  # why`")
    parser.add_argument("--only", action="append", default=None, metavar="NAME",
                        help="run this mutant (repeatable), instead of a sample")
    parser.add_argument("--json", dest="json_file", default=None, help="also write every outcome to this file")
    parser.add_argument("--list", action="store_true", help="list the mutants (or the sample) and stop")
    parser.add_argument("--quiet", "-q", action="store_true", help="no line per mutant on stderr")


def command(args: argparse.Namespace) -> int:
    """`gupharness srcmut`: exit 0 when every valid non-equivalent mutant is killed, 1 otherwise."""
    try:
        return _command(args)
    except SourceMutantError as exc:
        raise SrcmutError(str(exc)) from None


def _command(args: argparse.Namespace) -> int:
    if args.sample is not None and args.sample < 1:
        raise SrcmutError("--sample must be at least 1")
    if args.workers < 1:
        raise SrcmutError("--workers must be at least 1")
    mutants = sample(args.files, args.sample, args.seed)
    if args.only:
        known = {m.name: m for file in args.files for m in enumerate_mutants(file)}
        missing = [name for name in args.only if name not in known]
        if missing:
            raise SrcmutError(f"--only {missing[0]}: no such mutant of {', '.join(args.files)}")
        mutants = [known[name] for name in args.only]
    if args.list:
        for m in mutants:
            print(f"{m.name}  {m.old!r} -> {m.new!r}")
        return 0
    equivalent = read_equivalent(args.equivalent) if args.equivalent else {}
    if args.json_file:
        target = Path(args.json_file)
        if not target.parent.is_dir():
            raise SrcmutError(f"--json {args.json_file}: no such directory {target.parent}")
    clean = baseline(args.tests)
    timeout = args.timeout if args.timeout is not None else 3 * clean + 30
    if not args.quiet:
        print(f"srcmut: {len(mutants)} mutants; clean run {clean:.0f} s, bound {timeout:.0f} s per mutant",
              file=sys.stderr, flush=True)
    finished = [0]

    def done(o: Outcome) -> None:
        finished[0] += 1
        if not args.quiet:
            print(f"[{finished[0]}/{len(mutants)}] {o.status:<10} {o.seconds:6.1f}s {o.name}  {o.old!r} -> {o.new!r}"
                  + (f"  {o.detail}" if o.detail else ""), file=sys.stderr, flush=True)

    outcomes = run_all(mutants, args.tests, timeout, args.workers, equivalent, done)
    print(render(outcomes))
    if args.json_file:
        Path(args.json_file).write_text(json.dumps({
            "files": args.files, "sample": args.sample, "seed": args.seed, "tests": args.tests,
            "timeout": timeout, "clean_seconds": round(clean, 1), **score(outcomes),
            "outcomes": [asdict(o) for o in outcomes]}, indent=2) + "\n")
    return 0 if score(outcomes)["survived"] == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m harness.srcmut`: the same as `gupharness srcmut`."""
    parser = argparse.ArgumentParser(prog="gupharness srcmut", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return command(args)
    except SrcmutError as exc:
        print(f"gupharness srcmut: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gupharness srcmut: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
