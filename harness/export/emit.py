"""Write a regression file's scenario as one standalone C program (kselftest style, TAP).

The program does what the live-kernel oracle (harness/oracle/) does for the scenario, with
the same syscalls in the same order, and checks what `harness.conform.compare` checks: after
the layout is set up and after every operation, the result and each page's present / zero /
anon / mapped_once / identity, against the model's prediction for the running kernel
(profile mainline), computed here and embedded. So its TAP verdict is "all ok" exactly when
`gupharness conform --file FILE` finds the model and the kernel in agreement.

The fixed C lives in harness/export/runtime.py; this module picks the sections a scenario
needs (so the program carries no unused code and compiles with -Wall -Werror) and generates
the rest: the header comment, the op table, the expected observations, setup() and do_op().
"""

from __future__ import annotations

import errno
import textwrap
from pathlib import Path

import attrs

from .. import scenario as sc
from ..conform import PROFILE, model_layout_observation
from ..model.kernels import PROFILE_NAMES, TIMELINE
from ..observe import PageObservation
from ..regression import Regression
from ..run import describe_op, run_scenario
from . import runtime as rt


class ExportError(ValueError):
    """A scenario that cannot become a C program (not drivable, or not representable)."""


#: errno names the program prints by name (the model's, and what syscalls here may return)
ERRNO_NAMES = ("EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "EBADF", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "EBUSY",
               "EEXIST", "EINVAL", "ENOSPC", "EMLINK", "ENOSYS", "EOPNOTSUPP")
IDENTITY_MARKS = {"new": "+", "same": "=", "replaced": "*"}
PROT_C = {"rw": "PROT_READ | PROT_WRITE", "r": "PROT_READ", "none": "PROT_NONE"}
#: Gup api -> (C call with {i} {start} {pages}, the section it needs)
GUP_CALLS = {
    "io_uring_register_buffers": ("op_gup_io_uring({i}, {start}, {pages})", "ring"),
    "vmsplice": ("op_gup_vmsplice({i}, {start}, {pages})", "vmsplice"),
    "odirect_read": ("op_gup_odirect({start}, {pages}, 1)", "odirect"),
    "odirect_write": ("op_gup_odirect({start}, {pages}, 0)", "odirect"),
    "process_vm_readv": ("op_gup_process_vm({start}, {pages}, 0)", "pvm"),
    "process_vm_writev": ("op_gup_process_vm({start}, {pages}, 1)", "pvm"),
    "proc_mem_read": ("op_gup_proc_mem({start}, {pages}, 0)", "procmem"),
    "proc_mem_write": ("op_gup_proc_mem({start}, {pages}, 1)", "procmem"),
    "madv_populate_read": ("op_gup_populate({start}, {pages}, 0)", "populate"),
    "madv_populate_write": ("op_gup_populate({start}, {pages}, 1)", "populate"),
}
#: section -> (C text, sections it needs), in the order they appear in the program
SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "perms": (rt.PERMS, ()),
    "cpu": (rt.CPU, ("perms",)),
    "dma": (rt.MAPPED_BYTES, ("perms",)),
    "file": (rt.FILE, ()),
    "shmem": (rt.SHMEM, ()),
    "ring": (rt.RING, ()),
    "ring_io": (rt.RING_IO, ("ring",)),
    "dma_write": (rt.DMA_WRITE, ("ring_io", "dma")),
    "dma_read_ring": (rt.DMA_READ_RING, ("ring_io", "dma")),
    "vmsplice": (rt.VMSPLICE, ()),
    "dma_read_pipe": (rt.DMA_READ_PIPE, ("vmsplice", "dma")),
    "release": (rt.RELEASE, ()),
    "odirect": (rt.ODIRECT, ("file",)),
    "pvm": (rt.PVM, ()),
    "procmem": (rt.PROCMEM, ()),
    "populate": (rt.POPULATE, ()),
    "vm": (rt.VM, ()),
    "procs": (rt.PROCS, ()),
    "single": (rt.SINGLE, ()),
}


def page_token(page: PageObservation) -> str:
    """The page as the program spells it (see struct expect in the runtime); lossless."""
    if not page.present:
        token = "."
    elif page.zero:
        token = "Z" + IDENTITY_MARKS.get(page.identity, "?")
    else:
        token = ("A" if page.anon else "F") if page.mapped_once else ("a" if page.anon else "f")
        token += IDENTITY_MARKS.get(page.identity, "?")
    if decode_token(token) != page:
        raise ExportError(f"the model predicts a page the program cannot spell: {page}")
    return token


def decode_token(token: str) -> PageObservation:
    """The inverse of page_token (what the C program's decode() does)."""
    if token == ".":
        return PageObservation(present=False)
    letter, mark = token[0], token[1:]
    identity = {v: k for k, v in IDENTITY_MARKS.items()}.get(mark, "?")
    return PageObservation(present=True, zero=letter == "Z", anon=letter in "Aa", mapped_once=letter in "AF",
                           identity=identity)


def pages_text(pages: tuple[PageObservation, ...]) -> str:
    return " ".join(page_token(p) for p in pages)


def c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def c_comment(text: str) -> str:
    return text.replace("*/", "* /")


def c_result(value: int | None) -> str:
    if value is None:
        return "NO_RESULT"
    if value < 0 and errno.errorcode.get(-value) in ERRNO_NAMES:
        return f"-{errno.errorcode[-value]}"
    return str(value)


@attrs.frozen
class Prediction:
    """What the model says the running kernel shows: the layout, then one entry per op it finished."""

    initial: tuple[PageObservation, ...]
    steps: tuple[tuple[int | None, tuple[PageObservation, ...]], ...]
    #: why the model stopped before the last op (a livelock, an op mainline does not have)
    stopped: str | None


def predict(scenario: sc.Scenario) -> Prediction:
    """The model's observations on PROFILE (mainline), as harness.conform.compare takes them."""
    run = run_scenario(scenario, PROFILE, trace=False)
    stopped = None
    if run.livelock is not None:
        stopped = f"livelock: {run.livelock}"
    elif run.not_applicable:
        stopped = f"not applicable: {run.not_applicable}"
    steps = tuple((s.result, s.pages) for s in run.observations)
    if stopped is None and len(steps) < len(scenario.ops):
        stopped = "the model stopped early"
    return Prediction(model_layout_observation(scenario), steps, stopped)


def _owner(scenario: sc.Scenario, op: sc.Op) -> int:
    if isinstance(op, (sc.Release, sc.DmaRead, sc.DmaWrite)):
        gup = scenario.ops[op.of]
        return gup.process if isinstance(gup, sc.Gup) else 0
    return getattr(op, "process", 0)


def _op_call(scenario: sc.Scenario, index: int, op: sc.Op, needs: set[str]) -> str:
    """The C expression that runs `op` in its process."""
    if isinstance(op, sc.Gup):
        call, section = GUP_CALLS[op.api]
        needs.add(section)
        return call.format(i=index, start=op.start, pages=op.pages)
    if isinstance(op, sc.Release):
        return f"op_release({op.of})"
    if isinstance(op, (sc.CpuRead, sc.CpuWrite)):
        needs.add("cpu")
        return f"op_cpu({op.page}, {int(isinstance(op, sc.CpuWrite))})"
    if isinstance(op, (sc.DmaRead, sc.DmaWrite)):
        gup = scenario.ops[op.of]
        assert isinstance(gup, sc.Gup)  # validate() checked it
        if isinstance(op, sc.DmaWrite) and gup.api == "io_uring_register_buffers":
            needs.add("dma_write")
            return f"op_dma_write({index}, {op.of}, {op.index})"
        if isinstance(op, sc.DmaRead) and gup.api == "io_uring_register_buffers":
            needs.add("dma_read_ring")
            return f"op_dma_read_ring({index}, {op.of}, {op.index})"
        if isinstance(op, sc.DmaRead) and gup.api == "vmsplice":
            needs.add("dma_read_pipe")
            return f"op_dma_read_pipe({index}, {op.of}, {op.index})"
        return "-EFAULT"  # a caller that holds nothing after it returns: no device can reach its pages
    if isinstance(op, sc.Munmap):
        needs.add("vm")
        return f"sys_result(munmap(ADDR({op.start}), {op.pages} * PAGE))"
    if isinstance(op, sc.Mprotect):
        needs.add("vm")
        return f"sys_result(mprotect(ADDR({op.start}), {op.pages} * PAGE, {PROT_C[op.prot]}))"
    if isinstance(op, sc.MadvDontneed):
        needs.add("vm")
        return f"sys_result(madvise(ADDR({op.start}), {op.pages} * PAGE, MADV_DONTNEED))"
    return "NO_RESULT"  # fork and exit: run_op() and serve() handle them


def _kind(op: sc.Op) -> str:
    return {sc.Gup: "OP_GUP", sc.Release: "OP_RELEASE", sc.CpuRead: "OP_CPU", sc.CpuWrite: "OP_CPU",
            sc.DmaRead: "OP_DMA", sc.DmaWrite: "OP_DMA", sc.Fork: "OP_FORK", sc.Exit: "OP_EXIT"}.get(type(op), "OP_VM")


def _setup(scenario: sc.Scenario, needs: set[str]) -> str:
    lines = ["static void setup(void)", "{", "\tarea = reserve_area();", "\tarea_mapped = 1;"]
    layout = sorted(scenario.layout, key=lambda v: v.start)
    for vma in layout:
        lines.append(f"\t/* {_pages(vma)}: {_describe_vma(vma)} */")
        if vma.backing == "shmem":
            needs.add("shmem")
            fd = f"shmem_file({vma.pages})"
        elif vma.backing == "file":
            needs.add("file")
            fd = f"block_file({vma.pages})"
        else:
            fd = "-1"
        lines.append(f"\tmap_vma({vma.start}, {vma.pages}, {int(vma.share == 'shared')}, {fd}, "
                     f"{c_string(vma.faulted)});")
    if any(vma.prot != "rw" for vma in layout):
        lines.append("\t/* protections once every VMA is mapped and faulted (neighbours merge first, as in the model) */")
    for vma in layout:
        if vma.prot != "rw":
            lines.append(f"\tif (mprotect(ADDR({vma.start}), {vma.pages} * PAGE, {PROT_C[vma.prot]}))\n"
                         "\t\tfail(\"mprotect a VMA of the layout\");")
    lines.append("\t/* only now unmap the holes and the guard page: GUP there meets no VMA at all */")
    edge = 0
    for vma in layout:
        if vma.start > edge:
            lines.append(f"\tunmap_gap({edge}, {vma.start});")
        edge = max(edge, vma.end)
    lines.append(f"\tunmap_gap({edge}, AREA_PAGES);")
    lines.append("}")
    return "\n".join(lines)


def _describe_vma(vma: sc.Vma) -> str:
    backing = {"anon": "anonymous", "shmem": "memfd", "file": "ext4 file"}.get(vma.backing, vma.backing)
    text = f"{vma.prot} {vma.share} {backing}"
    if vma.faulted.strip("-"):
        text += f", faulted {vma.faulted} ('r' read, 'w' written, '-' untouched)"
    return text


def _pages(vma: sc.Vma) -> str:
    return f"page {vma.start}" if vma.pages == 1 else f"pages {vma.start}-{vma.end - 1}"


def _header(reg: Regression, source: str, prediction: Prediction) -> str:
    """The comment that opens the program: what it runs, what it checks, where it came from."""
    s = reg.scenario
    intro = (f"Exported by `gupharness export {source}`: a standalone reproducer (libc and kernel UAPI "
             "headers only). It drives the scenario below on the running kernel with real syscalls (the same "
             "ones, in the same order, as gupharness' live-kernel oracle) and checks, after the layout is set "
             "up and after every operation, the call's result and, for every page of the test area, what "
             "/proc/self/pagemap and /proc/kpageflags show (present, zero page, anonymous, mapped once, same "
             "physical page as before) against what the gupharness model of mm/gup.c predicts for Linux "
             f"{PROFILE} (embedded below). One TAP test point per step.")
    paragraphs: list[list[str]] = [[reg.title], [intro]]
    scenario_lines = ["Scenario (4 KiB pages, numbered from the start of the test area):"]
    for vma in s.layout:
        scenario_lines.append(f"  {_pages(vma)}: {_describe_vma(vma)}")
    for i, op in enumerate(s.ops):
        where = _owner(s, op)
        scenario_lines.append(f"  op {i}: {describe_op(op)}" + (f" [in process {where}]" if where else ""))
    paragraphs.append(scenario_lines)
    checked = ("Property checked here: the kernel shows what the model predicts (the live comparison, "
               f"`gupharness conform --file {source}`).")
    if prediction.stopped:
        checked += f" The model does not finish the scenario on {PROFILE}: {prediction.stopped}."
    paragraphs.append([checked])
    verdicts = ["The model's verdicts per kernel profile (the file's expectations: the properties that fail):"]
    named = [p for p in PROFILE_NAMES if p in reg.expect]
    notes = {step.name: step.note for step in TIMELINE}
    for profile in named:
        failing = reg.expect[profile]
        note = f" ({notes[profile]})" if notes.get(profile) else ""
        verdicts.append(f"  {profile}: {', '.join(failing) if failing else 'every property holds'}{note}")
    default = reg.expect.get("default", ())
    verdicts.append(f"  {'other profiles' if named else 'every profile'}: "
                    f"{', '.join(default) if default else 'every property holds'}")
    commits = reg.origin.get("commits") or []
    verdicts.append("Commits: " + (", ".join(str(c) for c in commits) if commits else "none recorded"))
    for key in ("thread", "found_by", "kernel_shows"):
        if reg.origin.get(key):
            verdicts.append(f"{key.replace('_', ' ').capitalize()}: {reg.origin[key]}")
    paragraphs.append(verdicts)
    paragraphs.append(["Build and run as root: cc -Wall -O2 -o repro repro.c && ./repro",
                       "Exit status: 0 every step as predicted; 1 a step differs, hung or was not reached; 4 "
                       "skipped (a facility is missing). An operation that does not return within "
                       "TIMEOUT_SECONDS (build with -DTIMEOUT_SECONDS=N to change) is reported as "
                       "`not ok ... hung`."])
    lines: list[str] = []
    for paragraph in paragraphs:
        if lines:
            lines.append("")
        for line in paragraph:
            indent = "      " if line.startswith("  ") else ""
            lines += textwrap.wrap(c_comment(line), 96, subsequent_indent=indent, break_on_hyphens=False) or [""]
    return "/*\n" + "\n".join((" * " + line).rstrip() for line in lines) + "\n */"


def export_c(reg: Regression, source: str | Path = "FILE") -> str:
    """The C program for `reg`; ExportError when the live kernel cannot drive its scenario."""
    from strategies.drivable import not_drivable

    scenario = sc.validate(reg.scenario)
    why = not_drivable(scenario)
    if why is not None:
        raise ExportError(f"not drivable on a live kernel: {why}")
    prediction = predict(scenario)
    needs: set[str] = {"release"}
    ops = scenario.ops
    procs = 1 + sum(isinstance(op, sc.Fork) for op in ops)
    multi = any(isinstance(op, (sc.Fork, sc.Exit)) for op in ops)
    needs.add("procs" if multi else "single")
    setup = _setup(scenario, needs)
    cases = []
    for i, op in enumerate(ops):
        cases.append(f"\tcase {i}:\t/* {c_comment(describe_op(op))} */\n\t\treturn {_op_call(scenario, i, op, needs)};")
    do_op = ("/* Run op `index` in this process: its result (a page count, 0 or -errno). */\n"
             "static long do_op(int index)\n{\n\tswitch (index) {\n" + "\n".join(cases)
             + "\n\t}\n\treturn NO_RESULT;\n}")
    checked = min(len(ops), len(prediction.steps) + 1)
    forks = 0
    table = []
    for op in ops:
        number = 0
        if isinstance(op, sc.Fork):
            forks += 1
            number = forks
        exits = op.process if isinstance(op, sc.Exit) else 0
        table.append(f"\t{{ {c_string(describe_op(op))}, {_kind(op)}, {_owner(scenario, op)}, {number}, {exits} }},")
    expected = [f"\t{{ NO_RESULT, {c_string(pages_text(prediction.initial))} }},\t/* layout */"]
    for i, (result, pages) in enumerate(prediction.steps[:checked]):
        expected.append(f"\t{{ {c_result(result)}, {c_string(pages_text(pages))} }},\t/* op {i} */")
    closure = set(needs)
    changed = True
    while changed:
        changed = False
        for name in list(closure):
            for dep in SECTIONS[name][1]:
                if dep not in closure:
                    closure.add(dep)
                    changed = True
    ordered = [SECTIONS[name][0] for name in SECTIONS if name in closure]
    has_ring = "ring" in closure
    includes = rt.INCLUDES.strip() + "".join(
        f"\n#include <{h}>" for h, need in (("linux/io_uring.h", has_ring), ("linux/magic.h", "file" in closure)) if need)
    errno_cases = "\n".join(f"\tcase {name}:\n\t\treturn \"-{name}\";" for name in ERRNO_NAMES)
    facilities = []
    if has_ring:
        facilities.append(rt.URING_FACILITY)
    if "file" in closure:
        facilities.append(rt.FILE_FACILITY)
    if procs > 1:
        facilities.append(rt.PIDFD_FACILITY)
    main = (rt.MAIN.replace("PREPARE;", "prepare_processes();" if multi else "")
            .replace("END_PROCESSES;", "end_processes();" if multi else "")
            .replace("\tFACILITIES\n", "".join(facilities)))
    constants = "\n".join([
        f"#define AREA_PAGES {_area_pages(scenario)}\t/* the layout, what ops reach, and a guard page */",
        f"#define SPAN {scenario.span}\t\t/* pages observed: 0 .. the end of the last VMA */",
        f"#define NR_OPS {len(ops)}",
        f"#define NR_PROCS {procs}\t\t/* scenario processes: 0 and one per fork */",
        f"#define MODEL_STEPS {len(prediction.steps)}\t/* ops the model finished */",
        f"#define NR_CHECKED {checked}\t/* ops run and checked */",
        "#define NR_POINTS (1 + NR_CHECKED)\t/* TAP test points: the layout, then each op */",
        f"#define MODEL_STOPPED {c_string(prediction.stopped or '')}",
        f"#define MODEL_PROFILE {c_string(PROFILE)}",
    ])
    body = "\n\n".join(part.strip("\n") for part in [
        _header(reg, str(source), prediction),
        includes,
        constants,
        rt.CORE_DECLS,
        "/* The operations, in order: what each is, and which scenario process runs it. */\n"
        "static const struct op_info ops[NR_OPS] = {\n" + "\n".join(table) + "\n};",
        "/* What the model (" + PROFILE + ") predicts after the layout and after each op. */\n"
        "static const struct expect expected[1 + MODEL_STEPS] = {\n" + "\n".join(expected) + "\n};",
        rt.CORE.replace("ERRNO_CASES", errno_cases),
        *ordered,
        setup,
        do_op,
        main,
    ])
    body = (body.replace("RING_CLOSE;", "ring_close(&rings[h->ring], 1);" if has_ring else "{}")
            .replace("FORGET_RING;", "if (held[i].ring >= 0)\n\t\t\tring_close(&rings[held[i].ring], 0);" if has_ring else ""))
    return body + "\n"


def _area_pages(scenario: sc.Scenario) -> int:
    from ..oracle.execute import area_pages

    return area_pages(scenario)
