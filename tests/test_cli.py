"""The gupharness command line: exit codes, output, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "regressions" / "zero-pfn-longterm-livelock.json"


def test_kernels_lists_profiles_with_switches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kernels", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [p["name"] for p in data["profiles"]]
    assert names[:4] == ["v5.18", "v5.19-rc1", "v5.19", "mainline"] or {"v5.18", "v5.19-rc1", "v5.19", "mainline"} <= set(names)
    rc1 = next(p for p in data["profiles"] if p["name"] == "v5.19-rc1")
    assert "zero_page_unpinnable" in rc1["switches"]
    assert data["switches"]["zero_page_unpinnable"]["commit"] == "1c563432588d"


@pytest.mark.slow
def test_hunt_finds_and_saves_the_seed_livelock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["hunt", "--kernel", "v5.19-rc1", "--property", "terminates", "--seed", "1",
                 "--max-examples", "2000", "--root", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert "terminates" in out["failures"]
    saved = Path(out["saved"])
    assert saved.parent == tmp_path / "regressions" / "pending" and saved.exists()
    assert main(["replay", str(saved), "--kernel", "v5.19-rc1"]) == 1  # terminates fails there
    assert main(["replay", str(saved)]) == 0  # and its recorded expectations hold


def test_hunt_exits_0_when_nothing_is_found(tmp_path: Path) -> None:
    assert main(["hunt", "--kernel", "mainline", "--max-examples", "30", "--seed", "0", "--root", str(tmp_path)]) == 0
    assert not (tmp_path / "regressions").exists()


def test_replay_with_trace_renders_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(SEED), "--kernel", "v5.19-rc1", "--trace"]) == 1
    out = capsys.readouterr().out
    assert "cannot be isolated" in out and "never returns" in out and "refcount" in out


def test_bisect_names_the_breaking_and_the_repairing_commit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bisect", str(SEED), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    breaks = [t for t in data["transitions"] if t["kind"] == "breaks"]
    repairs = [t for t in data["transitions"] if t["kind"] == "repairs"]
    assert [c["commit"] for c in breaks[0]["culprits"]] == ["1c563432588d"]
    assert [c["commit"] for c in repairs[0]["culprits"]] == ["034e5afad921"]
    assert breaks[0]["first"] == "v5.19-rc1" and repairs[0]["first"] == "v5.19"


@pytest.mark.parametrize("argv,needle", [
    (["hunt", "--kernel", "v9.9"], "unknown kernel profile 'v9.9'"),
    (["hunt", "--kernel", "mainline", "--property", "nope"], "unknown property 'nope'"),
    (["replay", "/nonexistent.json"], "/nonexistent.json: cannot read"),
    (["replay", str(SEED), "--kernel", "v0"], "unknown kernel profile 'v0'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert err.count("\n") == 1


def test_replay_refuses_a_bad_file_before_running_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": 2}))
    assert main(["replay", str(SEED), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "format: unknown version 2" in captured.err
