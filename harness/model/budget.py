"""Termination: every model loop spends from a step budget.

A deterministic model that returns to the state it had at the head of an earlier round
of the same loop will repeat forever; detecting that is exact and immediate. The budget
cap catches loops that make "progress" that never ends. Either raises Livelock, which
the runner records, so a non-terminating example fails fast and Hypothesis can shrink
it. With the budget switched off (`Budget(None)`) the model hangs as the kernel did,
which is what pytest-timeout is there to stop.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import attrs

from .trace import Event

DEFAULT_LIMIT = 64


class Livelock(Exception):
    """A loop of the model does not terminate."""

    def __init__(self, loop: str, rounds: int, reason: str, repeating: list[Event], state: str) -> None:
        super().__init__(f"{loop} does not terminate: {reason}")
        self.loop = loop
        self.rounds = rounds
        self.reason = reason
        #: the trace events of one repeating round
        self.repeating = repeating
        #: the state that repeats, rendered
        self.state = state


@attrs.define
class Budget:
    #: maximum rounds of one loop; None switches termination checking off (the model may hang)
    limit: int | None = DEFAULT_LIMIT
    seen: dict[tuple[str, int], dict[Hashable, int]] = attrs.field(factory=dict)

    def round(self, loop: str, instance: int, number: int, fingerprint: Callable[[], Hashable],
              describe_state: Callable[[], str], events: list[Event]) -> None:
        """Account for round `number` of loop `loop` (call `instance`); raise Livelock if it cannot end.
        `fingerprint` is only taken when the budget is on (it walks every folio and PTE)."""
        if self.limit is None:
            return
        state = fingerprint()
        history = self.seen.setdefault((loop, instance), {})
        if state in history:
            earlier = history[state]
            raise Livelock(loop, number, f"round {number} starts in the same state as round {earlier}",
                           events, describe_state())
        history[state] = number
        if number >= self.limit:
            raise Livelock(loop, number, f"no result after {number} rounds (budget {self.limit})",
                           events, describe_state())
