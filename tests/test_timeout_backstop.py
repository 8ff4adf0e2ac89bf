"""pytest-timeout is the backstop for a loop the step budget does not cover: prove it stops
a real hang (the v5.19-rc1 loop with the budget switched off) and names the test."""

from __future__ import annotations

import pytest

HANGING_TEST = '''
from harness import scenario as sc
from harness.run import run_scenario

def test_seed_livelock_without_budget():
    scenario = sc.Scenario((sc.Vma(0, 1, faulted="r"),),
                           (sc.Gup("pin_user_pages", 0, 1, ("FOLL_LONGTERM",)),))
    run_scenario(scenario, "v5.19-rc1", budget=None, trace=False)
'''


@pytest.mark.slow
def test_timeout_stops_a_real_livelock_and_names_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hang=HANGING_TEST)
    # the project's own settings: method "thread" (see pyproject.toml), a short limit here
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "timeout=1",
                                           "-o", "timeout_method=thread", timeout=60)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret != 0
    assert "Timeout" in output
    assert "test_seed_livelock_without_budget" in output
    assert "__gup_longterm_locked" in output  # the stack dump shows where it loops
