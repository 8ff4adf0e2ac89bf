"""The command line's edges: bad input is one line and exit 2, interruptions and closed pipes
end quietly, ops with brackets survive rich, nothing lands in the current directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from harness import report
from harness.cli import main
from harness.regression import load
from harness.run import describe_op, run_scenario

ROOT = Path(__file__).resolve().parent.parent
DIRTY_COW = ROOT / "regressions" / "dirty-cow-forced-write-gets-zero-page.json"


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None, **kw: object) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=120, **kw)  # type: ignore[call-overload]


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("args,needle", [
    (["bench", "--max-examples", "-1"], "--max-examples"),
    (["bench", "--max-examples", "0"], "--max-examples"),
    (["bench", "--only", "no-such-bug"], "--only"),
    (["bench", "--json", "/nonexistent-dir/out.json", "--seeds", "1"], "/nonexistent-dir"),
    (["hunt", "--kernel", "mainline", "--root", "/nonexistent-dir"], "--root"),
    (["hunt", "--kernel", "v9.99"], "unknown kernel profile"),
])
def test_bad_arguments_fail_before_any_work(args: list[str], needle: str, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_non_utf8_and_oversized_files_are_one_line_errors(tmp_path: Path) -> None:
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{}")
    assert "not UTF-8" in _one_line_error(_cli("replay", str(binary), cwd=tmp_path))
    huge = tmp_path / "huge.json"
    huge.write_text(" " * (2 << 20))
    assert "larger than" in _one_line_error(_cli("replay", str(huge), cwd=tmp_path))


def test_a_billion_pages_is_refused_before_anything_is_allocated(tmp_path: Path) -> None:
    data = json.loads(DIRTY_COW.read_text())
    data["scenario"]["layout"][0]["pages"] = 1_000_000_000
    data["scenario"]["layout"][0]["faulted"] = ""
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data))
    line = _one_line_error(_cli("replay", str(path), cwd=tmp_path))
    assert "layout[0].pages" in line and "limit" in line


def test_environment_problems_are_one_line_errors(tmp_path: Path) -> None:
    line = _one_line_error(_cli("kernels", cwd=tmp_path, env={"HYPOTHESIS_PROFILE": "no-such-profile"}))
    assert "HYPOTHESIS_PROFILE" in line
    try:
        import redis  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        line = _one_line_error(_cli("kernels", cwd=tmp_path, env={"GUPHARNESS_REDIS": "redis://localhost:1/0"}))
        assert "redis" in line


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "harness", "kernels", "--json"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()  # the reader goes away, as `| head -c 10` would
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 1)
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_ctrl_c_exits_130_without_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import harness.cli as cli

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "kernels", interrupted)
    assert main(["kernels"]) == 130
    assert "Traceback" not in capsys.readouterr().err


def test_hunt_leaves_no_hypothesis_directory_in_the_working_directory(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    work = tmp_path / "work"
    work.mkdir()
    result = _cli("hunt", "--kernel", "mainline", "--max-examples", "20", "--no-save", cwd=work,
                  env={"XDG_CACHE_HOME": str(cache), "CI": ""})
    assert result.returncode == 0, result.stderr
    assert not (work / ".hypothesis").exists()
    assert list(work.iterdir()) == []


def _render(renderable: object) -> str:
    con = Console(width=400, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    con.print(renderable)
    return con.export_text()


def test_an_interleaved_op_survives_every_report(capsys: pytest.CaptureFixture[str]) -> None:
    """rich must not read `interleave=[madv_dontneed(...)]` as markup and delete it."""
    reg = load(DIRTY_COW)
    gup = reg.scenario.ops[0]
    shown = describe_op(gup)
    assert "interleave=[" in shown
    run = run_scenario(reg.scenario, "v4.8")
    assert shown in _render(report.counterexample(run, {"zero_page_never_pinned_writable": shown}))
    assert main(["replay", str(DIRTY_COW), "--kernel", "v4.8", "--trace"]) == 1
    assert shown in capsys.readouterr().out.replace("\n", "")
    from harness.bisect import bisect
    bisected = bisect(reg.scenario, None)
    assert "[x]" in _render(bisected.render("a[x]b.json"))


def _parse_ktap(text: str) -> list[tuple[bool, int, str, str | None]]:
    """A strict reader of the KTAP subset `replay --tap` promises: version line, plan, one
    result line per test numbered from 1, diagnostics as '# ' lines."""
    import re

    lines = text.splitlines()
    assert lines[0] == "KTAP version 1"
    plan = re.fullmatch(r"1\.\.(\d+)", lines[1])
    assert plan is not None
    results = []
    for line in lines[2:]:
        if line.startswith("# "):
            continue
        match = re.fullmatch(r"(ok|not ok) (\d+) ([^#]+?)(?: # SKIP (.+))?", line)
        assert match is not None, line
        results.append((match[1] == "ok", int(match[2]), match[3], match[4]))
    assert [n for _, n, _, _ in results] == list(range(1, int(plan[1]) + 1))
    return results


def test_replay_tap_is_ktap_with_skips_for_not_applicable(capsys: pytest.CaptureFixture[str]) -> None:
    seed = ROOT / "regressions" / "zero-pfn-longterm-livelock.json"
    assert main(["replay", str(seed), "--tap"]) == 0
    results = _parse_ktap(capsys.readouterr().out)
    skipped = {name.split("::")[1]: reason for _ok, _n, name, reason in results if reason}
    assert set(skipped) == {"v4.8", "v4.9"} and "does not exist before v5.7" in skipped["v4.8"]
    assert all(ok for ok, _n, _name, _reason in results)
    # a kernel where the seed fails every property check it is not expected to
    assert main(["replay", str(seed), "--tap", "--kernel", "v5.19-rc1"]) == 1
    (result,) = _parse_ktap(capsys.readouterr().out)
    assert result[0] is False


def test_replay_ends_with_a_summary_that_counts_not_applicable_apart(capsys: pytest.CaptureFixture[str]) -> None:
    seed = ROOT / "regressions" / "zero-pfn-longterm-livelock.json"
    assert main(["replay", str(seed)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    from harness.model.kernels import PROFILE_NAMES
    assert last == f"replay: {len(PROFILE_NAMES) - 2} passed, 0 failed, 2 skipped (not applicable)"


def test_bisect_compares_only_profiles_where_the_scenario_applies() -> None:
    from harness.bisect import bisect

    reg = load(ROOT / "regressions" / "longterm-pin-of-zone-movable-page.json")
    result = bisect(reg.scenario)
    assert {"v4.8", "v4.9"} <= set(result.not_applicable)
    assert all(t.last not in result.not_applicable for t in result.transitions)
    assert all(name not in result.not_applicable for name, _ in result.verdicts)
