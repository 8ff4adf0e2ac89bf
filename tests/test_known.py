"""No masking: known failures (a corpus file explains them) are set aside, new ones are still found."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

import harness.model.fault as fault
from harness.cli import main
from harness.known import KnownFailures
from harness.regression import load
from harness.search import search

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "regressions"
PAGE_CACHE = CORPUS / "ro-longterm-pin-of-page-cache-goes-stale.json"
ZERO_PAGE = CORPUS / "ro-longterm-pin-of-zero-page-goes-stale.json"


def ci() -> settings:
    return settings(settings.get_profile("ci"), derandomize=True, database=None)


@pytest.fixture(scope="module")
def v61() -> KnownFailures:
    return KnownFailures.from_directory("v6.1", CORPUS)


def never_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    """An injected model fault: do_wp_page never reuses an anon page it could keep (a wrong
    branch in wp_can_reuse_anon_folio), so a write fault replaces a page a pin still holds.
    It breaks pin_coherence, the very property the corpus records failing on v6.1."""
    monkeypatch.setattr(fault, "wp_can_reuse_anon_folio", lambda k, folio: False)


def test_a_corpus_scenario_is_explained_by_its_own_file(v61: KnownFailures) -> None:
    reg = load(ZERO_PAGE)
    assert v61.explain(reg.scenario, ["pin_coherence"]) == {"pin_coherence": ZERO_PAGE}
    assert v61.explain(load(PAGE_CACHE).scenario, ["pin_coherence"]) == {"pin_coherence": PAGE_CACHE}


def test_a_property_nobody_records_on_the_profile_is_new(v61: KnownFailures) -> None:
    reg = load(ZERO_PAGE)
    assert v61.explain(reg.scenario, ["pin_balance"]) == {"pin_balance": None}


def test_same_property_failing_where_the_corpus_says_it_holds_is_new(v61: KnownFailures,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Property-level masking would call this known (pin_coherence is recorded on v6.1); the
    fault makes the scenario fail on mainline too, where no file records it."""
    never_reuse(monkeypatch)
    from harness.scenario import Gup, Scenario, Vma
    scenario = Scenario((Vma(start=0, pages=1),),
                        (Gup(api="pin_user_pages", start=0, pages=1, flags=("FOLL_LONGTERM",)),
                         Gup(api="pin_user_pages", start=0, pages=1, flags=("FOLL_WRITE",))))
    assert v61.explain(scenario, ["pin_coherence"]) == {"pin_coherence": None}


@pytest.mark.slow
def test_new_search_on_the_clean_timeline_finds_nothing_new_but_sets_known_aside(v61: KnownFailures) -> None:
    result = search("v6.1", base_settings=ci(), max_examples=1500, database=None, known=v61, set_aside_known=True)
    assert result.findings == [] and result.counterexample is None
    assert result.set_aside > 0
    recorded_on_v61 = {prop for path in CORPUS.glob("*.json") for prop in load(path).expected_failures("v6.1")}
    assert "pin_coherence" in result.set_aside_by and set(result.set_aside_by) <= recorded_on_v61


@pytest.mark.slow
def test_hunt_names_the_file_that_explains_a_finding_and_saves_no_duplicate(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "regressions").mkdir()
    for path in CORPUS.glob("*.json"):
        shutil.copy(path, tmp_path / "regressions" / path.name)
    # seed 3 meets the zero-page file's failure at example 597 on Hypothesis 6.155 (977 with the
    # generator before the unshare and race aims): the budget leaves a wide margin
    # (benchmarks/detection_margins.py)
    code = main(["hunt", "--kernel", "v6.1", "--property", "pin_coherence", "--seed", "3", "--max-examples", "3000",
                 "--root", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1  # a counterexample, as always without --new
    (finding,) = out["findings"]
    assert not finding["new"] and finding["saved"] is None
    assert Path(finding["explained_by"]["pin_coherence"]).name == ZERO_PAGE.name
    assert not (tmp_path / "regressions" / "pending").exists()


def _seed_meeting_a_known_failure_first(known: KnownFailures) -> int:
    """A seed whose finding phase sets a known failure aside before it meets a new one (cheap:
    no shrinking), so the hunt below really goes past the known bug whatever the generator's
    stream is today."""
    for seed in range(1, 30):
        found = search("v6.1", max_examples=3000, seed=seed, database=None, known=known, set_aside_known=True,
                       shrink=False)
        if found.set_aside and found.findings:
            return seed
    raise AssertionError("no seed in 1..29 meets a known failure before the injected one")


@pytest.mark.slow
def test_hunt_new_finds_an_injected_fault_past_the_known_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str], v61: KnownFailures) -> None:
    never_reuse(monkeypatch)
    (tmp_path / "regressions").mkdir()
    for path in CORPUS.glob("*.json"):
        shutil.copy(path, tmp_path / "regressions" / path.name)
    seed = _seed_meeting_a_known_failure_first(v61)
    code = main(["hunt", "--kernel", "v6.1", "--new", "--seed", str(seed), "--max-examples", "3000",
                 "--root", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert out["set_aside"] > 0
    # whatever was set aside was explained by files that record that property failing on v6.1
    assert out["set_aside_by"]
    for prop, paths in out["set_aside_by"].items():
        assert all(prop in load(path).expected_failures("v6.1") for path in paths), prop
    # every finding is new: the known bug is set aside, never reported. How many distinct new
    # failures Hypothesis reports depends on more than the seed (it keeps generating after the
    # first for up to 10 s of wall clock, and since 6.131 draws constants from every module the
    # process has imported), so the fault's own failure is picked out, not assumed to be alone
    findings = out["findings"]
    assert findings and all(f["new"] and f["explained_by"] == {} for f in findings)
    # the property the corpus records failing on v6.1, failing on its own
    (finding,) = [f for f in findings if list(f["failures"]) == ["pin_coherence"]]
    assert finding["why_new"]["pin_coherence"].endswith(
        "mainline, where no corpus file records pin_coherence failing")
    assert len(finding["counterexample"]["ops"]) <= 3  # shrunk and reduced on its own
    pending = list((tmp_path / "regressions" / "pending").glob("*.json"))
    assert sorted(p.name for p in pending) == sorted(Path(f["saved"]).name for f in findings)


def test_profiles_with_the_same_switches_give_the_same_verdicts() -> None:
    """explain() runs a scenario once per set of switches (v4.9, v4.14 and v4.19 share theirs):
    that holds only while the model and the properties see a profile through its switches alone."""
    from harness.model.kernels import PROFILE_NAMES, get_profile
    from harness.run import run_scenario
    from properties import check_all

    groups: dict[frozenset[str], list[str]] = {}
    for name in PROFILE_NAMES:
        groups.setdefault(get_profile(name).switches, []).append(name)
    twins = [names for names in groups.values() if len(names) > 1]
    assert ["v4.9", "v4.14", "v4.19"] in twins
    for path in sorted(CORPUS.glob("*.json")):
        scenario = load(path).scenario
        for names in twins:
            runs = [run_scenario(scenario, name, trace=False) for name in names]
            seen = {(run.not_applicable, None if run.not_applicable else tuple(sorted(check_all(run).items())))
                    for run in runs}
            assert len(seen) == 1, (path.name, names)
