"""Regression files as standalone C reproducers for kernel developers (`gupharness export`).

    text = export_c(load("regressions/x.json"), "regressions/x.json")   # ExportError if not drivable
"""

from __future__ import annotations

from .emit import ExportError, export_c, predict

__all__ = ["ExportError", "export_c", "predict"]
