"""Scenarios to and from plain JSON (cattrs), with errors that name the field.

Operations are tagged by an "op" field ("gup", "release", ...); fields equal to their
default are left out, so a stored scenario reads like the minimal description it is.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.strategies import configure_tagged_union

from . import scenario as sc

attrs.resolve_types(sc.Gup, globals(), {"Op": sc.Op})

converter = cattrs.Converter(omit_if_default=True, forbid_extra_keys=True)


def _is_tuple_type(t: Any) -> bool:
    return getattr(t, "__origin__", None) is tuple


def _structure_tuple(value: Any, t: Any) -> tuple:
    """JSON lists become tuples (frozen, hashable scenarios); anything else is refused
    (cattrs would happily turn the string "FOLL_WRITE" into a tuple of letters)."""
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    (item_type, _ellipsis) = t.__args__
    items, errors = [], []
    for i, item in enumerate(value):
        try:
            items.append(converter.structure(item, item_type))
        except Exception as exc:  # collected and re-raised with the index, as cattrs does
            exc.__notes__ = [*getattr(exc, "__notes__", []),
                             IterableValidationNote(f"Structuring {t} @ index {i}", i, item_type)]
            errors.append(exc)
    if errors:
        raise IterableValidationError(f"While structuring {t!r}", errors, t)
    return tuple(items)


def _structure_str(value: Any, _t: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _structure_int(value: Any, _t: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


converter.register_structure_hook_func(_is_tuple_type, _structure_tuple)
converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(int, _structure_int)
configure_tagged_union(sc.Op, converter, tag_name="op", tag_generator=lambda cls: sc.OP_NAMES[cls])


def to_data(scenario: sc.Scenario) -> dict[str, Any]:
    return converter.unstructure(scenario)


class ScenarioFormatError(ValueError):
    """The data does not have the shape of a scenario; the message names the field."""


def from_data(data: Any, where: str = "scenario") -> sc.Scenario:
    """Structure and validate; raise ScenarioFormatError or scenario.ScenarioError."""
    if not isinstance(data, dict):
        raise ScenarioFormatError(f"{where}: expected an object with 'layout' and 'ops'")
    _check_op_names(data.get("ops"), f"{where}.ops")
    try:
        scenario = converter.structure(data, sc.Scenario)
    except cattrs.BaseValidationError as exc:
        messages = cattrs.transform_error(exc, path=where)
        message = messages[0] if messages else f"{where}: {exc}"
        if " @ " in message:  # cattrs says "what @ where"; we say "where: what"
            what, _, path = message.rpartition(" @ ")
            message = f"{path}: {what}"
        raise ScenarioFormatError(message) from None
    except (TypeError, ValueError, KeyError) as exc:
        raise ScenarioFormatError(f"{where}: {exc}") from None
    try:
        return sc.validate(scenario)
    except sc.ScenarioError as exc:
        raise sc.ScenarioError(f"{where}.{exc.where}", exc.message) from None


def _check_op_names(ops: Any, where: str) -> None:
    """Name an unknown or missing "op" tag plainly (the tagged union would only say 'missing')."""
    if not isinstance(ops, list):
        return
    known = set(sc.OP_NAMES.values())
    for i, op in enumerate(ops):
        if not isinstance(op, dict):
            raise ScenarioFormatError(f"{where}[{i}]: expected an object with an 'op' field")
        if not isinstance(op.get("op"), str) or op["op"] not in known:
            raise ScenarioFormatError(f"{where}[{i}].op: unknown operation {op.get('op')!r} "
                                      f"(expected one of: {', '.join(sorted(known))})")
        _check_op_names(op.get("interleave"), f"{where}[{i}].interleave")


def dumps(scenario: sc.Scenario) -> str:
    return json.dumps(to_data(scenario), indent=2)
