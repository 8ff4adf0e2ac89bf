"""Progress bars: on stderr when it is a terminal, never on stdout, never with --quiet or
when stderr is not a terminal; the long-running functions report through a plain callback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from harness import progress as progress_module
from harness.bench import run_bench
from harness.cli import main
from harness.search import search

ROOT = Path(__file__).resolve().parent.parent
HUNT = ["hunt", "--kernel", "mainline", "--max-examples", "15", "--seed", "0", "--no-save", "--json"]


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the progress console believe stderr is a terminal (capsys still captures it)."""
    monkeypatch.setattr(progress_module, "stderr_console", lambda: Console(stderr=True, force_terminal=True))


def test_hunt_progress_reaches_stderr_and_json_stays_clean(terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(HUNT) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["examples"] >= 1
    assert "hunt mainline" in err


def test_explore_progress_names_the_depth(terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explore", "--kernel", "mainline", "--depth", "1", "--pages", "1", "--no-save", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["complete"]
    assert "depth 1" in err


def test_quiet_prints_nothing_on_stderr(terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*HUNT, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["examples"] >= 1
    assert err == ""


def test_no_terminal_no_progress(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(HUNT) == 0
    assert capsys.readouterr().err == ""


def test_search_reports_each_example_with_the_budget_as_total() -> None:
    calls: list[tuple[int, int | None, str]] = []
    result = search("mainline", max_examples=10, seed=0, database=None,
                    progress=lambda done, total, what: calls.append((done, total, what)))
    assert [done for done, _, _ in calls] == list(range(1, result.examples + 1))
    assert all(total == 10 and what == "examples" for _, total, what in calls)


def test_search_has_no_total_while_shrinking() -> None:
    calls: list[tuple[int, int | None, str]] = []
    # a judge that fails every scenario with an op: the first failure comes at once, then shrinking
    found = search("mainline", max_examples=50, seed=0, database=None,
                   judge=lambda scenario: {"any_op": "fails"} if scenario.ops else {},
                   progress=lambda done, total, what: calls.append((done, total, what)))
    assert found.counterexample is not None
    assert calls[0][1:] == (50, "examples")
    assert calls[-1][1] is None and calls[-1][2] == "shrinking"


def test_bench_counts_every_seed_and_the_speed_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    calls: list[tuple[int, int | None, str]] = []
    data = run_bench(2, 5, speed_examples=3, only="dirty-cow-forced-write-gets-zero-page",
                     progress=lambda done, total, what: calls.append((done, total, what)))
    total = 2 * len(data["bugs"]) + 1
    assert set(data["search_speed"]) == {"random", "hypothesis"}
    assert all(row["examples"] == 3 and 0 < row["ratio"] for row in data["search_speed"].values())
    assert all(bug["no_larger_rate"] is None or 0 <= bug["no_larger_rate"] <= 1 for bug in data["bugs"])
    assert [done for done, _, _ in calls] == list(range(total))
    assert {t for _, t, _ in calls} == {total}
    assert "seed 1" in calls[1][2]


def test_scenario_size_counts_interleaved_operations_then_vmas_then_pages() -> None:
    from harness import scenario as sc
    from harness.bench import scenario_size

    racing = sc.Gup("get_user_pages", 0, 1, ("FOLL_WRITE", "FOLL_FORCE"), interleave=(sc.MadvDontneed(0, 1),))
    assert scenario_size(sc.Scenario((sc.Vma(0, 3), sc.Vma(4, 2)), (racing, sc.Fork()))) == (3, 2, 5)
    assert scenario_size(sc.Scenario((sc.Vma(0, 1),), (sc.Gup("pin_user_pages", 0, 1),))) == (1, 1, 1)


def test_a_count_without_total_is_drawn_as_one(terminal: None, capsys: pytest.CaptureFixture[str]) -> None:
    with progress_module.shown("hunt x") as update:
        update(3, 10, "examples")
        update(12, None, "shrinking")
    err = capsys.readouterr().err
    assert "12/?" in err and "12/10" not in err


def test_bench_workers_measure_the_same_searches(monkeypatch: pytest.MonkeyPatch) -> None:
    """--workers runs the seeds' searches in parallel processes: the same examples to detection
    and the same shrunk counterexamples as one at a time (each search is seeded)."""
    monkeypatch.chdir(ROOT)
    runs = [run_bench(2, 200, speed_examples=2, only="zero-pfn-longterm-livelock", workers=w)["bugs"] for w in (1, 2)]
    assert runs[0] and [b["examples_to_failure"] for b in runs[0]] == [b["examples_to_failure"] for b in runs[1]]
    assert [b["canonical_rate"] for b in runs[0]] == [b["canonical_rate"] for b in runs[1]]
    assert all(b["detection_rate"] == 1 for b in runs[0])
