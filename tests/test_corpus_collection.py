"""One bad or slow regression file never stops the rest of the suite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "regressions" / "zero-pfn-longterm-livelock.json"
DIRTY_COW = ROOT / "regressions" / "dirty-cow-forced-write-gets-zero-page.json"
SEARCH_TESTS = ROOT / "tests" / "test_property_search.py"
#: the test modules whose parameters come from the corpus
CORPUS_DERIVED = [SEARCH_TESTS, ROOT / "tests" / "test_explore.py", ROOT / "tests" / "test_export.py"]
BROKEN = '{"format": 1, "title": "x", "scenario": {"layout": []}}'


def _slow_file() -> dict:
    """Valid and within the format's limits, but seconds of work per profile."""
    span = 1024
    ops = [{"op": "gup", "api": "get_user_pages", "start": 0, "pages": span, "flags": ["FOLL_WRITE"]}] * 60
    return {"format": 1, "title": "a large but valid scenario",
            "scenario": {"layout": [{"start": 0, "pages": span}], "ops": ops}, "expect": {"default": []}}


@pytest.mark.slow
def test_malformed_and_slow_files_fail_alone(pytester: pytest.Pytester) -> None:
    corpus = pytester.mkdir("regressions")
    shutil.copy(SEED, corpus / SEED.name)
    shutil.copy(DIRTY_COW, corpus / DIRTY_COW.name)
    (corpus / "broken.json").write_text(BROKEN)
    (corpus / "slow.json").write_text(json.dumps(_slow_file()))
    pytester.makepyfile(test_other="def test_other_tests_still_run():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "gup_kernels=v4.8 v5.19-rc1 mainline",
                                "-o", "gup_corpus_timeout=1", "-o", "timeout=0")
    outcomes = result.parseoutcomes()
    # 2 good files x 3 profiles (the seed is not applicable on v4.8) + the other test pass; the
    # broken file is one failing item, and the slow file fails on each profile by its own bound;
    # each loadable file also has its ::variants item (passing for the good ones, timing out for the slow one)
    assert outcomes.get("passed") == 6 + 2 and outcomes.get("skipped") == 1, result.stdout.str()
    assert outcomes.get("failed") == 4 + 1, result.stdout.str()
    assert "errors" not in outcomes and "error" not in outcomes
    out = result.stdout.str()
    assert "broken.json::load" in out and "broken.json: scenario.ops: required field missing" in out
    assert "slow.json::mainline" in out and "Timeout" in out


@pytest.mark.slow
def test_the_corpus_plugin_is_an_entry_point_that_can_be_disabled(pytester: pytest.Pytester) -> None:
    """Installed, the plugin collects a repository's regressions/ without any conftest;
    `-p no:gupharness` turns it off."""
    shutil.copy(SEED, pytester.mkdir("regressions") / SEED.name)
    on = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "gup_kernels=mainline", "regressions")
    on.assert_outcomes(passed=2)  # the profile's item and the file's ::variants item
    off = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:gupharness", "regressions")
    assert off.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_a_broken_corpus_file_never_stops_the_search_tests(pytester: pytest.Pytester) -> None:
    """The modules with corpus-derived parameters read the corpus only when pytest collects and
    runs them, and pass over a file that does not load: they collect their corpus-derived items
    and the searches run, while the broken file is its own failing item."""
    corpus = pytester.mkdir("regressions")
    shutil.copy(SEED, corpus / SEED.name)
    (corpus / "broken.json").write_text(BROKEN)
    tests = pytester.mkdir("tests")
    for module in CORPUS_DERIVED:
        shutil.copy(module, tests / module.name)  # each module's corpus is the copy's
    pytester.makeconftest("from hypothesis import settings\n"
                          "settings.register_profile('tiny', max_examples=5, derandomize=True, database=None)\n"
                          "settings.load_profile('tiny')\n")
    collected = pytester.runpytest("-p", "no:cacheprovider", "--collect-only", "-q", "-o", "gup_kernels=mainline")
    assert collected.ret == pytest.ExitCode.OK, collected.stdout.str()
    listed = collected.stdout.str()
    assert "regressions/broken.json::load" in listed
    assert "test_recorded_bug_is_found_from_scratch[v5.19-rc1-terminates-zero-pfn-longterm-livelock.json]" in listed
    assert "test_properties_hold[mainline]" in listed
    assert "test_catalogued_bugs_in_the_ci_scope_are_found_minimal[v5.19-rc1-terminates-zero-pfn-longterm" in listed
    assert "test_export.py::test_page_tokens_spell_every_observation" in listed
    assert "error" not in listed.lower()
    ran = pytester.runpytest("-p", "no:cacheprovider", "-o", "gup_kernels=mainline",
                             "regressions", "tests/test_property_search.py::test_properties_hold[mainline]")
    ran.assert_outcomes(passed=1 + 2, failed=1)  # the search, the seed's two items; broken.json::load
