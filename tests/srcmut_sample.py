"""A small module for tests/test_srcmut.py: one site per mutation operator, and the code the
enumerator must leave alone. Not a test file (no test_ prefix); imported by its tests only."""

from __future__ import annotations

import time

LIMIT = 3
#: seconds each round of clamp()'s loop pauses (in its trace call): the mutant that never ends
#: the loop then waits out the runner's timeout in its test instead of spinning a CPU for it
PAUSE = 0.001
if LIMIT != 3:
    raise RuntimeError("LIMIT is fixed")


class Trace:
    depth = 0

    def __call__(self, *args: object) -> None:
        time.sleep(PAUSE)


trace = Trace()


def clamp(value: int, high: int = LIMIT) -> int:
    """Counts down to the limit."""
    assert value >= 0
    trace(f"clamp {value + 1}")
    while value > high:
        trace("one down")
        value -= 1
    return value


def both(a: bool, b: bool) -> bool:
    return a and not b


def label(value: int) -> str:
    return "big" if value > 10 else "small"
