"""A corpus item's timeout (pytest-timeout's signal method) raises wherever the model is, and
pytest then renders a traceback entry per frame. On Python 3.11 the back-edge of a loop whose
body ends in an `if` has no line number, and pytest's rendering of an entry without one is an
INTERNALERROR that ends the whole run (tests/test_corpus_collection.py's slow file met it in
snapshot()). The bookkeeping that runs after every operation has tight loops where a timeout
is likely to land: none of them may have such a back-edge."""

from __future__ import annotations

import dis
from collections.abc import Callable
from typing import Any

import pytest

from harness.repeat import shape
from harness.run import _Executor, observe

HOT: list[Callable[..., Any]] = [_Executor.snapshot, _Executor._hold, observe, shape]


@pytest.mark.parametrize("function", HOT, ids=lambda f: f.__qualname__)
def test_every_loop_back_edge_of_the_per_operation_bookkeeping_has_a_line(function: Callable[..., Any]) -> None:
    codes = [function.__code__]
    codes += [c for c in function.__code__.co_consts if hasattr(c, "co_code")]  # comprehensions
    unnamed = [(code.co_name, ins.offset) for code in codes for ins in dis.get_instructions(code)
               if ins.opname.startswith("JUMP_BACKWARD") and ins.positions is not None
               and ins.positions.lineno is None]
    assert not unnamed
