"""KTAP output (Documentation/dev-tools/ktap.rst): the test-result format kernel CI systems
(KernelCI, LKFT) already ingest, so a corpus replay can sit beside kselftest results."""

from __future__ import annotations

import attrs


@attrs.frozen
class TapResult:
    name: str
    ok: bool
    #: the reason the test was skipped (not applicable), or None
    skip: str | None = None
    #: lines explaining a failure, emitted as KTAP diagnostics
    diagnostic: str = ""


def _clean(text: str) -> str:
    """A test name or directive is one line, and '#' would start a directive."""
    return " ".join(text.replace("#", "").split())


def ktap(results: list[TapResult]) -> str:
    lines = ["KTAP version 1", f"1..{len(results)}"]
    for number, result in enumerate(results, 1):
        for line in result.diagnostic.splitlines():
            lines.append(f"# {line}")
        if result.skip:
            lines.append(f"ok {number} {_clean(result.name)} # SKIP {_clean(result.skip)}")
        else:
            lines.append(f"{'ok' if result.ok else 'not ok'} {number} {_clean(result.name)}")
    passed = sum(1 for r in results if r.ok and not r.skip)
    skipped = sum(1 for r in results if r.skip)
    lines.append(f"# totals: pass:{passed} fail:{len(results) - passed - skipped} skip:{skipped}")
    return "\n".join(lines) + "\n"
