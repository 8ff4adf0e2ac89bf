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
from .regression import Regression, RegressionError, behaviour_change, check, load

#: Hypothesis statistics for the searches plain tests run (harness/search_statistics.py)
pytest_plugins = ["harness.search_statistics"]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Corpus files: *.json directly in a corpus directory (ini `gup_corpus`, default
    `regressions`; pending/ below it is not collected), and any regression file named
    explicitly on the command line (e.g. a fresh counterexample in regressions/pending/)."""
    if file_path.suffix != ".json":
        return None
    config = parent.config
    if file_path.parent.resolve() in _corpus_dirs(config) or file_path.resolve() in _named_files(config):
        return RegressionFile.from_parent(parent, path=file_path)
    return None


def _corpus_dirs(config: pytest.Config) -> set[Path]:
    return {(config.rootpath / d).resolve() for d in config.getini("gup_corpus")}


def _named_files(config: pytest.Config) -> set[Path]:
    named = set()
    for arg in config.args:
        path = Path(arg.split("::")[0])
        path = path if path.is_absolute() else config.invocation_params.dir / path
        if path.suffix == ".json":
            named.add(path.resolve())
    return named


#: seconds one corpus item may run before it fails alone (the step budget ends model loops
#: long before this; the bound is for a file that is merely huge)
DEFAULT_ITEM_TIMEOUT = 60.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("gup_corpus", "directories whose *.json files are regression files (relative to the rootdir)",
                  type="args", default=["regressions"])
    parser.addini("gup_corpus_timeout", "seconds one regression-file item may run before it fails alone",
                  default=str(DEFAULT_ITEM_TIMEOUT))
    parser.addini("gup_kernels", "kernel profiles to replay regression files on (default: every profile)",
                  type="args", default=[])


def corpus_profiles(config: pytest.Config) -> tuple[str, ...]:
    chosen = tuple(config.getini("gup_kernels"))
    unknown = [name for name in chosen if name not in PROFILE_NAMES]
    if unknown:
        raise pytest.UsageError(f"gup_kernels: unknown kernel profile {unknown[0]!r} "
                                f"(known: {', '.join(PROFILE_NAMES)})")
    return chosen or PROFILE_NAMES


class RegressionFileError(Exception):
    pass


class RegressionFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            reg = load(self.path)
        except RegressionError as exc:
            # one failing item, not a collection error: the rest of the suite still runs
            yield BrokenFileItem.from_parent(self, name="load", message=str(exc))
            return
        timeout = float(self.config.getini("gup_corpus_timeout"))
        items: list[_CorpusItem] = [RegressionItem.from_parent(self, name=profile, regression=reg, profile=profile)
                                    for profile in corpus_profiles(self.config)]
        items.append(VariantsItem.from_parent(self, name="variants", regression=reg,
                                              profiles=corpus_profiles(self.config)))
        if reg.live:
            live = LiveItem.from_parent(self, name="live", regression=reg)
            live.add_marker(pytest.mark.live)
            items.append(live)
        for item in items:
            # "signal": the item fails alone; the thread method would end the whole run
            item.add_marker(pytest.mark.timeout(timeout, method="signal"))
            yield item


class BrokenFileItem(pytest.Item):
    """A regression file that cannot be loaded: reported as one failing item with one line."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def runtest(self) -> None:
        raise RegressionFileError(self.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, RegressionFileError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)  # type: ignore[return-value]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.name}::load"


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
        self.user_properties += [("kernel", self.profile), ("failing", ",".join(sorted(verdict.failures)))]
        changed = behaviour_change(self.regression, self.profile, verdict.run)
        if verdict.not_applicable and not changed:
            # its own verdict: nothing was checked, so it is not a pass
            pytest.skip(f"not applicable on {self.profile}: {verdict.not_applicable}")
        problems = []
        if not verdict.ok:
            problems.append(verdict.explain())
        if changed:
            problems.append(f"behaviour changed on {self.profile} (the snapshot records something else):\n"
                            + "\n".join(f"    {line}" for line in changed)
                            + f"\naccept deliberately with: gupharness replay --update {self.path}")
        if problems:
            raise RegressionMismatch(f"{self.regression.title}\n" + "\n".join(problems) + "\n"
                                     f"replay: gupharness replay {self.path} --kernel {self.profile} --trace")


class VariantsItem(_CorpusItem):
    """Each call through every other entry point that can make it (harness/variants.py): no
    variant may fail a property its original satisfies, on any of the profiles."""

    def __init__(self, *, profiles: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profiles = profiles

    def runtest(self) -> None:
        from .variants import check_variants

        problems = []
        for profile in self.profiles:
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
