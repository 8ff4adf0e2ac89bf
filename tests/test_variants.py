"""Entry-point variants: which entry points can make a call, and replay reporting a variant
that fails where its original holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import scenario as sc
from harness.cli import main
from harness.model import gup
from harness.regression import Regression, dumps
from harness.variants import alternatives, check_variants, variants

GUP_AFTER_FORK = sc.Scenario((sc.Vma(0, 1, faulted="w"),), (
    sc.Fork(), sc.Gup("get_user_pages", 0, 1, process=1), sc.MadvDontneed(0, 1, 1), sc.CpuWrite(0)))


def test_a_plain_get_is_also_made_by_fast_remote_and_vmsplice() -> None:
    assert {a.api for a in alternatives(GUP_AFTER_FORK, 1)} == {
        "get_user_pages_fast", "get_user_pages_remote", "vmsplice"}
    assert all(a.process == 1 and a.start == 0 for a in alternatives(GUP_AFTER_FORK, 1))


def test_a_caller_variant_needs_the_same_flags_and_to_hold_what_is_released() -> None:
    longterm = sc.Scenario((sc.Vma(0, 1),), (sc.Gup("pin_user_pages", 0, 1, ("FOLL_WRITE", "FOLL_LONGTERM")),
                                             sc.Release(0)))
    assert {a.api for a in alternatives(longterm, 0)} == {
        "pin_user_pages_fast", "pin_user_pages_remote", "io_uring_register_buffers"}
    # a short-term R/O pin is what process_vm_readv and O_DIRECT writes make, but they keep nothing:
    # no variant of a call a later op releases
    released = sc.Scenario((sc.Vma(0, 1),), (sc.Gup("pin_user_pages", 0, 1), sc.Release(0)))
    assert {a.api for a in alternatives(released, 0)} == {"pin_user_pages_fast", "pin_user_pages_remote"}
    kept = sc.Scenario((sc.Vma(0, 1),), (sc.Gup("pin_user_pages", 0, 1),))
    assert {"process_vm_readv", "odirect_write"} <= {a.api for a in alternatives(kept, 0)}


def test_a_caller_original_passes_its_own_flags_to_the_kernel_apis() -> None:
    dirty = sc.Scenario((sc.Vma(0, 1, prot="r", backing="file"),), (sc.Gup("proc_mem_write", 0, 1),))
    by_api = {a.api: a for a in alternatives(dirty, 0)}
    assert set(by_api) == {"get_user_pages", "get_user_pages_fast", "get_user_pages_remote"}
    assert set(by_api["get_user_pages_remote"].flags) == {"FOLL_WRITE", "FOLL_FORCE"}
    assert alternatives(sc.Scenario((sc.Vma(0, 1),), (sc.Gup("madv_populate_write", 0, 1),)), 0) == ()


def _leaky_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GUP-fast that takes one reference too many on every page it grabs (a fault only the
    fast entry points have)."""
    real = gup.gup_fast

    def leaky(k, mm, start, nr_pages, gup_flags, pages):  # type: ignore[no-untyped-def]
        nr = real(k, mm, start, nr_pages, gup_flags, pages)
        for folio in pages[len(pages) - nr:]:
            folio.refcount += 1
        return nr

    monkeypatch.setattr(gup, "gup_fast", leaky)


SLOW_PIN = sc.Scenario((sc.Vma(0, 1, faulted="w"),), (sc.Gup("pin_user_pages", 0, 1), sc.Release(0)))


def test_a_fault_only_in_the_fast_path_shows_in_the_fast_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    _leaky_fast(monkeypatch)
    verdicts = {v.variant.api: v for v in check_variants(SLOW_PIN, "mainline", set())}
    assert "pin_balance" in verdicts["pin_user_pages_fast"].new_failures
    assert verdicts["pin_user_pages_remote"].new_failures == ()


def test_replay_reports_the_failing_variant_and_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "slow-pin.json"
    path.write_text(dumps(Regression("a slow pin, released", SLOW_PIN, {"default": ()})))
    assert main(["replay", str(path), "--kernel", "mainline"]) == 0  # without the fault
    capsys.readouterr()
    _leaky_fast(monkeypatch)
    assert main(["replay", str(path), "--kernel", "mainline"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "ok " in out and "all properties hold" in out  # the file itself still holds
    assert "VARIANT FAILS" in out and "op 0: pin_user_pages -> pin_user_pages_fast: pin_balance" in out
    assert main(["replay", str(path), "--kernel", "mainline", "--no-variants"]) == 0
    capsys.readouterr()
    assert main(["replay", str(path), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    flagged = [e for e in data if "variant" in e]
    assert flagged and all("pin_balance" in e["new_failures"] for e in flagged)
    assert {e["kernel"] for e in flagged} >= {"v5.7", "mainline"}  # every profile with FOLL_PIN


def test_every_corpus_variant_is_a_valid_scenario() -> None:
    from harness.regression import load
    root = Path(__file__).resolve().parent.parent / "regressions"
    count = sum(len(variants(load(p).scenario)) for p in root.glob("*.json"))
    assert count >= 20


# -- the search's entry-point family --------------------------------------------------------

def test_the_family_moves_every_kernel_call_to_each_form_and_keeps_callers() -> None:
    from harness.variants import entry_point_family

    scenario = sc.validate(sc.Scenario((sc.Vma(0, 2, faulted="ww"),), (
        sc.Gup("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)), sc.Gup("get_user_pages_remote", 1, 1),
        sc.Gup("vmsplice", 0, 1), sc.CpuWrite(0))))
    family = entry_point_family(scenario)
    assert family[0] == scenario
    apis = [tuple(op.api for op in member.ops if isinstance(op, sc.Gup)) for member in family[1:]]
    assert apis == [("pin_user_pages", "get_user_pages", "vmsplice"),
                    ("pin_user_pages_fast", "get_user_pages_fast", "vmsplice"),
                    ("pin_user_pages_remote", "get_user_pages_remote", "vmsplice")]
    assert all(m.ops[3] == sc.CpuWrite(0) and m.ops[0].flags == ("FOLL_LONGTERM",) for m in family)  # type: ignore[union-attr]
    only_callers = sc.Scenario((sc.Vma(0, 1),), (sc.Gup("vmsplice", 0, 1),))
    assert entry_point_family(only_callers) == [only_callers]


def test_the_search_finds_a_bug_only_a_variant_has_and_reports_that_variant(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every generated call is the slow pin_user_pages; a path bug lives only in GUP-fast.
    The search checks each example's family, so it finds it, and the counterexample it
    reports (and shrinks and reduces) is the fast variant that fails, not the original."""
    from hypothesis import strategies as st

    from harness import search as search_module
    from harness.search import search

    real = search_module._failing_one

    def fast_is_broken(scenario: sc.Scenario, profile: object, names: object) -> dict[str, str]:
        fast = [op for op in scenario.ops if isinstance(op, sc.Gup) and op.api == "pin_user_pages_fast"]
        if fast:
            return {"pin_balance": "GUP-fast leaks a pin (deliberately broken)"}
        return real(scenario, profile, names)  # type: ignore[arg-type]

    monkeypatch.setattr(search_module, "_failing_one", fast_is_broken)
    slow_only = st.builds(lambda n: sc.validate(sc.Scenario((sc.Vma(0, 4, faulted="w" * 4),), (
        sc.Gup("pin_user_pages", 0, n),))), st.integers(1, 4))
    found = search("mainline", ["pin_balance"], strategy=slow_only, max_examples=20, database=None)
    assert found.counterexample is not None
    assert [op.api for op in found.counterexample.ops] == ["pin_user_pages_fast"]  # type: ignore[union-attr]
    assert found.counterexample.ops[0].pages == 1  # type: ignore[union-attr]
