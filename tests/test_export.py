"""`gupharness export`: regression files as standalone C reproducers (kselftest style, TAP).

The programs must compile with `cc -Wall -Werror`, and on this kernel their TAP verdict must
be the live comparison's (`harness.conform.compare` agrees <=> every test point is ok). The
compile tests skip without a C compiler; the run tests also without root, io_uring or
/proc/kpageflags (the oracle's own availability check), with the reason.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import attrs
import pytest

from harness import scenario as sc
from harness.cli import main
from harness.conform import compare, model_layout_observation
from harness.export import emit
from harness.export.emit import ExportError, decode_token, export_c, page_token
from harness.observe import IDENTITIES, PageObservation
from harness.oracle import availability, run_live
from harness.regression import Regression, RegressionError, load
from harness.run import run_scenario
from strategies.drivable import not_drivable

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "regressions").glob("*.json"))
SEED = ROOT / "regressions" / "zero-pfn-longterm-livelock.json"
CC = shutil.which("cc")
AVAILABLE = availability()
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler (cc) on PATH")
needs_live = pytest.mark.skipif(not AVAILABLE.ok, reason=f"live-kernel oracle: {AVAILABLE.reason}")


def pin(start: int, pages: int = 1, process: int = 0) -> sc.Gup:
    return sc.Gup("io_uring_register_buffers", start, pages, process=process)


#: drivable scenarios the corpus does not cover: device writes and reads through pins, ops in
#: forked processes, exits of a child and of process 0, the remaining callers
EXTRA = {
    "dma-across-fork": sc.Scenario((sc.Vma(0, 1, faulted="w"),), (
        pin(0), sc.DmaWrite(0), sc.Fork(), sc.CpuWrite(0), sc.DmaRead(0), sc.DmaWrite(0), sc.Release(0))),
    "vmsplice-in-child-then-exit": sc.Scenario((sc.Vma(0, 1, faulted="w"),), (
        sc.Fork(), sc.Gup("vmsplice", 0, 1, process=1), sc.CpuWrite(0), sc.DmaRead(1), sc.Exit(1), sc.Release(1))),
    "callers-then-exit": sc.Scenario((sc.Vma(0, 2, faulted="rw"), sc.Vma(3, 1, share="shared", backing="shmem")), (
        sc.Gup("process_vm_writev", 0, 2), sc.Gup("proc_mem_write", 3, 1), sc.Gup("proc_mem_read", 0, 1),
        sc.Gup("process_vm_readv", 0, 2), sc.Gup("madv_populate_write", 0, 2), sc.MadvDontneed(0, 1),
        sc.Mprotect(3, 1, "r"), sc.Munmap(1, 1), sc.Exit(0), sc.CpuRead(0))),
    "pin-in-child-outlives-parent": sc.Scenario((sc.Vma(0, 2, share="shared"),), (
        sc.Fork(), pin(0, 2, process=1), sc.Exit(0), sc.DmaWrite(1, 1), sc.DmaRead(1, 0), sc.Release(1))),
}


@functools.cache
def loaded_corpus() -> tuple[tuple[Path, Regression], ...]:
    """The regression files that load, read on first use, never at import: a broken file is the
    corpus plugin's own failing item and must not stop this module from being collected."""
    loaded = []
    for path in CORPUS:
        try:
            loaded.append((path, load(path)))
        except RegressionError:
            continue
    return tuple(loaded)


def drivable_corpus() -> list[Path]:
    return [path for path, reg in loaded_corpus() if not_drivable(reg.scenario) is None]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.name == "test_export_refuses_a_file_the_live_kernel_cannot_drive_in_one_line":
        metafunc.parametrize("path", [path for path, reg in loaded_corpus() if not_drivable(reg.scenario)],
                             ids=lambda p: p.stem)


# ---- the emitter, no compiler needed ------------------------------------------------------------

def test_page_tokens_spell_every_observation_the_model_and_the_kernel_make() -> None:
    pages = [PageObservation(present=False)]
    pages += [PageObservation(True, zero=True, identity=i) for i in IDENTITIES[1:]]
    pages += [PageObservation(True, anon=a, mapped_once=o, identity=i)
              for a in (False, True) for o in (False, True) for i in IDENTITIES[1:]]
    tokens = [page_token(p) for p in pages]
    assert len(set(tokens)) == len(pages)
    assert [decode_token(t) for t in tokens] == pages
    assert page_token(PageObservation(True, anon=True, identity="replaced")) == "a*"
    with pytest.raises(ExportError):
        page_token(PageObservation(True, zero=True, anon=True, identity="same"))


def expected_table(program: str) -> list[tuple[str, str]]:
    """(result, pages) of each row of the program's expected[] table."""
    table = program.split("static const struct expect expected", 1)[1].split("};", 1)[0]
    return re.findall(r'\{ (\S+), "([^"]*)" \}', table)


@pytest.mark.parametrize("path", [p for p in CORPUS if p.name.startswith("oracle-")], ids=lambda p: p.stem)
def test_the_program_embeds_the_models_mainline_observations(path: Path) -> None:
    reg = load(path)
    rows = expected_table(export_c(reg, path.name))
    run = run_scenario(reg.scenario, "mainline", trace=False)
    want = [("NO_RESULT", model_layout_observation(reg.scenario))]
    want += [(emit.c_result(s.result), s.pages) for s in run.observations]
    assert len(rows) == len(want) == 1 + len(reg.scenario.ops)
    for (result, tokens), (want_result, pages) in zip(rows, want):
        assert result == want_result
        assert tuple(decode_token(t) for t in tokens.split(" ")) == pages


def test_the_header_names_the_scenario_the_failing_profiles_and_the_commits() -> None:
    reg = Regression("zero page pin", sc.Scenario((sc.Vma(0, 1, faulted="r"),), (pin(0),)),
                     {"default": (), "v5.19-rc1": ("terminates",)},
                     {"commits": ["1c563432588d"], "thread": "https://lore.kernel.org/x"})
    header = export_c(reg, "seed.json").split("*/", 1)[0]
    assert "zero page pin" in header
    assert "page 0: rw private anonymous, faulted r" in header
    assert "op 0: gup(api=io_uring_register_buffers, start=0, pages=1, flags=0)" in header
    assert re.search(r"v5\.19-rc1: terminates \(1c563432588d", header)
    assert "other profiles: every property holds" in header
    assert "Commits: 1c563432588d" in header and "https://lore.kernel.org/x" in header
    assert "gupharness conform --file seed.json" in header


def test_a_program_carries_only_the_code_its_scenario_uses() -> None:
    reg = load(ROOT / "regressions" / "oracle-gup-fast-skips-protnone.json")
    program = export_c(reg, "x.json")
    assert "op_gup_vmsplice(" in program and "io_uring" not in program and "op_fork(" not in program
    assert "int main(void)" in program and "TAP version 13" in program and "alarm(TIMEOUT_SECONDS)" in program
    rich = export_c(Regression("t", EXTRA["dma-across-fork"], {"default": ()}), "t.json")
    assert "#include <linux/io_uring.h>" in rich and "op_dma_write(1, 0, 0)" in rich and "op_fork(" in rich


def test_export_refuses_a_file_the_live_kernel_cannot_drive_in_one_line(
        path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x.c"
    assert main(["export", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not drivable on a live kernel" in err
    assert not_drivable(load(path).scenario) in err
    assert not out.exists()


def test_the_seed_is_not_drivable_here_its_pin_is_a_kernel_only_ro_longterm_pin(
        capsys: pytest.CaptureFixture[str]) -> None:
    """No userspace caller takes a R/O FOLL_LONGTERM pin on this kernel (io_uring's is a write
    pin, which COWs the zero page away): the seed cannot be exported as a live reproducer."""
    assert main(["export", str(SEED)]) == 2
    assert "pin_user_pages is a kernel API" in capsys.readouterr().err


def test_export_writes_to_stdout_or_to_the_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = ROOT / "regressions" / "oracle-madv-populate-faults-before-hole.json"
    assert main(["export", str(path)]) == 0
    printed = capsys.readouterr().out
    assert main(["export", str(path), "--format", "c", "-o", str(tmp_path / "r.c")]) == 0
    assert (tmp_path / "r.c").read_text() == printed == export_c(load(path), str(path))
    assert main(["export", str(path), "--format", "py"]) == 2
    assert main(["export", str(path), "-o", str(tmp_path / "no" / "r.c")]) == 2


# ---- compiled programs --------------------------------------------------------------------------

@attrs.frozen
class Program:
    scenario: sc.Scenario
    binary: Path


def compile_all(sources: dict[str, str], directory: Path, *defines: str) -> dict[str, Path]:
    """Compile every program in `directory`, in parallel; -Wall -Werror."""
    assert CC is not None
    jobs = {}
    for name, text in sources.items():
        (directory / f"{name}.c").write_text(text)
        jobs[name] = subprocess.Popen([CC, "-Wall", "-Werror", "-O1", *defines, "-o", str(directory / name),
                                       str(directory / f"{name}.c")], stderr=subprocess.PIPE, text=True)
    for name, job in jobs.items():
        _, err = job.communicate()
        assert job.returncode == 0, f"{name}.c does not compile cleanly:\n{err}"
    return {name: directory / name for name in sources}


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Program]:
    if CC is None:
        pytest.skip("no C compiler (cc) on PATH")
    scenarios = {p.stem: load(p).scenario for p in drivable_corpus()} | EXTRA
    sources = {name: export_c(Regression(name, s, {"default": ()}), f"{name}.json") for name, s in scenarios.items()}
    binaries = compile_all(sources, tmp_path_factory.mktemp("export"))
    return {name: Program(scenarios[name], binaries[name]) for name in scenarios}


@attrs.frozen
class Tap:
    plan: int
    points: list[tuple[bool, int, str]]
    diagnostics: list[str]
    status: int

    @property
    def all_ok(self) -> bool:
        return self.status == 0 and len(self.points) == self.plan and all(ok for ok, _, _ in self.points)


def run_tap(binary: Path, **kwargs: object) -> Tap:
    done = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60, **kwargs)  # type: ignore[call-overload]
    lines = done.stdout.splitlines()
    assert lines[0] == "TAP version 13", done.stdout
    plan = int(re.fullmatch(r"1\.\.(\d+)( # SKIP .*)?", lines[1]).group(1))  # type: ignore[union-attr]
    points = [(m.group(1) is None, int(m.group(2)), m.group(3))
              for m in (re.fullmatch(r"(not )?ok (\d+) - (.*)", line) for line in lines[2:]) if m]
    assert [n for _, n, _ in points] == list(range(1, len(points) + 1))
    return Tap(plan, points, [line for line in lines if line.startswith("#")], done.returncode)


@pytest.mark.slow
@needs_cc
def test_every_drivable_corpus_file_exports_and_compiles(programs: dict[str, Program]) -> None:
    drivable = drivable_corpus()
    assert len(drivable) >= 8  # the oracle-* files
    assert {p.stem for p in drivable} <= set(programs)


@pytest.mark.slow
@needs_cc
@needs_live
def test_each_program_reports_on_this_kernel_what_the_live_comparison_reports(programs: dict[str, Program]) -> None:
    for name, program in programs.items():
        tap = run_tap(program.binary)
        comparison = compare(program.scenario)
        assert tap.all_ok == comparison.agree, f"{name}: TAP {tap} vs conform {comparison.first_mismatch}"
        assert tap.plan == 1 + len(program.scenario.ops)
        assert tap.points[0][2] == "layout"


@pytest.mark.slow
@needs_cc
@needs_live
def test_device_accesses_are_reported_like_the_oracle_sees_them(programs: dict[str, Program]) -> None:
    tap = run_tap(programs["dma-across-fork"].binary)
    live = run_live(EXTRA["dma-across-fork"])
    seen = {f"# op {c.op} {c.kind}: " + ("device and mapping agree" if c.coherent else "device and mapping DISAGREE")
            for c in live.dma}
    assert seen and seen <= set(tap.diagnostics)


@needs_cc
@needs_live
def test_a_kernel_that_differs_from_the_prediction_gets_not_ok_with_the_difference(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that predicts a COW where the kernel keeps the page: op 0's point is not ok, and
    the diagnostic is the field conform would name."""
    scenario = sc.Scenario((sc.Vma(0, 1, faulted="w"),), (pin(0), sc.CpuWrite(0)))
    real = emit.predict(scenario)
    assert real.steps[0][1][0].identity == "same"
    wrong = attrs.evolve(real, steps=((real.steps[0][0], (attrs.evolve(real.steps[0][1][0], identity="replaced"),)),
                                      *real.steps[1:]))
    monkeypatch.setattr(emit, "predict", lambda s: wrong)
    binary = compile_all({"wrong": export_c(Regression("w", scenario, {"default": ()}), "w.json")}, tmp_path)["wrong"]
    tap = run_tap(binary)
    assert [ok for ok, _, _ in tap.points] == [True, False, True]
    assert "# page 0 identity: model replaced, kernel same" in tap.diagnostics
    assert tap.status == 1


@pytest.mark.slow
@needs_cc
@needs_live
def test_an_operation_that_never_returns_is_reported_hung_within_the_bound(tmp_path: Path) -> None:
    scenario = load(ROOT / "regressions" / "oracle-mprotect-stops-at-hole.json").scenario
    source = export_c(Regression("h", scenario, {"default": ()}), "h.json")
    binary = compile_all({"hang": source}, tmp_path, "-DSIMULATE_HANG_AT_OP=1", "-DTIMEOUT_SECONDS=1")["hang"]
    tap = run_tap(binary)
    assert tap.plan == 3 and tap.status == 1
    assert [ok for ok, _, _ in tap.points] == [True, True, False]
    assert tap.points[2][2] == "op 1: cpu_write(page=0): hung (no return within 1 s)"


@pytest.mark.slow
@needs_cc
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the program as another user")
def test_without_root_the_program_skips_with_the_reason(programs: dict[str, Program]) -> None:
    with tempfile.TemporaryDirectory() as directory:  # pytest's own tmp dirs are private to root
        binary = Path(shutil.copy(programs["oracle-gup-fast-skips-protnone"].binary, directory))
        os.chmod(directory, 0o755)
        os.chmod(binary, 0o755)
        done = subprocess.run([str(binary)], capture_output=True, text=True, timeout=60, user=65534, group=65534)
    assert done.returncode == 4
    assert done.stdout.splitlines()[1].startswith("1..0 # SKIP not root")


@needs_cc
@needs_live
def test_an_op_the_model_does_not_finish_is_not_ok_and_ends_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in conform: where the model stops (a livelock on mainline would), the kernel's step
    has nothing to match, and the ops after it are not run."""
    scenario = load(ROOT / "regressions" / "oracle-mprotect-stops-at-hole.json").scenario
    real = emit.predict(scenario)
    monkeypatch.setattr(emit, "predict", lambda s: attrs.evolve(real, steps=real.steps[:0], stopped="livelock: test"))
    binary = compile_all({"stop": export_c(Regression("s", scenario, {"default": ()}), "s.json")}, tmp_path)["stop"]
    tap = run_tap(binary)
    assert tap.plan == 2 and [ok for ok, _, _ in tap.points] == [True, False]
    assert "# the model has no observation: livelock: test" in tap.diagnostics
    assert tap.status == 1


@needs_live
def test_not_drivable_decides_up_front_what_the_oracle_stops_at() -> None:
    """strategies.drivable.not_drivable and the oracle's run-time refusal are one rule set."""
    for path in CORPUS:
        scenario = load(path).scenario
        why = not_drivable(scenario)
        live = run_live(scenario)
        assert (why is None) == (live.error is None), path.name
        assert why == live.error, path.name
