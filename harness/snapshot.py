"""Outcome snapshots: what each op of a regression scenario returned, and what the test area
looked like after it, per kernel profile.

Properties judge a run; a snapshot pins the run itself, so a model change that alters a
call's result or a page's fate without breaking any property still shows in `replay`.

Encoding (compact, one string per op reached, readable in a diff):

    "<result>: <page> <page> ..."      e.g.  "1: A+ . Z="   "-EFAULT: . ."   "done: a~"

- result: the op's page count or -ERRNO (`format_result`), or `done` for ops without one;
- one token per page of the scenario's span (process 0, as harness.observe describes):
  `.` absent, else a letter and an identity mark. Letter: `Z` zero page, `A`/`a` anonymous
  mapped once / more than once, `F`/`f` file (or no struct page) mapped once / more. Mark:
  `+` new since the previous op, `=` the same page, `~` replaced by another page;
- an op that never returns (a livelock) is `never returns`, one that hits a BUG is
  `BUG in <function>` (harness.model.bug), and the list ends there;
- a profile where the scenario does not apply is the string `n/a` instead of a list.

In a file the snapshot mirrors `expect`: "default" holds mainline's, and only profiles whose
snapshot differs from it are named.
"""

from __future__ import annotations

from typing import Union

from . import scenario as sc
from .model.kernels import PROFILE_NAMES
from .observe import PageObservation
from .run import Run, describe_op, format_result, run_scenario

Outcome = Union[list[str], str]
Snapshot = dict[str, Outcome]

NOT_APPLICABLE = "n/a"
NEVER_RETURNS = "never returns"
BUG_PREFIX = "BUG in "
MARKS = {"new": "+", "same": "=", "replaced": "~"}
IDENTITY_OF = {mark: identity for identity, mark in MARKS.items()}
LETTERS = set("ZAaFf")


class SnapshotFormatError(ValueError):
    """A snapshot entry that cannot be read; str() names the field."""


def page_token(page: PageObservation) -> str:
    if not page.present:
        return "."
    return page.short() + MARKS.get(page.identity, "?")


def encode_run(run: Run) -> Outcome:
    """The run as snapshot entries, one per op reached."""
    if run.not_applicable:
        return NOT_APPLICABLE
    out = []
    for step in run.observations:
        result = "done" if step.result is None else format_result(step.result)
        out.append(f"{result}: {' '.join(page_token(p) for p in step.pages)}")
    if run.livelock is not None:
        out.append(NEVER_RETURNS)
    elif run.bug is not None:
        out.append(f"{BUG_PREFIX}{run.bug.where}")
    return out


def _ends_run(entry: str) -> bool:
    """An entry for an op after which the run stops (no observation follows)."""
    return entry == NEVER_RETURNS or entry.startswith(BUG_PREFIX)


def snapshot_now(scenario: sc.Scenario) -> Snapshot:
    """The model's outcome on every profile: mainline's as the default, differing profiles named."""
    per_profile = {name: encode_run(run_scenario(scenario, name, trace=False)) for name in PROFILE_NAMES}
    default = per_profile["mainline"]
    snap: Snapshot = {"default": default}
    snap.update({name: v for name, v in per_profile.items() if v != default})
    return snap


def recorded(snap: Snapshot, profile: str) -> Outcome | None:
    return snap.get(profile, snap.get("default"))


def validate(data: object, where: str) -> Snapshot:
    """Check a file's `snapshot` object; every message is one line naming the field."""
    if not isinstance(data, dict):
        raise SnapshotFormatError(f"{where}: must be an object of profile -> [op outcome, ...]")
    if "default" not in data:
        raise SnapshotFormatError(f"{where}.default: missing")
    for profile, value in data.items():
        field = f"{where}.{profile}"
        if profile != "default" and profile not in PROFILE_NAMES:
            raise SnapshotFormatError(f"{field}: unknown kernel profile")
        if value == NOT_APPLICABLE:
            continue
        if not isinstance(value, list):
            raise SnapshotFormatError(f"{field}: must be a list of op outcomes or \"n/a\"")
        for index, entry in enumerate(value):
            if not isinstance(entry, str):
                raise SnapshotFormatError(f"{field}[{index}]: must be a string")
            if _ends_run(entry):
                if index != len(value) - 1:
                    raise SnapshotFormatError(f"{field}[{index}]: {entry!r} ends the run: it must be the last entry")
                continue
            result, sep, pages = entry.partition(": ")
            if not sep and not entry.endswith(":"):
                raise SnapshotFormatError(f"{field}[{index}]: expected \"<result>: <pages>\"")
            for token in pages.split():
                if not _valid_token(token):
                    raise SnapshotFormatError(f"{field}[{index}]: bad page token {token!r}")
    return data  # type: ignore[return-value]


def _valid_token(token: str) -> bool:
    return token == "." or (len(token) == 2 and token[0] in LETTERS and token[1] in IDENTITY_OF)


def decode_token(token: str) -> dict[str, object]:
    """A page token as the observation fields it stands for."""
    if token == ".":
        return {"present": False, "zero": False, "anon": False, "mapped_once": False, "identity": "absent"}
    letter, mark = token[0], token[1]
    return {"present": True, "zero": letter == "Z", "anon": letter in "Aa", "mapped_once": letter in "AF",
            "identity": IDENTITY_OF[mark]}


def diff(scenario: sc.Scenario, before: Outcome, after: Outcome) -> list[str]:
    """A readable diff of two outcomes of one profile: which op, which field, before -> after."""
    if before == after:
        return []
    if isinstance(before, str) or isinstance(after, str):
        return [f"outcome: {_whole(before)} -> {_whole(after)}"]
    lines = []
    for index in range(max(len(before), len(after))):
        old = before[index] if index < len(before) else None
        new = after[index] if index < len(after) else None
        if old == new:
            continue
        op = f"op {index} {describe_op(scenario.ops[index])}" if index < len(scenario.ops) else f"op {index}"
        if old is None or new is None or _ends_run(old) or _ends_run(new):
            lines.append(f"{op}: {_entry(old)} -> {_entry(new)}")
            continue
        old_result, _, old_pages = old.partition(":")
        new_result, _, new_pages = new.partition(":")
        if old_result != new_result:
            lines.append(f"{op}: result {old_result} -> {new_result}")
        old_tokens, new_tokens = old_pages.split(), new_pages.split()
        if len(old_tokens) != len(new_tokens):
            lines.append(f"{op}: pages observed {len(old_tokens)} -> {len(new_tokens)}")
            continue
        for page, (a, b) in enumerate(zip(old_tokens, new_tokens)):
            if a == b:
                continue
            fa, fb = decode_token(a), decode_token(b)
            if fa["present"] != fb["present"]:
                fields = "mapped -> absent" if fa["present"] else "absent -> mapped"
            else:
                fields = ", ".join(f"{k} {_value(fa[k])} -> {_value(fb[k])}" for k in fa if fa[k] != fb[k])
            lines.append(f"{op}: page {page}: {fields} ({a} -> {b})")
    return lines


def grouped(diffs: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """Profiles with the same diff together: (\"v6.1, v6.2\" or \"every profile\", lines)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for profile, lines in diffs.items():
        if lines:
            groups.setdefault(tuple(lines), []).append(profile)
    out = []
    for key, profiles in groups.items():
        label = "every profile" if len(profiles) == len(PROFILE_NAMES) else ", ".join(profiles)
        out.append((label, list(key)))
    return out


def _whole(value: Outcome) -> str:
    return value if isinstance(value, str) else f"{len(value)} op(s) reached"


def _entry(value: str | None) -> str:
    return "not reached" if value is None else value


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
