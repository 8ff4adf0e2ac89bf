"""Interaction families (harness/families.py), `gupharness stats`, and that the default
generation reaches every family and every API x flag mix a profile can express."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import scenario as sc
from harness.cli import main
from harness.families import FAMILIES, FLAG_MIXES, call_mixes, families, possible_mix
from harness.model.kernels import get_profile
from harness.run import run_scenario
from harness.stats import collect, render
from tests.helpers import one, pin

W = sc.Vma(0, 1, faulted="w")
RW_PIN = pin(0, 1, "FOLL_WRITE")
GET = sc.Gup("get_user_pages", 0, 1)

#: family -> (a scenario that has it, the same story without the interaction, profile)
CASES: dict[str, tuple[tuple[sc.Op, ...], tuple[sc.Op, ...], str]] = {
    "pin_held_across_fork": ((RW_PIN, sc.Fork()), (RW_PIN, sc.Release(0), sc.Fork()), "v5.8"),
    "pinner_writes_after_fork": ((RW_PIN, sc.Fork(), sc.CpuWrite(0)), (RW_PIN, sc.Fork(), sc.CpuWrite(0, 1)),
                                 "v5.8"),
    "write_to_page_held_by_other": ((sc.Fork(), sc.Gup("get_user_pages", 0, 1, process=1), sc.CpuWrite(0)),
                                    (sc.Fork(), sc.Gup("get_user_pages", 0, 1, process=1), sc.CpuWrite(0, 1)),
                                    "v4.9"),
    "write_to_ro_pinned_anon": ((pin(0, 1), sc.CpuWrite(0)), (RW_PIN, sc.CpuWrite(0)), "mainline"),
    "write_to_ro_pinned_other": ((pin(0, 1), sc.CpuWrite(0)), (pin(0, 1), sc.Release(0), sc.CpuWrite(0)), "mainline"),
    "dma_write_after_fork": ((RW_PIN, sc.Fork(), sc.DmaWrite(0)), (RW_PIN, sc.DmaWrite(0), sc.Fork()), "v5.8"),
    "gup_on_shared_page_parent": ((sc.Fork(), GET), (sc.Fork(), sc.CpuWrite(0), GET), "mainline"),
    "gup_on_shared_page_child": ((sc.Fork(), sc.Gup("get_user_pages", 0, 1, process=1)),
                                 (sc.Fork(), sc.Exit(1), GET), "mainline"),
    "write_to_shared_page_parent": ((sc.Fork(), sc.CpuWrite(0)), (sc.Fork(), sc.CpuWrite(0, 1)), "mainline"),
    "write_to_shared_page_child": ((sc.Fork(), sc.CpuWrite(0, 1)), (sc.Fork(), sc.CpuWrite(0)), "mainline"),
    "madv_dontneed_of_held_page": ((GET, sc.MadvDontneed(0, 1)), (GET, sc.Release(0), sc.MadvDontneed(0, 1)),
                                   "mainline"),
    "munmap_of_held_page": ((GET, sc.Munmap(0, 1)), (GET, sc.Release(0), sc.Munmap(0, 1)), "mainline"),
    "exit_sharing_held_page": ((sc.Fork(), sc.Gup("get_user_pages", 0, 1, process=1), sc.Exit(1)),
                               (sc.Fork(), sc.Exit(1)), "v4.9"),
    "zap_racing_with_gup": ((sc.Gup("get_user_pages", 0, 1, interleave=(sc.MadvDontneed(0, 1),)),),
                            (sc.Gup("get_user_pages", 0, 1, interleave=(sc.CpuWrite(0),)),), "mainline"),
    "child_exit_while_sharing": ((sc.Fork(), sc.Exit(1)), (sc.Fork(), sc.CpuWrite(0, 1), sc.Exit(1)), "mainline"),
    "repin_of_held_page": ((RW_PIN, RW_PIN), (RW_PIN, sc.Release(0), RW_PIN), "mainline"),
    "many_holds_of_one_page": ((GET, GET, GET), (GET, sc.Release(0), GET, GET), "mainline"),
}
#: families whose case needs another layout than W: a read-faulted page of a private file mapping
LAYOUTS = {"write_to_ro_pinned_other": sc.Vma(0, 1, share="private", backing="file", faulted="r")}


def test_every_family_has_a_case() -> None:
    assert set(CASES) == set(FAMILIES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_family_is_detected_with_the_interaction_and_not_without(name: str) -> None:
    has, lacks, kernel = CASES[name]
    layout = LAYOUTS.get(name, W)
    assert name in families(one(layout, *has, kernel=kernel))
    assert name not in families(one(layout, *lacks, kernel=kernel))


def test_families_follow_the_run_not_only_the_scenario() -> None:
    """A GUP in the child after it COW-broke the page away shares nothing: no family."""
    ops = (sc.Fork(), sc.CpuWrite(0, 1), sc.Gup("get_user_pages", 0, 1, process=1))
    assert "gup_on_shared_page_child" not in families(one(W, *ops))


def test_call_mixes_include_a_callers_own_flags() -> None:
    assert call_mixes(sc.Gup("io_uring_register_buffers", 0, 1)) == ("R/W", "LONGTERM")
    assert call_mixes(sc.Gup("proc_mem_read", 0, 1)) == ("R/O", "FORCE")
    assert call_mixes(pin(0, 1, "FOLL_LONGTERM")) == ("R/O", "LONGTERM")
    v49 = get_profile("v4.9")
    assert not possible_mix(v49, "pin_user_pages", "R/O") and not possible_mix(v49, "get_user_pages", "LONGTERM")
    assert not possible_mix(get_profile("mainline"), "vmsplice", "R/W")


@pytest.mark.slow
def test_default_generation_reaches_every_family_and_every_expressible_call() -> None:
    # In a fresh process: Hypothesis (6.13x on) draws some integers from the literals of every
    # local module loaded so far, so in this process the stream would depend on which test
    # modules ran before (in the full suite a family near 1% came out at 0 in some orders).
    out = subprocess.run([sys.executable, "-m", "harness", "stats", "--kernel", "mainline", "--examples", "1500",
                          "--seed", "0", "--json"], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    data = json.loads(out.stdout)
    assert data["examples"] == 1500
    missing = [name for name, share in data["families"].items() if not share]
    missing += [f"{api} {mix}" for api, row in data["calls"].items() for mix, share in row.items() if share == 0]
    assert not missing, f"never generated in 1500 scenarios: {missing}"
    assert data["mean_ops"] > 3


def test_stats_highlights_a_family_at_zero(capsys: pytest.CaptureFixture[str]) -> None:
    data = collect("v5.8", 20, seed=1)
    data["families"] = {name: 0.0 if name == "exit_sharing_held_page" else 0.5 for name in FAMILIES}
    data["calls"] = {"vmsplice": {m: (0.0 if m == "R/O" else None) for m in FLAG_MIXES}}
    from rich.console import Console
    console = Console(record=True, width=200)
    console.print(render(data))
    text = console.export_text()
    assert "never generated: exit_sharing_held_page, vmsplice R/O" in text
    styled = console.export_html()
    assert "background-color" in styled  # the 0% cells are drawn on a coloured background


def test_stats_command_json_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--kernel", "v5.8", "--examples", "30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kernel"] == "v5.8" and data["examples"] == 30 and set(data["families"]) == set(FAMILIES)
    assert data["calls"]["io_uring_register_buffers"]["R/O"] is None
    assert main(["stats", "--examples", "0"]) == 2
    assert "--examples must be at least 1" in capsys.readouterr().err
    assert main(["stats", "--kernel", "v9"]) == 2


def test_family_detection_of_a_livelocked_run_stops_at_the_livelock() -> None:
    run = run_scenario(sc.Scenario((sc.Vma(0, 1, faulted="r"),), (pin(0, 1, "FOLL_LONGTERM"), sc.Fork())),
                       "v5.19-rc1")
    assert run.livelock is not None and families(run) == frozenset()
