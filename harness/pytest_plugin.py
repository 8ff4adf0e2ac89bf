"""pytest plugin: collects regressions/*.json as test items, one per file and kernel profile,
and one per file (`::variants`) for its calls made through the other entry points.

An item id reads `regressions/zero-pfn-longterm-livelock.json::v5.19-rc1`. A failing item
says which property broke on which kernel, and how. Files under regressions/pending/ (fresh,
not yet reviewed counterexamples) are not collected; promoting one is moving it up a level.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .model.kernels import PROFILE_NAMES
from .regression import PENDING, Regression, RegressionError, check, load


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".json" and file_path.parent.name == "regressions" and PENDING not in file_path.parts:
        return RegressionFile.from_parent(parent, path=file_path)
    return None


class RegressionFileError(Exception):
    pass


class RegressionFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            reg = load(self.path)
        except RegressionError as exc:
            raise RegressionFileError(str(exc)) from None
        for profile in PROFILE_NAMES:
            yield RegressionItem.from_parent(self, name=profile, regression=reg, profile=profile)
        yield VariantsItem.from_parent(self, name="variants", regression=reg)
        if reg.live:
            yield LiveItem.from_parent(self, name="live", regression=reg)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, RegressionFileError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)  # type: ignore[return-value]


class RegressionMismatch(AssertionError):
    pass


class _CorpusItem(pytest.Item):
    """An item of a regression file: a mismatch is reported as its own message, no traceback."""

    def __init__(self, *, regression: Regression, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.regression = regression

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, RegressionMismatch):
            return str(excinfo.value)
        return super().repr_failure(excinfo)  # type: ignore[return-value]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.name}::{self.name}"


class RegressionItem(_CorpusItem):
    def __init__(self, *, profile: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile = profile

    def runtest(self) -> None:
        verdict = check(self.regression.scenario, self.profile, self.regression.expected_failures(self.profile))
        if not verdict.ok:
            raise RegressionMismatch(f"{self.regression.title}\n{verdict.explain()}\n"
                                     f"replay: gupharness replay {self.path} --kernel {self.profile} --trace")


class VariantsItem(_CorpusItem):
    """Each call through every other entry point that can make it (harness/variants.py): no
    variant may fail a property its original satisfies, on any profile."""

    def runtest(self) -> None:
        from .variants import check_variants

        problems = []
        for profile in PROFILE_NAMES:
            original = check(self.regression.scenario, profile)
            if original.not_applicable:
                continue
            for v in check_variants(self.regression.scenario, profile, set(original.failures)):
                problems += [f"{v.variant.label} on {profile}: {name} fails where the original holds: "
                             f"{v.failures[name]}" for name in v.new_failures]
        if problems:
            raise RegressionMismatch(f"{self.regression.title}\n" + "\n".join(problems)
                                     + f"\nreplay: gupharness replay {self.path}")


class LiveItem(_CorpusItem):
    """The model's mainline prediction against the running kernel (skips where it cannot be observed)."""

    def runtest(self) -> None:
        from .conform import compare
        from .oracle import availability

        avail = availability()
        if not avail.ok:
            pytest.skip(f"live kernel cannot be observed here: {avail.reason}")
        comparison = compare(self.regression.scenario)
        if not comparison.agree:
            raise RegressionMismatch(f"{self.regression.title}\nthe model (mainline) and the running kernel disagree: "
                                     f"{comparison.first_mismatch}\nreplay: gupharness conform --file {self.path}")
