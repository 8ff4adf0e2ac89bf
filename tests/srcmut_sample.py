"""A small module for tests/test_srcmut.py: one site per mutation operator, and the code the
enumerator must leave alone. Not a test file (no test_ prefix); imported by its tests only."""

from __future__ import annotations

LIMIT = 3
if LIMIT != 3:
    raise RuntimeError("LIMIT is fixed")


class Trace:
    depth = 0

    def __call__(self, *args: object) -> None:
        pass


trace = Trace()


def clamp(value: int, high: int = LIMIT) -> int:
    """Counts down to the limit."""
    assert value >= 0
    trace(f"clamp {value + 1}")
    while value > high:
        value -= 1
    return value


def both(a: bool, b: bool) -> bool:
    return a and not b


def label(value: int) -> str:
    return "big" if value > 10 else "small"
