"""The mutation benchmark's mutants and the import hook that applies them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness import scenario as sc
from harness.cli import main
from harness.model.kernels import SWITCHES
from harness.mutants import MUTANTS
from harness.mutate import ROOT, Mutant, MutantError, installed, mutant_env
from harness.mutbench import CleanModel, bench_one
from harness.regression import load
from harness.serialize import to_data
from tests.helpers import pin


def _env(mutant: str | None) -> dict[str, str]:
    return mutant_env(mutant)


def test_this_process_runs_the_clean_model() -> None:
    assert installed() is None


def test_enough_mutants_in_distinct_spots() -> None:
    assert len(MUTANTS) >= 25
    spots = {(m.module, m.old) for m in MUTANTS.values()}
    assert len(spots) == len(MUTANTS)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_applies_to_todays_model(name: str) -> None:
    """A model edit that breaks a mutant's anchor is noticed here (re-anchor the mutant)."""
    mutant = MUTANTS[name]
    source = mutant.path.read_text()
    patched = mutant.patch(source)  # raises unless the old text occurs exactly once
    assert patched != source
    assert patched.count("\n") == source.count("\n"), "a patch must keep line numbers"
    compile(patched, str(mutant.path), "exec")
    assert mutant.profiles and mutant.why


def test_a_patch_that_does_not_apply_fails_in_one_line() -> None:
    ghost = Mutant("ghost", "harness.model.gup", "this text is not in gup.py\n", "x\n", "nothing")
    with pytest.raises(MutantError, match="occurs 0 times") as info:
        ghost.check()
    assert "\n" not in str(info.value)
    twice = Mutant("twice", "harness.model.gup", "return 0\n", "return 1\n", "ambiguous")
    with pytest.raises(MutantError, match="occurs [2-9]"):
        twice.check()


def test_mutants_are_not_kernel_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert not set(MUTANTS) & set(SWITCHES)
    assert main(["kernels", "--json"]) == 0
    listed = capsys.readouterr().out
    assert not [name for name in MUTANTS if name in listed]


def test_unknown_mutant_in_the_environment_is_one_line_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "kernels"], env=_env("no_such_mutant"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "unknown mutant 'no_such_mutant'" in done.stderr


FORK_AFTER_PIN = sc.validate(sc.Scenario((sc.Vma(0, 1),), (pin(0, 1, "FOLL_WRITE"), sc.Fork(), pin(0, 1))))

_VERDICTS = """
import json, sys
from harness.mutate import installed
from harness.mutbench import verdicts
from harness.serialize import from_data
import harness.model.vmops as vmops
print(json.dumps({"mutant": getattr(installed(), "name", None), "file": vmops.__file__,
                  "failures": sorted(verdicts(from_data(json.loads(sys.argv[1])), "mainline"))}))
"""


@pytest.mark.slow
def test_the_patched_model_really_runs() -> None:
    """Fork sharing a pinned page: the clean model copies it for the child, the mutant does
    not, and the parent's next R/O pin then unshares away from the R/W pin."""
    data = json.dumps(to_data(FORK_AFTER_PIN))
    out = {}
    for mutant in (None, "fork_shares_pinned"):
        done = subprocess.run([sys.executable, "-c", _VERDICTS, data], env=_env(mutant), capture_output=True,
                              text=True, timeout=60, check=True)
        out[mutant] = json.loads(done.stdout)
    assert out[None] == {"mutant": None, "file": out[None]["file"], "failures": []}
    assert out["fork_shares_pinned"]["mutant"] == "fork_shares_pinned"
    assert "pin_coherence" in out["fork_shares_pinned"]["failures"]
    # the patched module keeps its real file name (tracebacks point at the real source)
    assert out["fork_shares_pinned"]["file"] == str(ROOT / "harness" / "model" / "vmops.py")


def test_clean_model_subprocess_reports_known_failures() -> None:
    """What the benchmark sets aside: a corpus bug fails on its profile in the clean model."""
    reg = load(ROOT / "regressions" / "zero-pfn-longterm-livelock.json")
    clean = CleanModel()
    try:
        assert clean.failures(reg.scenario, "v5.19-rc1") == {"terminates"}
        assert clean.failures(reg.scenario, "mainline") == frozenset()
    finally:
        clean.close()


@pytest.mark.slow
def test_a_cheap_mutant_is_caught_by_a_short_search() -> None:
    result = bench_one(MUTANTS["fast_error_leaks_prefix"], seeds=1, max_examples=300)
    assert result["error"] is None
    assert result["caught"] == 1 and result["searches"] == 1
    assert "pin_balance" in result["by"]


@pytest.mark.slow
def test_hunt_with_a_mutant_reruns_itself_patched() -> None:
    """hunt --mutant runs the search in a fresh interpreter with the patch installed (a short
    search of a property the mutant does not touch: the detection itself is tested above)."""
    done = subprocess.run([sys.executable, "-m", "harness", "hunt", "--kernel", "mainline", "--mutant",
                           "fork_shares_pinned", "--property", "terminates", "--max-examples", "20", "--seed", "0"],
                          env=_env(None), capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "model patched by mutant fork_shares_pinned" in done.stdout
    assert main(["hunt", "--kernel", "mainline", "--mutant", "no_such_mutant"]) == 2


def test_mutants_listing_shows_the_diff(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--mutants", "--list", "--only", "fork_shares_pinned"]) == 0
    out = capsys.readouterr().out
    mutant = MUTANTS["fork_shares_pinned"]
    assert f"-{mutant.old.rstrip()}" in out and f"+{mutant.new.rstrip()}" in out
    assert main(["mutants", "--only", "no_such"]) == 2
