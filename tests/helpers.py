"""Small builders for concrete test scenarios."""

from __future__ import annotations

from harness import scenario as sc
from harness.run import Run, run_scenario


def one(layout: list[sc.Vma] | sc.Vma, *ops: sc.Op, kernel: str = "mainline") -> Run:
    layout = [layout] if isinstance(layout, sc.Vma) else layout
    return run_scenario(sc.validate(sc.Scenario(tuple(layout), tuple(ops))), kernel)


def pin(start: int, pages: int, *flags: str, api: str = "pin_user_pages") -> sc.Gup:
    return sc.Gup(api, start, pages, tuple(flags))
