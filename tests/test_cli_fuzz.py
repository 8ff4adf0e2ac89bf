"""Fuzz the real command line in-process with bad and odd input: every way `main()` ends is an
exit status (0, 1 or 2), never an exception, and status 2 comes with exactly one line on stderr.

Search commands only ever get tiny budgets (or a bad argument that stops them before any
work), so no example starts a long search. The number of examples is GUPHARNESS_FUZZ_EXAMPLES
(default 200; the issue's acceptance run is 10,000)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED_FILES = sorted((ROOT / "regressions").glob("*.json"))
EXAMPLES = int(os.environ.get("GUPHARNESS_FUZZ_EXAMPLES", "200"))

#: A scratch directory shared by every example: files are written under fresh names.
_SCRATCH = Path(tempfile.gettempdir()) / f"gupharness-fuzz-{os.getpid()}"  # made by _in_scratch

ODD_TEXT = st.sampled_from(["", " ", "-", "--", "nomatch", "v9.99", "mainline ", "MAINLINE", "../..", "\x00",
                            "é", "a" * 300, "all", "default", "-1"])
ODD_INT = st.sampled_from(["-1", "0", "1", "-0", "x", "1.5", "", "99999999999999999999999", "0x10", " 2"])
#: Budgets that cannot start a long search: refused, or one example.
TINY = st.sampled_from(["-1", "0", "1", "x", "", "1.5"])
KERNEL = st.one_of(st.sampled_from(["mainline", "v4.8", "v5.7", "v6.1"]), ODD_TEXT)
PROPERTY = st.one_of(st.sampled_from(["zero_page_never_pinned_writable"]), ODD_TEXT)
BAD_PATH = st.sampled_from(["/nonexistent-dir/x.json", "/", "/dev/null", "/proc/self/status", "", "."])


def _json_leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON tree (containers included), so any field can be replaced."""
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _json_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _json_leaves(item, (*path, index))
    return paths


def _replace(tree: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    tree[path[0]] = _replace(tree[path[0]], path[1:], new)
    return tree


WRONG_VALUES = st.sampled_from([None, True, -1, 0, 10**12, 2**64, 1.5, "", "x", "unknown_op", [], {}, [None],
                                {"op": "no_such_op"}, "FOLL_NOPE", ["FOLL_WRITE", 3], "rwx!"])


@st.composite
def regression_bytes(draw: st.DrawFn) -> bytes:
    """A regression file: a corpus file with one field made wrong, truncated, or not text at all."""
    base = json.loads(draw(st.sampled_from(SEED_FILES)).read_text())
    kind = draw(st.sampled_from(["field", "field", "field", "delete", "truncate", "binary", "empty", "huge",
                                 "not-object", "valid"]))
    if kind == "field":
        paths = _json_leaves(base)
        base = _replace(base, draw(st.sampled_from(paths)), draw(WRONG_VALUES))
    elif kind == "delete":
        paths = [p for p in _json_leaves(base) if p]
        path = draw(st.sampled_from(paths))
        parent = base
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
    text = json.dumps(base, indent=1)
    if kind == "truncate":
        return text.encode()[: draw(st.integers(0, len(text) - 1))]
    if kind == "binary":
        return b"\xff\xfe" + text.encode()[:50]
    if kind == "empty":
        return b""
    if kind == "huge":
        return b" " * (3 << 20)
    if kind == "not-object":
        return draw(st.sampled_from([b"[]", b"1", b"null", b'"x"', b"{", b"\x00"]))
    return text.encode()


@st.composite
def file_arg(draw: st.DrawFn) -> str:
    """A path to a generated regression file, or a path that is no file at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(BAD_PATH)
    path = _SCRATCH / f"f{draw(st.integers(0, 20))}.json"  # a few names, rewritten: the scratch stays small
    path.write_bytes(draw(regression_bytes()))
    return str(path)


def _opt(draw: st.DrawFn, name: str, values: st.SearchStrategy[str]) -> list[str]:
    return [name, draw(values)] if draw(st.booleans()) else []


def _flags(draw: st.DrawFn, *names: str) -> list[str]:
    return [name for name in names if draw(st.booleans())]


@st.composite
def argv(draw: st.DrawFn) -> list[str]:
    """One command line: a subcommand with odd values for its options (or no subcommand at all)."""
    root = st.sampled_from(["/nonexistent-dir", "/dev/null", "", str(_SCRATCH)])
    command = draw(st.sampled_from(["kernels", "properties", "hunt", "replay", "expect", "bisect", "conform",
                                    "bench", "mutants", "explore", "export", "stats", "", "nosuch"]))
    args: list[str] = [command] if command else []
    if command == "kernels":
        args += _flags(draw, "--verbose", "--json", "--markdown")
    elif command == "properties":
        args += _flags(draw, "--json")
    elif command == "hunt":
        args += ["--kernel", draw(KERNEL), "--max-examples", draw(TINY), "--root", draw(root)]
        args += _opt(draw, "--property", PROPERTY) + _opt(draw, "--seed", ODD_INT)
        args += _opt(draw, "--mutant", ODD_TEXT) + _flags(draw, "--json", "--no-save")
    elif command == "replay":
        args += [draw(file_arg()) for _ in range(draw(st.integers(1, 2)))]
        args += _opt(draw, "--kernel", KERNEL) + _flags(draw, "--trace", "--json", "--tap", "--no-variants",
                                                        "--update")
    elif command == "expect":
        args += [draw(file_arg())] + _flags(draw, "--update")
    elif command == "bisect":
        args += [draw(file_arg())] + _opt(draw, "--property", PROPERTY) + _flags(draw, "--json")
    elif command == "conform":
        # the live kernel: only refused budgets, so the oracle is never started
        args += ["--examples", draw(st.sampled_from(["-1", "x", ""])), "--root", draw(root)]
        args += ["--file", draw(file_arg())] + _flags(draw, "--json", "--no-save")
    elif command == "bench":
        # never a valid combination: a refused budget or seed count, or a bug name that matches nothing
        bad = draw(st.sampled_from([["--max-examples", draw(TINY.filter(lambda v: v != "1"))],
                                    ["--seeds", draw(st.sampled_from(["-1", "0", "x"]))],
                                    ["--only", "no-such-bug"], ["--workers", "-1", "--mutants", "--only", "nomatch"],
                                    ["--json", draw(st.sampled_from(["/nonexistent-dir/x.json", "/", "."]))]]))
        args += bad + ["--seeds", "1"] * (("--seeds" not in bad) and draw(st.booleans()))
        args += _flags(draw, "--all-profiles")
    elif command == "mutants":
        args += _opt(draw, "--only", ODD_TEXT)
    elif command == "explore":
        args += ["--kernel", draw(KERNEL), "--max-runs", draw(TINY), "--root", draw(root)]
        args += _opt(draw, "--depth", ODD_INT) + _opt(draw, "--pages", ODD_INT) + _opt(draw, "--property", PROPERTY)
        args += _opt(draw, "--scope", ODD_TEXT) + _flags(draw, "--json", "--no-save")
    elif command == "export":
        args += [draw(file_arg())] + _opt(draw, "-o", BAD_PATH) + _opt(draw, "--format", ODD_TEXT)
    elif command == "stats":
        args += ["--kernel", draw(KERNEL), "--examples", draw(TINY)] + _opt(draw, "--seed", ODD_INT)
        args += _flags(draw, "--json")
    else:
        args += draw(st.lists(ODD_TEXT, max_size=2))
    return args


def _main_in_thread(args: list[str]) -> tuple[int | None, str | None]:
    """main(args) in a thread of its own: Hypothesis' test context is thread-local, so the
    searches the CLI starts run as they would in a process of their own, not nested in this test."""
    result: list[tuple[int | None, str | None]] = []

    def target() -> None:
        try:
            result.append((main(args), None))
        except BaseException as exc:  # noqa: BLE001 - the point of the test: nothing may escape main()
            if isinstance(exc, SystemExit) and exc.code == 0:
                result.append((0, None))
            else:
                result.append((None, traceback.format_exc()))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    return result[0]


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """main(args) with stdout and stderr captured; an escaping exception fails with its traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status, escaped = _main_in_thread(args)
    if status is None:
        raise AssertionError(f"{args!r} raised:\n{escaped}")
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(autouse=True, scope="module")
def _in_scratch() -> Iterator[None]:
    """Relative paths and the default --root land in the scratch directory, never in the
    project; the directory goes when the module is done."""
    before = os.getcwd()
    _SCRATCH.mkdir(exist_ok=True)
    os.chdir(_SCRATCH)
    try:
        yield
    finally:
        os.chdir(before)
        shutil.rmtree(_SCRATCH, ignore_errors=True)


@pytest.mark.filterwarnings("ignore:Cannot register a settings profile")
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@pytest.mark.slow
@given(argv())
def test_bad_input_never_escapes_main(args: list[str]) -> None:
    status, _out, err = run_cli(args)
    assert status in (0, 1, 2), (args, status, err)
    if status == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, (args, err)
