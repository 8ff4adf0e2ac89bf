"""Outcome snapshots: recorded per profile, checked by replay and the corpus items, rewritten
only on purpose (replay --update, expect --update)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import attrs
import pytest

import harness.model.fault as fault
import harness.run as runner
from harness.cli import main
from harness.regression import RegressionError, dumps, load
from harness.run import run_scenario
from harness.snapshot import decode_token, diff, encode_run, snapshot_now

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "regressions"
NEIGHBOURS = CORPUS / "oracle-read-fault-maps-cached-neighbours.json"
SEED = CORPUS / "zero-pfn-longterm-livelock.json"
ZERO_PAGE = CORPUS / "ro-longterm-pin-of-zero-page-goes-stale.json"


def copy(path: Path, tmp_path: Path) -> Path:
    target = tmp_path / path.name
    shutil.copy(path, target)
    return target


def flat(text: str) -> str:
    """Console output with rich's line wrapping undone (it wraps at spaces)."""
    return " ".join(text.split())


def without_snapshot(path: Path) -> Path:
    data = json.loads(path.read_text())
    data.pop("snapshot", None)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def test_encoding_names_result_and_each_page() -> None:
    reg = load(ZERO_PAGE)
    assert encode_run(run_scenario(reg.scenario, "v6.1")) == ["1: Z+", "0: A~"]  # pinned the zero page; COW away
    assert encode_run(run_scenario(reg.scenario, "mainline")) == ["1: A+", "0: A="]  # unshared first; kept
    assert encode_run(run_scenario(reg.scenario, "v5.19-rc1")) == ["never returns"]
    assert encode_run(run_scenario(reg.scenario, "v4.9")) == "n/a"
    assert decode_token("a~") == {"present": True, "zero": False, "anon": True, "mapped_once": False,
                                  "identity": "replaced"}


def test_snapshot_names_only_profiles_that_differ_from_mainline_and_round_trips(tmp_path: Path) -> None:
    reg = load(ZERO_PAGE)
    snap = snapshot_now(reg.scenario)
    assert snap["default"] == ["1: A+", "0: A="]
    assert "mainline" not in snap and snap["v6.1"] == ["1: Z+", "0: A~"]
    again = attrs.evolve(reg, snapshot=snap)
    path = tmp_path / "x.json"
    path.write_text(dumps(again))
    assert load(path) == again
    assert '    "v6.1": ["1: Z+", "0: A~"]' in path.read_text()  # one line per profile


def test_diff_says_which_op_which_page_which_field() -> None:
    reg = load(ZERO_PAGE)
    lines = diff(reg.scenario, ["1: A+", "0: A="], ["-ENOMEM: .", "0: a~"])
    assert lines[0] == "op 0 gup(api=pin_user_pages, start=0, pages=1, flags=FOLL_LONGTERM): result 1 -> -ENOMEM"
    assert lines[1].endswith("page 0: mapped -> absent (A+ -> .)")
    assert lines[2] == "op 1 cpu_write(page=0): page 0: mapped_once yes -> no, identity same -> replaced (A= -> a~)"
    assert diff(reg.scenario, ["1: A+"], ["never returns"]) == [
        "op 0 gup(api=pin_user_pages, start=0, pages=1, flags=FOLL_LONGTERM): 1: A+ -> never returns"]


@pytest.mark.parametrize("snapshot,message", [
    ([], "snapshot: must be an object"),
    ({"v6.1": []}, "snapshot.default: missing"),
    ({"default": [], "v9.9": []}, "snapshot.v9.9: unknown kernel profile"),
    ({"default": "gone"}, "snapshot.default: must be a list"),
    ({"default": [3]}, "snapshot.default[0]: must be a string"),
    ({"default": ["1 A+"]}, "snapshot.default[0]: expected"),
    ({"default": ["1: Q+"]}, "snapshot.default[0]: bad page token 'Q+'"),
    ({"default": ["never returns", "1: A+"]}, "must be the last entry"),
    ({"default": ["BUG in get_page", "1: A+"]}, "'BUG in get_page' ends the run"),
])
def test_bad_snapshots_get_one_line(tmp_path: Path, snapshot: object, message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(SEED.read_text())
    data["snapshot"] = snapshot
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RegressionError, match=re.escape(message)) as excinfo:
        load(path)
    assert "\n" not in str(excinfo.value)
    assert main(["replay", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_file_without_snapshot_still_replays_and_says_behaviour_is_unchecked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = without_snapshot(copy(SEED, tmp_path))
    assert load(path).snapshot is None
    assert main(["replay", str(path)]) == 0
    assert "behaviour not checked" in flat(capsys.readouterr().out)


def test_replay_reports_a_behaviour_change_no_property_sees(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A model change (fault-around maps no neighbours) that breaks no property: replay exits 1
    with the diff, and the JSON shows every expectation still met."""
    path = copy(NEIGHBOURS, tmp_path)
    assert main(["replay", str(path)]) == 0
    capsys.readouterr()
    monkeypatch.setattr(fault, "do_fault_around", lambda k, mm, vma, addr: None)
    assert main(["replay", str(path), "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert all(row["failures"] == {} and row["expected_failures"] == [] for row in rows)
    assert rows[-1]["behaviour_change"] == ["op 0 cpu_read(page=1): page 0: mapped -> absent (F+ -> .)",
                                            "op 0 cpu_read(page=1): page 2: mapped -> absent (F+ -> .)"]
    assert main(["replay", str(path)]) == 1
    out = flat(capsys.readouterr().out)
    assert "CHANGED" in out and "on every profile" in out and "page 2: mapped -> absent" in out


def test_replay_reports_a_changed_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = copy(ZERO_PAGE, tmp_path)
    execute = runner._Executor.execute

    def fewer_pages(self: runner._Executor, index: int, op: object, result: runner.OpResult) -> None:
        execute(self, index, op, result)  # type: ignore[arg-type]
        if index == 0 and result.result == 1:
            result.result = 0  # the pin "returns" 0 pages but still holds the one it took

    monkeypatch.setattr(runner._Executor, "execute", fewer_pages)
    assert main(["replay", str(path), "--kernel", "mainline", "--json"]) == 1
    (row,) = json.loads(capsys.readouterr().out)
    assert row["behaviour_change"] == [
        "op 0 gup(api=pin_user_pages, start=0, pages=1, flags=FOLL_LONGTERM): result 1 -> 0"]


def test_replay_update_rewrites_the_snapshot_on_purpose(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = copy(NEIGHBOURS, tmp_path)
    monkeypatch.setattr(fault, "do_fault_around", lambda k, mm, vma, addr: None)
    before = path.read_text()
    assert main(["replay", "--update", str(path)]) == 0
    out = flat(capsys.readouterr().out)
    assert "updated" in out and ": 2 change(s)" in out
    assert "every profile: op 0 cpu_read(page=1): page 0: mapped -> absent" in out
    assert load(path).snapshot == {"default": ["0: . F+ ."]}
    assert path.read_text() != before and not list(tmp_path.glob(".tmp-*"))
    assert main(["replay", str(path)]) == 0  # now the recorded behaviour
    assert main(["replay", "--update", str(path), "--kernel", "v6.1"]) == 2


def test_replay_update_adds_a_snapshot_to_an_old_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = without_snapshot(copy(ZERO_PAGE, tmp_path))
    assert main(["replay", "--update", str(path)]) == 0
    assert "snapshot: none -> recorded" in flat(capsys.readouterr().out)
    assert load(path).snapshot == snapshot_now(load(path).scenario)


def test_update_writes_nothing_when_any_file_is_bad(tmp_path: Path) -> None:
    good = without_snapshot(copy(ZERO_PAGE, tmp_path))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    text = good.read_text()
    assert main(["replay", "--update", str(good), str(bad)]) == 2
    assert main(["expect", "--update", str(good), str(bad)]) == 2
    assert good.read_text() == text


def test_expect_update_recomputes_expectations_and_prints_the_change(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = copy(SEED, tmp_path)
    data = json.loads(path.read_text())
    data["expect"] = {"default": []}  # forgets the livelock on v5.19-rc1 and v6.0-rc1
    path.write_text(json.dumps(data))
    assert main(["replay", str(path)]) == 1
    capsys.readouterr()
    assert main(["expect", str(path)]) == 1  # dry run: says what would change, writes nothing
    assert "expect v5.19-rc1: all hold -> terminates" in flat(capsys.readouterr().out)
    assert load(path).expect == {"default": ()}
    assert main(["expect", "--update", str(path)]) == 0
    out = flat(capsys.readouterr().out)
    assert "expect v5.19-rc1: all hold -> terminates" in out and "expect v6.0-rc1: all hold -> terminates" in out
    assert load(path).expect == load(SEED).expect
    assert main(["replay", str(path)]) == 0
    assert main(["expect", str(path)]) == 0  # up to date


@pytest.mark.slow
def test_corpus_item_fails_on_a_behaviour_change_with_the_diff(pytester: pytest.Pytester) -> None:
    regressions = pytester.mkdir("regressions")
    shutil.copy(NEIGHBOURS, regressions / NEIGHBOURS.name)
    pytester.makeconftest('''
from harness.model import fault
fault.do_fault_around = lambda k, mm, vma, addr: None
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "regressions", "-k", "mainline")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "behaviour changed on mainline" in output
    assert "op 0 cpu_read(page=1): page 0: mapped -> absent (F+ -> .)" in output
    assert "gupharness replay --update" in output


def test_a_saved_counterexample_carries_a_snapshot(tmp_path: Path) -> None:
    from harness.regression import save_counterexample
    scenario = load(SEED).scenario
    path = save_counterexample(tmp_path, scenario, "v5.19-rc1", {"terminates": "loops"}, "test")
    saved = load(path)
    assert saved.snapshot == snapshot_now(scenario)
    assert saved.snapshot is not None and saved.snapshot["v5.19-rc1"] == ["never returns"]


def test_a_run_that_hits_a_bug_ends_with_where() -> None:
    reg = load(CORPUS / "refcount-overflow-through-vmsplice.json")
    assert encode_run(run_scenario(reg.scenario, "v4.8")) == ["BUG in get_page"]
    assert diff(reg.scenario, ["BUG in get_page"], ["done: A="])[0].endswith(": BUG in get_page -> done: A=")
