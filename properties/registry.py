"""The property registry: a property is a named predicate over a finished Run.

A property returns None when it holds, or a one-paragraph explanation of how it broke.
Registering a property is all it takes: every profile, the search, `gupharness replay` and
`gupharness bisect` pick it up by name.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from harness.run import Run

Check = Callable[[Run], "str | None"]


@attrs.frozen
class Property:
    name: str
    check: Check
    #: the invariant and the kernel rule behind it (the function's docstring)
    doc: str
    #: reads Run.snapshots (the state after every operation), which a run only takes when a
    #: property it is checked for says so: that bookkeeping is a fifth of a model run
    snapshots: bool = False

    @property
    def summary(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc else self.name


PROPERTIES: dict[str, Property] = {}


def prop(name: str, *, snapshots: bool = False) -> Callable[[Check], Check]:
    """Register `check` as property `name`; `snapshots=True` if it reads Run.snapshots (a run
    checked only for properties that do not has none, and reading them then raises)."""

    def register(check: Check) -> Check:
        if name in PROPERTIES:
            raise ValueError(f"property {name!r} registered twice")
        PROPERTIES[name] = Property(name, check, check.__doc__ or "", snapshots)
        return check

    return register


class UnknownProperty(KeyError):
    def __str__(self) -> str:
        return f"unknown property {self.args[0]!r} (known: {', '.join(PROPERTIES)})"


def get_property(name: str) -> Property:
    try:
        return PROPERTIES[name]
    except KeyError:
        raise UnknownProperty(name) from None


def need_snapshots(names: list[str] | tuple[str, ...] | None = None) -> bool:
    """Does checking these properties (all by default) need the run's snapshots?"""
    chosen = [get_property(n) for n in names] if names is not None else list(PROPERTIES.values())
    return any(p.snapshots for p in chosen)


def check_all(run: Run, names: list[str] | tuple[str, ...] | None = None) -> dict[str, str | None]:
    """Verdict of each property (all registered ones by default): None = holds."""
    chosen = [get_property(n) for n in names] if names is not None else list(PROPERTIES.values())
    return {p.name: p.check(run) for p in chosen}
