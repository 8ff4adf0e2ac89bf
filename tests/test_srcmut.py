"""The source-mutation tool: generated mutants, the import hook applying them, the runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.mutate import ROOT, mutant_env
from harness.srcmut import Outcome, SrcmutError, read_equivalent, run_mutant, sample, score
from harness.srcmutants import SourceMutant, SourceMutantError, enumerate_mutants, get_source_mutant
from tests import srcmut_sample

SAMPLE = "tests/srcmut_sample.py"
#: a selection that exercises the sample module (and nothing else): the runner's tests use it
SAMPLE_TESTS = "tests/test_srcmut.py::test_sample_behaviour"


def _env(mutant: str | None) -> dict[str, str]:
    return mutant_env(mutant)


def _one(op: str, old: str, path: str = SAMPLE, line_has: str = "") -> SourceMutant:
    """The mutant of `path` with this operator and old text (on a line containing `line_has`):
    found by content, so the tests do not depend on line numbers."""
    source = (ROOT / path).read_text().split("\n")
    found = [m for m in enumerate_mutants(path)
             if m.op == op and m.old == old and line_has in source[m.line - 1]]
    assert len(found) == 1, found
    return found[0]


def test_sample_behaviour() -> None:
    """The behaviour the runner's tests kill mutants with (SAMPLE_TESTS)."""
    assert srcmut_sample.clamp(7) == 3
    assert srcmut_sample.clamp(2) == 2
    assert srcmut_sample.both(True, False) is True
    assert srcmut_sample.both(True, True) is False


def test_the_sample_module_gets_one_mutant_per_site_and_nothing_else() -> None:
    found = {(m.op, m.old, m.new) for m in enumerate_mutants(SAMPLE)}
    assert found == {
        ("Int+1", "3", "4"), ("Int-1", "3", "2"),  # LIMIT = 3 and `LIMIT != 3`
        ("NotEq-Eq", "!=", "=="), ("Stmt-pass", 'raise RuntimeError("LIMIT is fixed")', "pass"),
        ("Int+1", "0", "1"),  # Trace.depth
        ("Stmt-pass", "time.sleep(PAUSE)", "pass"),  # Trace.__call__
        ("Gt-GtE", ">", ">="), ("Stmt-pass", "value -= 1", "pass"), ("AugSub-Add", "-=", "+="),
        ("Int+1", "1", "2"), ("Int-1", "1", "0"),
        ("Return-None", "value", "None"), ("Return-None", "a and not b", "None"),
        ("And-Or", "and", "or"), ("Not-drop", "not ", ""),
    }
    # left alone: the docstrings, annotations, the assert, the trace call and its f-string,
    # and label(), which only builds text
    rows = {m.line for m in enumerate_mutants(SAMPLE)}
    text = (ROOT / SAMPLE).read_text().split("\n")
    assert not [text[r - 1] for r in rows if "assert" in text[r - 1] or "trace(" in text[r - 1]
                or '"big"' in text[r - 1]]


@pytest.mark.slow
@pytest.mark.parametrize("path", ["harness/model/gup.py", "harness/model/fault.py"])
def test_every_mutant_of_the_model_is_one_line_that_compiles(path: str) -> None:
    source = (ROOT / path).read_text()
    mutants = enumerate_mutants(path)
    assert len(mutants) > 100
    assert len({m.name for m in mutants}) == len(mutants)
    for m in mutants:
        patched = m.patch(source)
        assert patched != source and patched.count("\n") == source.count("\n")
        changed = [a for a, b in zip(source.split("\n"), patched.split("\n")) if a != b]
        assert len(changed) == 1 and "trace(" not in changed[0], m.name
        compile(patched, path, "exec", dont_inherit=True)
    assert [get_source_mutant(m.name) for m in mutants[::40]] == mutants[::40]


def test_a_sample_is_reproducible_and_spans_both_files() -> None:
    files = ["harness/model/gup.py", "harness/model/fault.py"]
    first = sample(files, 100, seed=7)
    assert first == sample(files, 100, seed=7)
    assert first != sample(files, 100, seed=8)
    assert len({m.name for m in first}) == 100
    assert {m.path for m in first} == set(files)


def test_the_hook_applies_a_generated_mutant_in_a_subprocess() -> None:
    mutant = _one("AugSub-Add", "-=")
    probe = "import harness, tests.srcmut_sample as s; print(s.both(True, True), s.clamp(2))"
    clean = subprocess.run([sys.executable, "-c", probe], env=_env(None), capture_output=True, text=True,
                           timeout=60, cwd=ROOT)
    assert clean.stdout.split() == ["False", "2"]
    flipped = subprocess.run([sys.executable, "-c", probe], env=_env(_one("Not-drop", "not ").name),
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert flipped.returncode == 0, flipped.stderr
    assert flipped.stdout.split() == ["True", "2"]
    assert mutant.diff().splitlines()[1:] == ["-        value -= 1", "+        value += 1"]


@pytest.mark.slow
def test_a_model_mutant_is_killed_by_a_tiny_selection() -> None:
    """fault.py's v5.9+ reuse rule (only the sole reference may keep its page) broken: the
    corpus file about fork after a R/W pin fails on the profiles where that rule is live."""
    mutant = _one("Int+1", "1", "harness/model/fault.py", "return folio.refcount == 1")
    outcome = run_mutant(mutant, "regressions/fork-after-rw-pin-parent-cows-away.json", timeout=120)
    assert outcome.status == "killed"
    assert "fork-after-rw-pin-parent-cows-away.json" in outcome.detail


@pytest.mark.slow  # pytest runs per mutant, and a deliberate wait for a looping one
def test_the_runner_scores_killed_survived_invalid_and_timeout(tmp_path: Path) -> None:
    killed = _one("And-Or", "and")
    survived = _one("Int+1", "0")  # Trace.depth: nothing reads it
    invalid = _one("NotEq-Eq", "!=")  # the module raises at import
    looping = _one("AugSub-Add", "-=")  # clamp(7) never returns
    out = tmp_path / "out.json"
    argv = [sys.executable, "-m", "harness", "srcmut", SAMPLE, "--tests", SAMPLE_TESTS, "--timeout", "5",
            "--workers", "2", "--json", str(out), "--quiet"]
    for m in (killed, survived, invalid, looping):
        argv += ["--only", m.name]
    done = subprocess.run(argv, env=_env(None), capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 1, done.stderr  # a survivor
    results = json.loads(out.read_text())
    status = {o["name"]: o["status"] for o in results["outcomes"]}
    assert status == {killed.name: "killed", survived.name: "survived", invalid.name: "invalid",
                      looping.name: "timeout"}
    assert (results["killed"], results["timeout"], results["survived"], results["score"]) == (1, 1, 1, 66.7)
    assert f"{survived.name}  '0' -> '1'" in done.stdout
    # the same survivor listed as equivalent: out of the score, exit 0
    listing = tmp_path / "equivalent.txt"
    listing.write_text(f"# hand-classified\n{survived.name}  # nothing reads Trace.depth\n")
    again = subprocess.run([sys.executable, "-m", "harness", "srcmut", SAMPLE, "--tests", SAMPLE_TESTS,
                            "--only", survived.name, "--only", killed.name, "--equivalent", str(listing), "-q"],
                           env=_env(None), capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert "score: 100.0%" in again.stdout and "nothing reads Trace.depth" in again.stdout


def test_score_leaves_invalid_and_equivalent_out() -> None:
    outcomes = [Outcome("a", "killed", 1), Outcome("b", "timeout", 1), Outcome("c", "survived", 1),
                Outcome("d", "equivalent", 1), Outcome("e", "invalid", 0)]
    assert score(outcomes)["score"] == 66.7


@pytest.mark.parametrize("argv, message", [
    (["no_such_file.py"], "no_such_file.py: no such file"),
    (["README.md"], "not a Python file"),
    ([SAMPLE, "--only", "src:tests/srcmut_sample.py:1:0:Int+1"], "no such mutant"),
    ([SAMPLE, "--sample", "0"], "--sample must be at least 1"),
    ([SAMPLE, "--tests=--no-such-pytest-option"], "the clean model does not pass"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "srcmut", *argv, "-q"], env=_env(None),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


@pytest.mark.parametrize("name, message", [
    ("src:nonsense", "bad source mutant name"),
    ("src:harness/model/gup.py:1:0:Int+1", "no source mutant"),
    ("src:harness/model/nowhere.py:1:0:Int+1", "no such file"),
])
def test_a_bad_generated_mutant_in_the_environment_is_one_line_exit_2(name: str, message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "kernels"], env=_env(name), capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_a_malformed_equivalence_list_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "eq.txt"
    listing.write_text("src:harness/model/gup.py:1:0:Int+1\n")
    with pytest.raises(SrcmutError, match="eq.txt:1: expected"):
        read_equivalent(str(listing))


def test_a_stale_mutant_does_not_apply() -> None:
    ghost = SourceMutant(SAMPLE, 6, 8, "Int+1", "9", "10")
    with pytest.raises(SourceMutantError, match="no longer holds"):
        ghost.check()
