"""Regression files: loading, bad input, saving, and the pytest collection of the corpus."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import scenario as sc
from harness.regression import (
    PENDING,
    Regression,
    RegressionError,
    check,
    dumps,
    from_json_data,
    load,
    save_counterexample,
    save_new,
)

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "regressions" / "zero-pfn-longterm-livelock.json"


def seed_data() -> dict:
    return json.loads(SEED.read_text())


def test_seed_file_round_trips() -> None:
    reg = load(SEED)
    assert reg.expected_failures("v5.19-rc1") == {"terminates"}
    assert reg.expected_failures("mainline") == frozenset()
    again = from_json_data(json.loads(dumps(reg)), "again")
    assert again == reg


BAD_CASES = [
    (lambda d: d.pop("format"), "format: missing"),
    (lambda d: d.update(format=7), "format: unknown version 7"),
    (lambda d: d.update(title=""), "title:"),
    (lambda d: d["expect"].update({"v9.9": []}), "expect.v9.9: unknown kernel profile"),
    (lambda d: d["expect"].update(default=["no_such_property"]), "unknown property 'no_such_property'"),
    (lambda d: d["scenario"]["layout"].append({"start": 0, "pages": 2}), "scenario.layout[1].start"),
    (lambda d: d["scenario"]["layout"][0].update(pages=0), "scenario.layout[0].pages"),
    (lambda d: d["scenario"]["ops"].append({"op": "release", "of": 5}), "scenario.ops[1].of"),
    (lambda d: d["scenario"]["ops"].extend([{"op": "release", "of": 0}, {"op": "release", "of": 0}]),
     "already released"),
    (lambda d: d["scenario"]["layout"][0].update(backing="pfnmap", faulted="w"), "scenario.layout[0].faulted"),
    (lambda d: d["scenario"]["ops"][0].update(api="pin_everything"), "scenario.ops[0].api"),
    (lambda d: d["scenario"]["ops"][0].update(flags="FOLL_WRITE"), "scenario.ops[0].flags"),
    (lambda d: d["scenario"].pop("layout"), "scenario.layout"),
    (lambda d: d.update(extra=1), "extra: unknown field"),
    (lambda d: d["scenario"]["ops"][0].update(repeat=0), "scenario.ops[0].repeat: must be between 1 and"),
    (lambda d: d["scenario"]["ops"][0].update(repeat=2**32 + 1), "scenario.ops[0].repeat: must be between 1 and"),
    (lambda d: d["scenario"]["ops"][0].update(repeat=True), "scenario.ops[0].repeat"),
    (lambda d: d["scenario"]["ops"][0].update(repeat="2"), "scenario.ops[0].repeat"),
    (lambda d: d["scenario"]["ops"][0].update(api="odirect_read", flags=[], repeat=2),
     "scenario.ops[0].repeat: odirect_read keeps nothing"),
    (lambda d: d["scenario"]["ops"][0].update(repeat=2, interleave=[{"op": "cpu_write", "page": 0}]),
     "scenario.ops[0].repeat: a repeated call cannot also have interleaved"),
]


@pytest.mark.parametrize("mutate,message", BAD_CASES)
def test_bad_files_get_one_line_naming_file_and_field(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = seed_data()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(RegressionError) as excinfo:
        load(path)
    text = str(excinfo.value)
    assert "\n" not in text
    assert text.startswith(str(path))
    assert message in text


def test_repeat_round_trips_and_is_left_out_when_1() -> None:
    from harness.scenario import Gup, Scenario, Vma
    from harness.serialize import from_data, to_data

    many = Scenario((Vma(0, 1),), (Gup("vmsplice", 0, 1, repeat=2**32),))
    assert to_data(many)["ops"][0]["repeat"] == 2**32
    assert from_data(json.loads(json.dumps(to_data(many)))) == many
    assert "repeat" not in to_data(Scenario((Vma(0, 1),), (Gup("vmsplice", 0, 1),)))["ops"][0]


def test_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"format": 1,')
    with pytest.raises(RegressionError, match="not valid JSON"):
        load(path)


def _mutations() -> st.SearchStrategy:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.text(max_size=8),
                       st.sampled_from(["anon", "gup", "rw", "FOLL_WRITE", "v5.19", "terminates"]))
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                        max_leaves=6)


def _paths(data: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, prefix + (i,))
    return out


@pytest.mark.slow
@given(st.data())
def test_loader_never_raises_anything_but_regression_error(data: st.DataObject) -> None:
    doc = seed_data()
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc)))
        value = data.draw(_mutations())
        if not path:
            doc = value
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if data.draw(st.booleans()) and isinstance(parent, (dict, list)) and len(parent) > 0:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    try:
        reg = from_json_data(doc, "fuzzed.json")
    except RegressionError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(reg, Regression)


def test_save_never_overwrites_and_is_atomic(tmp_path: Path) -> None:
    reg = load(SEED)
    first = save_new(tmp_path, "x", reg)
    other = Regression("another", reg.scenario, {"default": ()})
    second = save_new(tmp_path, "x", other)
    assert first != second and first.exists() and second.exists()
    assert load(first) == reg and load(second) == other
    assert save_new(tmp_path, "x", reg) == first  # the same content is not saved twice
    assert not list(tmp_path.glob(".tmp-*"))


def test_the_same_counterexample_found_twice_is_one_file(tmp_path: Path) -> None:
    reg = load(SEED)
    first = save_new(tmp_path, "x", reg)
    again = Regression("found by another seed", reg.scenario, reg.expect, {"found_by": "hunt --seed 7"})
    assert save_new(tmp_path, "y", again) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name]


def test_leftovers_of_interrupted_saves_are_cleaned(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".tmp-{dead.pid}-abc.json"
    stale.write_text("{")
    live = tmp_path / f".tmp-{os.getpid()}-def.json"  # a save in progress in a living process
    live.write_text("{")
    save_new(tmp_path, "x", load(SEED))
    assert not stale.exists()
    assert live.exists()


def test_saved_counterexample_replays_green_after_promotion(tmp_path: Path) -> None:
    scenario = load(SEED).scenario
    path = save_counterexample(tmp_path, scenario, "v5.19-rc1", {"terminates": "loops"}, "test")
    assert path.parent == tmp_path / "regressions" / PENDING
    promoted = tmp_path / "regressions" / path.name
    shutil.move(path, promoted)
    from harness.cli import main
    assert main(["replay", str(promoted)]) == 0


@pytest.mark.slow
def test_corpus_item_fails_naming_property_and_kernel_when_a_fix_is_removed(pytester: pytest.Pytester) -> None:
    """Re-break the zero-page exemption on v5.19: the seed's v5.19 item must fail and say so."""
    regressions = pytester.mkdir("regressions")
    shutil.copy(SEED, regressions / SEED.name)
    pytester.makeconftest('''
import attrs
from harness.model import kernels
kernels.PROFILES["v5.19"] = attrs.evolve(kernels.PROFILES["v5.19"],
    switches=kernels.PROFILES["v5.19"].switches | {"zero_page_unpinnable"})
''')
    # in a subprocess: the conftest patches a profile, which must not leak into this session
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "regressions")
    from harness.model.kernels import PROFILE_NAMES
    applicable = [name for name in PROFILE_NAMES if not check(load(SEED).scenario, name).not_applicable]
    # + 1: the file's ::variants item (the variants fail as the original does, nothing new)
    result.assert_outcomes(passed=len(applicable) - 1 + 1, failed=1, skipped=len(PROFILE_NAMES) - len(applicable))
    output = result.stdout.str()
    assert "zero-pfn-longterm-livelock.json::v5.19 FAILED" in output or "v5.19" in output
    assert "property terminates fails on v5.19 but is expected to hold" in output


def test_pending_files_are_not_collected(pytester: pytest.Pytester) -> None:
    pending = pytester.mkdir("regressions").joinpath(PENDING)
    pending.mkdir()
    shutil.copy(SEED, pending / "new.json")
    result = pytester.runpytest("-p", "no:cacheprovider", "regressions")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    # named on the command line, a pending file is collected (to check it before promoting it)
    named = pytester.runpytest("-p", "no:cacheprovider", "-o", "gup_kernels=v5.19-rc1 mainline",
                               str(pending / "new.json"))
    named.assert_outcomes(passed=2 + 1)  # + its ::variants item


def test_not_applicable_is_skipped_with_its_reason(pytester: pytest.Pytester) -> None:
    shutil.copy(SEED, pytester.mkdir("regressions") / SEED.name)
    result = pytester.runpytest("-p", "no:cacheprovider", "-rs", "-o", "gup_kernels=v4.9 mainline", "regressions")
    result.assert_outcomes(passed=1 + 1, skipped=1)  # + the ::variants item
    assert "not applicable on v4.9: pin_user_pages does not exist before" in result.stdout.str()


def test_corpus_directories_are_an_ini_option(pytester: pytest.Pytester) -> None:
    shutil.copy(SEED, pytester.mkdir("corpus") / SEED.name)
    result = pytester.runpytest("-p", "no:cacheprovider", "-o", "gup_corpus=corpus", "-o", "gup_kernels=mainline")
    result.assert_outcomes(passed=1 + 1)  # + the ::variants item


def test_layout_that_cannot_exist_is_refused() -> None:
    with pytest.raises(sc.ScenarioError, match="overlaps"):
        sc.validate(sc.Scenario((sc.Vma(0, 4), sc.Vma(2, 2)), ()))
