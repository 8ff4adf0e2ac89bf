"""Bisect a scenario over the kernel timeline: where does its verdict change, and which
switch (with its commit) makes the difference?"""

from __future__ import annotations

from typing import Any

import attrs
from rich.console import Group
from rich.table import Table
from rich.text import Text

from . import scenario as sc
from .model.kernels import PROFILES, SWITCHES, TIMELINE, Profile
from .regression import check


@attrs.frozen
class Culprit:
    switch: str
    turned: str  # "on" or "off"
    commit: str
    summary: str


@attrs.frozen
class Transition:
    last: str  # the profile before the change
    first: str  # the first profile with the new verdict
    before: tuple[str, ...]
    after: tuple[str, ...]
    culprits: tuple[Culprit, ...]

    @property
    def kind(self) -> str:
        if len(self.after) > len(self.before) or (self.after and not self.before):
            return "breaks"
        if not self.after:
            return "repairs"
        return "changes"


@attrs.frozen
class BisectResult:
    verdicts: tuple[tuple[str, tuple[str, ...]], ...]
    transitions: tuple[Transition, ...]
    property: str | None
    #: profile -> why the scenario does not apply there (not compared)
    not_applicable: dict[str, str] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "property": self.property,
            "verdicts": {name: list(v) for name, v in self.verdicts},
            "not_applicable": dict(self.not_applicable),
            "transitions": [
                {"last": t.last, "first": t.first, "kind": t.kind, "before": list(t.before), "after": list(t.after),
                 "culprits": [attrs.asdict(c) for c in t.culprits]}
                for t in self.transitions
            ],
        }

    def render(self, title: str) -> Group:
        table = Table(title=Text(f"{title}: verdict per profile"), title_justify="left", show_edge=False)
        table.add_column("profile")
        table.add_column("failing properties")
        failing_on = dict(self.verdicts)
        for step in TIMELINE:
            if step.name in self.not_applicable:
                table.add_row(step.name, Text(f"n/a: {self.not_applicable[step.name]}", style="dim"))
                continue
            failing = failing_on[step.name]
            table.add_row(step.name, Text(", ".join(failing), style="red") if failing else Text("all hold", style="green"))
        parts: list = [table]
        if self.not_applicable:
            parts.append(Text(f"compared only where the scenario applies ({len(self.verdicts)} of "
                              f"{len(self.verdicts) + len(self.not_applicable)} profiles)", style="dim"))
        if not self.transitions:
            parts.append(Text("the verdict is the same on every profile"))
        for t in self.transitions:
            line = Text.assemble((f"{t.kind}: ", "bold"), f"last {'good' if t.kind == 'breaks' else 'bad'} {t.last}, "
                                 f"first {'bad' if t.kind == 'breaks' else 'good'} {t.first}")
            parts.append(line)
            for c in t.culprits:
                parts.append(Text(f"  {c.commit}  switch {c.switch} turned {c.turned}: {c.summary}"))
            if not t.culprits:
                parts.append(Text("  no single switch flips the verdict alone; the switches together do", style="dim"))
        return Group(*parts)


def _verdict(scenario: sc.Scenario, profile: Profile, prop: str | None) -> tuple[str, ...] | str:
    """The failing properties, or the reason the scenario does not apply to this profile."""
    verdict = check(scenario, profile)
    if verdict.not_applicable:
        return verdict.not_applicable
    failing = tuple(sorted(verdict.failures))
    if prop is not None:
        return tuple(f for f in failing if f == prop)
    return failing


def _commit_between(older: Profile, newer: Profile, switch: str) -> str:
    """The commit of the step between two profiles that last changed `switch`."""
    commit = SWITCHES[switch].commit
    for step in TIMELINE[older.index + 1:newer.index + 1]:
        if switch in step.on or switch in step.off:
            commit = step.commit_of(switch)
    return commit


def bisect(scenario: sc.Scenario, prop: str | None = None) -> BisectResult:
    """Run the scenario on every profile (the timeline is short: no need to halve it) and
    explain each change of verdict by the switches that flip it on their own. Profiles the
    scenario does not apply to (an API or flag they did not have) are left out of the
    comparison: a verdict only changes between two profiles where the scenario runs."""
    outcomes = [(step.name, _verdict(scenario, PROFILES[step.name], prop)) for step in TIMELINE]
    not_applicable = {name: v for name, v in outcomes if isinstance(v, str)}
    verdicts = [(name, v) for name, v in outcomes if not isinstance(v, str)]
    transitions = []
    for (older_name, before), (newer_name, after) in zip(verdicts, verdicts[1:]):
        if before == after:
            continue
        older, newer = PROFILES[older_name], PROFILES[newer_name]
        culprits = []
        for name in sorted(newer.switches ^ older.switches):
            turned = "on" if name in newer.switches else "off"
            toggled = older.switches | {name} if turned == "on" else older.switches - {name}
            probe = Profile(f"{older.name}{'+' if turned == 'on' else '-'}{name}", older.index, frozenset(toggled), "")
            if _verdict(scenario, probe, prop) == after:
                culprits.append(Culprit(name, turned, _commit_between(older, newer, name), SWITCHES[name].summary))
        transitions.append(Transition(older_name, newer_name, before, after, tuple(culprits)))
    return BisectResult(tuple(verdicts), tuple(transitions), prop, not_applicable)
