"""Every outcome the model allows for a scenario, where state no scenario controls decides.

With Kernel.uncontrolled_batches (the live oracle without its crutches), a decision that
counts references may meet one held by another CPU's folio batch (model/fault.py's
wp_can_reuse_anon_folio): the model then has a choice point (Kernel.choose) and the kernel
may take either way. outcomes() runs the scenario once per path through its choice points,
the deterministic one (every choice 0) first, breadth first, up to a bound; conform counts a
step as agreeing when the kernel's observations are those of one of these runs.
"""

from __future__ import annotations

import attrs

from . import scenario as sc
from .fullview import ModelViewer, StepView
from .model.kernel import Kernel
from .run import Run, run_scenario

#: runs per scenario at most (each choice point doubles them; scenarios have a handful of writes)
MAX_OUTCOMES = 64


@attrs.frozen
class Outcome:
    run: Run
    #: op -> the full view after it (fullview.py)
    views: dict[int, StepView]
    #: the choice taken at each choice point met
    script: tuple[int, ...]


def outcomes(scenario: sc.Scenario, profile: str, *, uncontrolled_batches: bool,
             limit: int = MAX_OUTCOMES) -> list[Outcome]:
    """The model's runs of `scenario`, one per path through its choice points (one run when
    the batches are controlled: no choice point is met then)."""
    pending: list[tuple[int, ...]] = [()]
    found: list[Outcome] = []
    while pending and len(found) < limit:
        script = pending.pop(0)
        viewer = ModelViewer(scenario)

        def configure(k: Kernel, script: tuple[int, ...] = script) -> None:
            k.uncontrolled_batches = uncontrolled_batches
            k.script = list(script)

        run = run_scenario(scenario, profile, trace=False, on_step=viewer, configure=configure)
        found.append(Outcome(run, viewer.views, script))
        met = run.kernel.met
        for point in range(len(script), len(met)):
            for other in range(1, met[point]):
                pending.append(script + (0,) * (point - len(script)) + (other,))
    return found
