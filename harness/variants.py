"""Entry-point variants: the same GUP call made through another entry point.

A regression file names one entry point per call, but a bug in GUP's core is usually
reachable through several: get_user_pages(), its _fast and _remote forms, and the
user-space callers that make that call (vmsplice is get_user_pages_fast() with no flags,
/proc/pid/mem a forced get_user_pages_remote(), ...; harness/model/callers.py). `replay`
runs each variant and reports one that fails a property the original satisfies on the
same profile: the same bug (or a new one) through a door the file does not name.

Two entry points "can make the same call" when they take the same kind of reference
(FOLL_PIN or FOLL_GET) with the same effective FOLL flags. A kernel API variant passes the
original's flags; a caller variant passes none (its own are fixed, so they must equal the
original's). A caller that keeps nothing (O_DIRECT, process_vm_*, /proc/pid/mem) is no
variant of a call a later op releases or reaches with a device, nor of a repeated call. MADV_POPULATE_* takes no
reference and has no variants.
"""

from __future__ import annotations

import attrs

from . import scenario as sc
from .model.callers import CALLERS
from .model.flags import FOLL, foll_from_names


@attrs.frozen
class Variant:
    """The scenario with op `index` made through `api` instead."""

    index: int
    original: str
    api: str
    scenario: sc.Scenario

    @property
    def label(self) -> str:
        return f"op {self.index}: {self.original} -> {self.api}"


def _kind(api: str) -> str:
    entry = CALLERS[api].api
    return "pin" if entry.startswith("pin_") else "populate" if entry == "populate" else "get"


def _flags(op: sc.Gup) -> FOLL:
    return foll_from_names(op.flags) | CALLERS[op.api].flags


def _flag_names(op: sc.Gup) -> tuple[str, ...]:
    """The original's flags as a kernel API caller would pass them: its own and its caller's."""
    own = CALLERS[op.api].flags
    extra = tuple(f"FOLL_{f.name}" for f in FOLL if f & own and f"FOLL_{f.name}" not in op.flags)
    return tuple(op.flags) + extra


def _referenced(scenario: sc.Scenario, index: int) -> bool:
    return any(isinstance(op, (sc.Release, sc.DmaRead, sc.DmaWrite)) and op.of == index for op in scenario.ops)


def alternatives(scenario: sc.Scenario, index: int) -> tuple[sc.Gup, ...]:
    """Every other entry point that can make op `index`'s call, as replacement ops."""
    op = scenario.ops[index]
    assert isinstance(op, sc.Gup)
    kind, flags = _kind(op.api), _flags(op)
    if kind == "populate":
        return ()
    referenced = _referenced(scenario, index)
    found: list[sc.Gup] = []
    for api in sc.APIS:
        caller = CALLERS[api]
        if api == op.api or _kind(api) != kind:
            continue
        if op.repeat > 1 and api not in sc.HOLDING_APIS:
            continue  # a repeated call piles up references: only through an entry point that keeps them
        if caller.name == caller.api:  # a kernel API: the scenario passes the flags
            found.append(attrs.evolve(op, api=api, flags=_flag_names(op)))
        elif caller.flags == flags and (caller.holds or not referenced):
            found.append(attrs.evolve(op, api=api, flags=()))
    return tuple(found)


def variants(scenario: sc.Scenario) -> list[Variant]:
    """One variant per GUP op and alternative entry point (one op changed at a time)."""
    out = []
    for index, op in enumerate(scenario.ops):
        if not isinstance(op, sc.Gup):
            continue
        for alt in alternatives(scenario, index):
            ops = scenario.ops[:index] + (alt,) + scenario.ops[index + 1:]
            out.append(Variant(index, op.api, alt.api, sc.validate(attrs.evolve(scenario, ops=ops))))
    return out


#: the three forms of a kernel entry point, by what the search's family moves calls to
_FORMS = ("", "_fast", "_remote")


def _in_form(api: str, form: str) -> str:
    """pin_user_pages_remote -> pin_user_pages_fast, and so on (kernel APIs only)."""
    base = api.removesuffix("_fast").removesuffix("_remote")
    return base + form


def entry_point_family(scenario: sc.Scenario) -> list[sc.Scenario]:
    """The scenario, then the same scenario with every kernel-API call moved to the slow,
    the fast and the remote form of its entry point (pin stays pin, get stays get; the flags,
    ranges and races are kept). The search checks the whole family per generated example: a
    bug that lives in one path (GUP-fast's own checks, the remote lookup) is then found from
    any call the generator draws, at the cost of two or three more model runs. Variants the
    format refuses are left out; those a profile cannot run come back not applicable, like
    any scenario."""
    return [member for _form, member in family_forms(scenario)]


def family_forms(scenario: sc.Scenario) -> list[tuple[str | None, sc.Scenario]]:
    """entry_point_family() with each member's form: None for the scenario itself, else the
    suffix every kernel-API call was moved to ("", "_fast", "_remote")."""
    family: list[tuple[str | None, sc.Scenario]] = [(None, scenario)]
    for form in _FORMS:
        member = in_form(scenario, form)
        if member is not None and member.ops != scenario.ops:
            family.append((form, member))
    return family


def in_form(scenario: sc.Scenario, form: str | None) -> sc.Scenario | None:
    """The scenario with every kernel-API call moved to `form` (None: unchanged); None when
    the format refuses the result."""
    if form is None:
        return scenario
    ops = list(scenario.ops)
    for i, op in enumerate(ops):
        if isinstance(op, sc.Gup) and op.api in sc.KERNEL_APIS:
            ops[i] = attrs.evolve(op, api=_in_form(op.api, form))
    if tuple(ops) == scenario.ops:
        return scenario
    try:
        return sc.validate(attrs.evolve(scenario, ops=tuple(ops)))
    except sc.ScenarioError:
        return None


@attrs.frozen
class VariantVerdict:
    variant: Variant
    profile: str
    #: property -> message, for every property the variant fails
    failures: dict[str, str]
    #: the properties it fails that the original satisfies on the same profile
    new_failures: tuple[str, ...]
    not_applicable: str | None = None


def check_variants(scenario: sc.Scenario, profile: str, original_failures: set[str] | frozenset[str]
                   ) -> list[VariantVerdict]:
    """Run every variant on `profile`; `new_failures` are those the original does not have.
    A variant the profile cannot run (e.g. a pin before v5.7) is reported not applicable."""
    from .regression import check

    out = []
    for variant in variants(scenario):
        verdict = check(variant.scenario, profile)
        new = tuple(sorted(set(verdict.failures) - set(original_failures)))
        out.append(VariantVerdict(variant, profile, verdict.failures, () if verdict.not_applicable else new,
                                  verdict.not_applicable))
    return out
