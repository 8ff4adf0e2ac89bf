"""`gupharness hunt --kernel live`: the property search on the running kernel.

On this kernel a short hunt with the real properties finds nothing; a deliberately wrong
property (the kernel legitimately maps the zero page on a read fault) is found, shrunk on the
kernel, saved with "live": true, printed with the kernel's and the model's view side by side,
and the saved file loads and replays. Bad input is one line and exit status 2, with or
without a kernel to drive.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.live import LiveCheck, LiveVerdict, registered
from harness.live.history import History
from harness.oracle import Availability, availability
from harness.regression import load

AVAILABLE = availability()
NEEDS_KERNEL = pytest.mark.skipif(not AVAILABLE.ok, reason=f"live-kernel oracle: {AVAILABLE.reason}")
ROOT = Path(__file__).resolve().parent.parent


def never_the_zero_page(h: History) -> LiveVerdict:
    """Wrong on purpose: a read fault in a private anonymous mapping maps the zero page."""
    for step in h.live.steps:
        for page, seen in enumerate(step.pages):
            if seen.zero:
                return LiveVerdict(f"page {page} maps the zero page after op {step.op}", 1)
    return LiveVerdict(None, len(h.live.steps))


WRONG = LiveCheck("never_the_zero_page", "partial", "deliberately wrong: the kernel maps the zero page on a read "
                  "fault", never_the_zero_page)


@pytest.mark.live
@NEEDS_KERNEL
def test_a_short_live_hunt_finds_nothing_on_this_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hunt", "--kernel", "live", "--max-examples", "25", "--seed", "4", "--no-save", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["failure"] is None and data["examples"] == 25
    assert set(data["properties"]) >= {"terminates", "pin_coherence", "private_stays_private", "pin_balance",
                                       "zero_page_never_pinned_writable"}
    # every example returned every op, and the contents of every process were read back
    assert data["judged_examples"]["terminates"] == 25
    assert data["checked_steps"]["private_stays_private"] > 25
    assert data["examples_per_second"] > 0


@pytest.mark.live
@NEEDS_KERNEL
def test_a_wrong_property_is_found_shrunk_saved_and_replayed(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    with registered(WRONG):
        status = main(["hunt", "--kernel", "live", "--property", "never_the_zero_page", "--max-examples", "200",
                       "--seed", "1", "--root", str(tmp_path)])
        out = capsys.readouterr().out
        assert status == 1
        # the kernel's and the model's view, side by side, step by step and verdict by verdict
        assert "model (mainline) vs kernel" in out and "model pages" in out and "kernel pages" in out
        assert "verdicts: the kernel" in out and "never_the_zero_page" in out and "not a model property" in out
        saved = sorted((tmp_path / "regressions" / "pending").glob("*.json"))
        assert len(saved) == 1 and "saved: " in out
        reg = load(saved[0])
        assert reg.live and "never_the_zero_page" in reg.origin["live_failures"]
        # shrunk on the kernel: one VMA of at most two pages, and the one call every scenario starts with
        assert "with shrinking" in out
        assert len(reg.scenario.layout) == 1 and len(reg.scenario.ops) == 1 and reg.scenario.span <= 2
        # replayed on the kernel: the recorded failure reproduces (exit 1)
        assert main(["replay", str(saved[0]), "--kernel", "live"]) == 1
        replayed = capsys.readouterr().out
        assert "never_the_zero_page — reproduces" in replayed
    # without the wrong property, every real live property holds on it, and the model's
    # expectations recorded in the file hold too
    assert main(["replay", str(saved[0]), "--kernel", "live"]) == 0
    assert main(["replay", str(saved[0])]) == 0


def test_bad_input_is_one_line_and_status_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    def status(*args: str) -> tuple[int, str]:
        code = main(["hunt", "--kernel", "live", "--root", str(tmp_path), *args])
        err = capsys.readouterr().err
        return code, err

    for args, says in ((["--property", "nosuch"], "unknown property 'nosuch'"),
                       (["--property", "refcount_accounting"], "cannot be checked on the live kernel"),
                       (["--max-examples", "0"], "--max-examples"),
                       (["--mutant", "anything"], "--mutant"),
                       (["--new"], "--new")):
        code, err = status(*args)
        assert code == 2 and says in err and err.count("\n") == 1, (args, err)
    # a machine that cannot drive the kernel: say what is missing
    import harness.oracle as oracle
    monkeypatch.setattr(oracle, "availability", lambda: Availability(False, "not root: PFNs hidden"))
    code, err = status("--max-examples", "3")
    assert code == 2 and "not root" in err and err.count("\n") == 1
    assert main(["replay", str(ROOT / "regressions" / "oracle-mprotect-stops-at-hole.json"), "--kernel", "live"]) == 2
    assert "not root" in capsys.readouterr().err


def test_properties_lists_the_live_capability(capsys: pytest.CaptureFixture[str]) -> None:
    from properties import PROPERTIES

    assert main(["properties"]) == 0
    out = capsys.readouterr().out
    assert out.count("live: ") >= len(PROPERTIES)
    assert "live: yes" in out and "live: partial" in out and "live: no" in out
    assert f"of {len(PROPERTIES)}" in out


@pytest.mark.live
@NEEDS_KERNEL
def test_probes_see_each_write_where_it_lands() -> None:
    """The live checks are not vacuous: a write's tag shows where the kernel put it, and nowhere else."""
    from harness import scenario as sc
    from harness.oracle import run_live
    from harness.oracle.probe import LAYOUT_TAG, tag

    layout = (sc.Vma(0, 1, share="shared", backing="file"), sc.Vma(1, 1, backing="file"),
              sc.Vma(2, 1, faulted="w"))
    ops = (sc.CpuWrite(0), sc.Gup("proc_mem_write", 1, 1), sc.Fork(), sc.CpuWrite(2), sc.Gup(
        "io_uring_register_buffers", 2, 1), sc.DmaWrite(4, 0), sc.DmaRead(4, 0))
    scenario = sc.validate(sc.Scenario(layout, ops))
    run = run_live(scenario, probe=True)
    assert run.error is None, run.error
    last = [p for p in run.probes if p.op == len(ops) - 1][0]
    assert last.files[0] == (tag(0),)  # the shared write is in the file
    assert last.files[1][0] not in (tag(1),)  # the forced write through the private mapping is not
    assert last.views[0] == (tag(0), tag(1), tag(5))  # process 0: its own writes, the device's last
    assert last.views[1][1:] == (tag(1), LAYOUT_TAG)  # the child: what pages 1 and 2 held at the fork
    assert [d.seen for d in run.dma if d.kind == "dma_read"] == [tag(5)]
    assert last.vmpin == 4 and run.probes[-1].op is None and run.probes[-1].vmpin == 0
