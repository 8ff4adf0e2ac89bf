"""Source mutants of the model: a candidate patch applied when a module is imported.

A mutant is written the way a kernel developer writes a candidate patch: in module M,
replace this exact text by that text. `install(name)` puts a meta-path finder in front of
the import system that, for M only, reads the real source file, applies the replacement
(refusing unless the old text occurs exactly once), and compiles the result under the real
file name, so tracebacks point at the real file (the patch keeps the line count, so line
numbers still match). Nothing is written to disk and no bytecode is cached for the patched
module, so the clean model is never affected. `harness/__init__.py` installs the mutant
named by the environment variable GUPHARNESS_MUTANT before any model module is imported.
GUPHARNESS_MUTANT may also name a generated one-token mutant of any module,
`src:PATH:LINE:COL:OP` (harness/srcmutants.py), applied the same way.

This module only depends on the standard library: it runs before the model is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, ModuleType
from typing import Protocol

from attrs import frozen

from .srcmutants import PREFIX as SOURCE_PREFIX
from .srcmutants import SourceMutantError, get_source_mutant

#: the environment variable naming the mutant to apply at import
ENV = "GUPHARNESS_MUTANT"
ROOT = Path(__file__).resolve().parent.parent


class MutantError(Exception):
    """A mutant that is unknown or does not apply: reported as one line."""


@frozen
class Mutant:
    """One candidate patch: in `module`, `old` (exactly once) becomes `new`."""

    name: str
    module: str
    old: str
    new: str
    #: the plausible mistake, in one line
    why: str
    #: the profiles on which the patched code is live (searched by the benchmark)
    profiles: tuple[str, ...] = ("mainline",)

    @property
    def path(self) -> Path:
        return ROOT / (self.module.replace(".", "/") + ".py")

    def patch(self, source: str) -> str:
        """The patched source; MutantError unless `old` occurs exactly once."""
        count = source.count(self.old)
        if count != 1:
            raise MutantError(f"mutant {self.name}: the old text occurs {count} times in {self.path.name} "
                              f"(expected exactly once): {self.old.strip()!r}")
        return source.replace(self.old, self.new)

    def check(self) -> None:
        """Raise MutantError when the patch no longer applies to today's source."""
        self.patch(self.path.read_text())

    def diff(self) -> str:
        """The patch as a small unified-style diff, with line numbers of today's source."""
        source = self.path.read_text()
        at = source.find(self.old)
        line = source.count("\n", 0, at) + 1 if at >= 0 else 0
        removed = "".join(f"-{row}\n" for row in self.old.splitlines())
        added = "".join(f"+{row}\n" for row in self.new.splitlines())
        return f"--- {self.module.replace('.', '/')}.py:{line}\n{removed}{added}"


class Patch(Protocol):
    """What the import hook needs of a mutant: hand-written (Mutant) or generated (SourceMutant)."""

    @property
    def name(self) -> str: ...
    @property
    def module(self) -> str: ...
    def patch(self, source: str) -> str: ...
    def check(self) -> None: ...


class _PatchingLoader(importlib.machinery.SourceFileLoader):
    """Compiles the mutated source under the real file name, bypassing the bytecode cache."""

    def __init__(self, fullname: str, path: str, mutant: Patch) -> None:
        super().__init__(fullname, path)
        self.mutant = mutant

    def get_code(self, fullname: str) -> CodeType:
        source = self.mutant.patch(Path(self.path).read_text())
        return compile(source, self.path, "exec", dont_inherit=True)


class _MutantFinder(importlib.abc.MetaPathFinder):
    def __init__(self, mutant: Patch) -> None:
        self.mutant = mutant

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.mutant.module:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return None
        spec.loader = _PatchingLoader(fullname, spec.origin, self.mutant)
        return spec


def mutant_env(mutant: str | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a subprocess that runs `mutant` (None: the clean model) from this
    checkout: the variable set or removed, and this project first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    env.pop(ENV, None)
    if mutant is not None:
        env[ENV] = mutant
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def installed() -> Patch | None:
    """The mutant this process runs with, if any."""
    for finder in sys.meta_path:
        if isinstance(finder, _MutantFinder):
            return finder.mutant
    return None


def install(name: str) -> Patch:
    """Apply mutant `name` (hand-written, or generated: `src:...`) to its module at import.
    Checks up front that it applies; the module must not be imported yet (harness/__init__.py
    runs this first)."""
    from .mutants import get_mutant

    mutant: Patch
    if name.startswith(SOURCE_PREFIX):
        try:
            mutant = get_source_mutant(name)
            mutant.check()
        except SourceMutantError as exc:
            raise MutantError(str(exc)) from None
    else:
        mutant = get_mutant(name)
        mutant.check()
    if mutant.module in sys.modules:
        raise MutantError(f"mutant {name}: {mutant.module} is already imported, too late to patch it")
    sys.meta_path.insert(0, _MutantFinder(mutant))
    return mutant


def install_from_environment() -> None:
    """Called by harness/__init__.py: a bad GUPHARNESS_MUTANT is one line on stderr, exit 2."""
    name = os.environ.get(ENV)
    if not name or installed() is not None:
        return
    try:
        install(name)
    except MutantError as exc:
        print(f"gupharness: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
