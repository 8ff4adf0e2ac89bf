"""`gupharness hunt --kernel live`: the property search run on the running kernel.

    report = live_hunt(["pin_coherence"], 300, seed=0)

Hypothesis draws drivable scenarios (strategies/drivable.py, and as often ones built around
a pin a device uses: strategy.py); each example runs in a fresh
child process through the oracle with probes on (harness/oracle/probe.py), and every chosen
property that is checkable live (checks.py) judges what the kernel showed. A failure is
shrunk by Hypothesis, each shrink step again on the kernel; the shrunk scenario is run once
more, and shown next to what the model predicts for the profile of the running release.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import attrs

from .. import scenario as sc
from ..conform import PROFILE, Comparison, compare, describe_scenario, search_kernel
from ..oracle import LiveRun, run_live
from ..progress import ProgressFn
from .checks import LIVE, LiveVerdict, capability
from .history import History

#: seconds an example may take on the kernel before its op counts as hung (terminates);
#: generous, since the machine is shared: a correct example takes a few milliseconds
TIMEOUT = 10.0


class NotLiveCheckable(ValueError):
    """A property named for the live hunt that has no live check."""


def checkable_names(names: list[str] | tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The properties a live hunt judges: all checkable ones, or `names` (each must be checkable)."""
    if names is None:
        return tuple(name for name, entry in LIVE.items() if entry.checkable)
    for name in names:
        entry = capability(name)
        if not entry.checkable:
            raise NotLiveCheckable(f"property {name!r} cannot be checked on the live kernel: {entry.how}")
    return tuple(dict.fromkeys(names))


@attrs.frozen
class LiveExample:
    scenario: sc.Scenario
    live: LiveRun
    verdicts: dict[str, LiveVerdict]

    @property
    def failures(self) -> dict[str, str]:
        return {name: v.failure for name, v in self.verdicts.items() if v.failure is not None}

    @property
    def stopped(self) -> str | None:
        """Why the run ended early without a verdict on the rest (not a timeout: that is terminates')."""
        return None if self.live.error in (None, "timeout") else self.live.error


def evaluate(scenario: sc.Scenario, names: tuple[str, ...], timeout: float = TIMEOUT) -> LiveExample:
    """Run `scenario` on the kernel (with probes) and judge it by the live checks of `names`."""
    live = run_live(scenario, timeout, probe=True)
    history = History(scenario, live)
    verdicts = {}
    for name in names:
        check = LIVE[name].check
        assert check is not None
        verdicts[name] = check(history)
    return LiveExample(scenario, live, verdicts)


class LiveFailure(AssertionError):
    """The kernel broke a property on an example (what Hypothesis shrinks)."""


@attrs.define
class LiveHuntReport:
    properties: tuple[str, ...]
    max_examples: int
    seed: int | None
    seconds: float
    #: examples run before the failure (all of them when there was none); shrinking not counted
    examples: int
    #: every run on the kernel, shrinking included
    runs: int
    #: property -> steps it judged, over `examples`
    checked: dict[str, int]
    #: property -> examples in which it judged at least one step
    judged_examples: dict[str, int]
    #: why examples stopped early (not drivable here, a crashed child) -> how many
    stopped: dict[str, int]
    #: the shrunk failing example, run once more; None if none was found
    failure: LiveExample | None = None
    #: the model (PROFILE) and the kernel side by side on the failing scenario
    comparison: Comparison | None = None
    #: the model's verdict on PROFILE for each failing property that the model also has
    model_verdicts: dict[str, str | None] = attrs.field(factory=dict)
    #: the kernel did not repeat itself while shrinking (or the failure did not reproduce)
    flaky: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None and self.flaky is None

    @property
    def per_second(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        from ..serialize import to_data

        failure = None
        if self.failure is not None:
            failure = {"scenario": to_data(self.failure.scenario), "failures": self.failure.failures,
                       "kernel_error": self.failure.live.error, "model_verdicts": self.model_verdicts,
                       "comparison": None if self.comparison is None else self.comparison.to_json()}
        return {
            "ok": self.ok, "kernel": os.uname().release, "profile": PROFILE, "properties": list(self.properties),
            "max_examples": self.max_examples, "seed": self.seed, "seconds": round(self.seconds, 3),
            "examples": self.examples, "runs": self.runs, "examples_per_second": round(self.per_second, 1),
            "checked_steps": self.checked, "judged_examples": self.judged_examples, "stopped": self.stopped,
            "failure": failure, "flaky": self.flaky,
        }


def model_verdicts(scenario: sc.Scenario, names: list[str]) -> dict[str, str | None]:
    """What the model's own properties say on the running release's profile (those it has)."""
    from properties import PROPERTIES, check_all

    from ..run import run_scenario

    known = [n for n in names if n in PROPERTIES]
    if not known:
        return {}
    return check_all(run_scenario(scenario, PROFILE, trace=False), known)


def live_hunt(names: list[str] | tuple[str, ...] | None = None, max_examples: int = 300, seed: int | None = None,
              *, timeout: float = TIMEOUT, progress: ProgressFn | None = None) -> LiveHuntReport:
    """Search drivable scenarios for one where the running kernel breaks a live-checkable property."""
    from ..oracle import availability
    from .strategy import live_scenarios

    avail = availability()
    if not avail.ok:
        raise RuntimeError(f"the live-kernel oracle cannot run here: {avail.reason}")
    chosen = checkable_names(names)
    checked: Counter[str] = Counter({name: 0 for name in chosen})
    judged: Counter[str] = Counter({name: 0 for name in chosen})
    stopped: Counter[str] = Counter()
    state: dict[str, Any] = {"examples": 0, "runs": 0, "counting": True, "last": None}
    started = time.perf_counter()

    def check(scenario: sc.Scenario) -> None:
        example = evaluate(scenario, chosen, timeout)
        state["runs"] += 1
        if progress is not None:
            progress(state["runs"], max_examples if state["counting"] else None,
                     "examples" if state["counting"] else "shrinking")
        if state["counting"]:
            state["examples"] += 1
            for name, verdict in example.verdicts.items():
                checked[name] += verdict.checked
                judged[name] += verdict.checked > 0
            if example.stopped:
                stopped[_reason(example.stopped)] += 1
        if example.failures:
            state["counting"] = False
            state["last"] = scenario
            raise LiveFailure("; ".join(f"{k}: {v}" for k, v in example.failures.items()))

    flaky = search_kernel(live_scenarios(), check, max_examples, seed, LiveFailure)
    failure = comparison = None
    verdicts: dict[str, str | None] = {}
    if state["last"] is not None:
        failure = evaluate(state["last"], chosen, timeout)
        if not failure.failures:  # did not reproduce: keep it visible, never silently pass
            flaky = flaky or f"the failure did not reproduce: {describe_scenario(state['last'])}"
            failure = None
        else:
            comparison = compare(failure.scenario, live=failure.live)
            verdicts = model_verdicts(failure.scenario, sorted(failure.failures))
    return LiveHuntReport(chosen, max_examples, seed, time.perf_counter() - started, state["examples"],
                          state["runs"], dict(checked), dict(judged), dict(stopped), failure, comparison, verdicts,
                          flaky)


def _reason(error: str) -> str:
    """An early stop's reason without the op number, so like stops are counted together."""
    text = error.split(": ", 1)[1] if error.startswith("op ") and ": " in error else error
    return text if len(text) <= 100 else text[:97] + "..."


def save_live_counterexample(root: str | Path, example: LiveExample, found_by: str) -> Path:
    """Keep a shrunk live failure in regressions/pending with "live": true; the kernel's failures and
    release go into its origin (its expectations are the model's, as for any corpus file)."""
    from ..regression import PENDING, Regression, expectations_now, save_new, slug
    from ..snapshot import snapshot_now

    release = os.uname().release
    names = sorted(example.failures)
    origin = {"found_by": found_by, "kernel": release, "live_failures": example.failures}
    reg = Regression(f"{', '.join(names)} fails on Linux {release} (live)", example.scenario,
                     expectations_now(example.scenario), origin, True, snapshot_now(example.scenario))
    return save_new(Path(root) / "regressions" / PENDING, slug(f"{'-'.join(names)}-live"), reg)
