"""Known failures: which corpus file explains a failure a search found.

On a profile with a catalogued bug the search finds that bug again and again; `hunt --new`
sets such failures aside and keeps looking for one nobody has catalogued. A failure of
property P by scenario C on profile K is *explained* (known) when both hold:

1. some corpus file records P failing on K and its scenario, replayed now on K, does fail P
   (the file's story still happens: these are the files named as the explanation);
2. on every timeline profile where C fails P, some corpus file records P failing there
   (C's failure follows the corpus's timeline: it appears only where catalogued bugs live).

Condition 2 keeps a new fault from hiding behind a known one of the same property: a model
change that breaks P where the corpus says P holds (mainline, say) makes C fail there too,
so C is new even on a profile where P is known to fail. Recorded expectations (not a fresh
replay) define where P fails in condition 2, so a fault injected into the model cannot
move the reference along with it. A failure is known per property; a counterexample is
known when every property it fails is.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import attrs

from .model.kernels import PROFILE_NAMES, Profile, get_profile
from .regression import PENDING, Regression, load
from .run import run_scenario
from .scenario import Scenario


@attrs.frozen
class CorpusFile:
    path: Path
    regression: Regression


class KnownFailures:
    """The corpus as seen from one profile: classifies a search's failures as known or new."""

    def __init__(self, profile: Profile | str, corpus: Iterable[CorpusFile]) -> None:
        from properties import check_all

        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        self.files = list(corpus)
        #: the profiles condition 2 looks at (a custom profile is looked at as well)
        self.profiles: tuple[str, ...] = tuple(dict.fromkeys((*PROFILE_NAMES, self.profile.name)))
        #: property -> profiles where some file records it failing
        self.recorded: dict[str, set[str]] = {}
        for entry in self.files:
            for name in self.profiles:
                for prop in entry.regression.expected_failures(name):
                    self.recorded.setdefault(prop, set()).add(name)
        #: property -> files that record it failing on this profile and replay to it here
        self.witnesses: dict[str, list[Path]] = {}
        for entry in self.files:
            recorded_here = entry.regression.expected_failures(self.profile.name)
            if not recorded_here:
                continue
            run = run_scenario(entry.regression.scenario, self.profile, trace=False)
            if run.not_applicable:
                continue
            verdicts = check_all(run, sorted(recorded_here))
            for prop, verdict in verdicts.items():
                if verdict is not None:
                    self.witnesses.setdefault(prop, []).append(entry.path)

    @classmethod
    def from_directory(cls, profile: Profile | str, directory: str | Path) -> KnownFailures:
        """The reviewed corpus in `directory` (pending counterexamples explain nothing)."""
        paths = sorted(p for p in Path(directory).glob("*.json") if PENDING not in p.parts)
        return cls(profile, [CorpusFile(path, load(path)) for path in paths])

    def explain(self, scenario: Scenario, failing: Iterable[str]) -> dict[str, Path | None]:
        """property -> the corpus file that explains its failure here, or None when it is new."""
        from properties import check_all

        failing = sorted(failing)
        out: dict[str, Path | None] = {name: None for name in failing}
        candidates = [name for name in failing if self.witnesses.get(name)]
        if not candidates:
            return out
        #: (profile, property) pairs the scenario fails, over every property: to pick the witness
        pairs = {(self.profile.name, name) for name in failing}
        fails_on: dict[str, set[str]] = {name: {self.profile.name} for name in candidates}
        # The model and the properties see a profile only through its switches (Profile.has),
        # so profiles with the same switches (v4.9, v4.14 and v4.19, say) give the same
        # verdicts: each set of switches is run once (None: not applicable there)
        by_switches: dict[frozenset[str], dict[str, str | None] | None] = {}
        for name in self.profiles:
            if name == self.profile.name:
                continue
            switches = get_profile(name).switches
            if switches not in by_switches:
                run = run_scenario(scenario, name, trace=False)
                by_switches[switches] = None if run.not_applicable else check_all(run)
            verdicts = by_switches[switches]
            if verdicts is None:
                continue
            for prop, verdict in verdicts.items():
                if verdict is not None:
                    pairs.add((name, prop))
                    if prop in fails_on:
                        fails_on[prop].add(name)
        for prop in candidates:
            if fails_on[prop] <= self.recorded.get(prop, set()):
                out[prop] = self._best_witness(prop, pairs)
        return out

    def why_new(self, scenario: Scenario, prop: str) -> str:
        """Why no corpus file explains the scenario's failure of `prop` here, in one line."""
        if not self.witnesses.get(prop):
            return f"no corpus file records {prop} failing on {self.profile.name} (and replays to it)"
        from properties import check_all

        beyond = []
        for name in self.profiles:
            run = run_scenario(scenario, name, trace=False)
            if run.not_applicable or name in self.recorded.get(prop, set()):
                continue
            if check_all(run, [prop])[prop] is not None:
                beyond.append(name)
        return f"it also fails on {', '.join(beyond)}, where no corpus file records {prop} failing"

    def _best_witness(self, prop: str, pairs: set[tuple[str, str]]) -> Path:
        """The witness whose recorded failures (every profile and property) are closest to
        the scenario's: most in common, then fewest differences; the first by name on a tie."""
        by_path = {entry.path: entry.regression for entry in self.files}

        def score(path: Path) -> tuple[int, int]:
            reg = by_path[path]
            recorded = {(name, p) for name in self.profiles for p in reg.expected_failures(name)}
            return len(recorded & pairs), -len(recorded ^ pairs)

        return max(self.witnesses[prop], key=score)
