"""Regression files: a counterexample worth keeping, as plain JSON.

    {
      "format": 1,
      "title": "...",
      "origin": {"commits": ["1c563432588d"], "thread": "...", "found_by": "..."},
      "scenario": {"layout": [...], "ops": [...]},
      "expect": {"default": [], "v5.19-rc1": ["terminates"]},
      "snapshot": {"default": ["1: A+"], "v5.19-rc1": ["never returns"]}
    }

`expect` lists, per kernel profile, the properties that must FAIL there; every other
property must hold. Profiles not named use "default". The format is independent of
Hypothesis' internal encoding, so a file keeps replaying across Hypothesis upgrades.

`snapshot` (optional, harness.snapshot) records each op's result and the pages after it, per
profile, the same way; replay reports a behaviour change when the model now does something
else. It is an optional field of format 1, not a new version: files without it load and
replay as before (without the behaviour check), and nothing else in the format changed.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import attrs

from . import scenario as sc
from .model.kernels import PROFILE_NAMES, Profile, get_profile
from .run import Run, run_scenario
from .serialize import ScenarioFormatError, from_data, to_data
from .snapshot import Snapshot, SnapshotFormatError, encode_run, grouped, snapshot_now
from .snapshot import diff as snapshot_diff
from .snapshot import recorded as recorded_outcome
from .snapshot import validate as validate_snapshot

FORMAT_VERSION = 1
#: a regression file is a small hand-readable JSON document; anything larger is refused unread
MAX_FILE_BYTES = 1 << 20
PENDING = "pending"


class RegressionError(ValueError):
    """A regression file that cannot be used; str() is one line naming the file and field."""


@attrs.frozen
class Regression:
    title: str
    scenario: sc.Scenario
    expect: dict[str, tuple[str, ...]]
    origin: dict[str, Any] = attrs.field(factory=dict)
    #: also compare the model (mainline) with the running kernel where it can be observed
    live: bool = False
    #: each op's outcome per profile (harness.snapshot); None in files written before snapshots
    snapshot: Snapshot | None = None

    def expected_failures(self, profile: str) -> frozenset[str]:
        """What must fail on `profile`: nothing where the scenario does not apply (an API or flag
        the profile lacks), whatever `default` says."""
        if profile not in applicable_profiles(self.scenario):
            return frozenset()
        return frozenset(self.expect.get(profile, self.expect.get("default", ())))

    def profiles(self) -> tuple[str, ...]:
        return PROFILE_NAMES


@functools.lru_cache(maxsize=256)
def applicable_profiles(scenario: sc.Scenario) -> frozenset[str]:
    """The profiles a scenario runs on (not 'not applicable'): one model run per profile, cached."""
    return frozenset(name for name in PROFILE_NAMES if not run_scenario(scenario, name, trace=False).not_applicable)


def load(path: str | Path) -> Regression:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RegressionError(f"{path}: {size} bytes, larger than a regression file may be ({MAX_FILE_BYTES})")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RegressionError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise RegressionError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegressionError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return from_json_data(data, str(path))


def from_json_data(data: Any, where: str) -> Regression:
    from properties import PROPERTIES

    if not isinstance(data, dict):
        raise RegressionError(f"{where}: expected a JSON object")
    if "format" not in data:
        raise RegressionError(f"{where}: format: missing (this reader knows format {FORMAT_VERSION})")
    if data["format"] != FORMAT_VERSION or isinstance(data["format"], bool):
        raise RegressionError(f"{where}: format: unknown version {data['format']!r} (this reader knows {FORMAT_VERSION})")
    unknown = set(data) - {"format", "title", "origin", "scenario", "expect", "live", "snapshot"}
    if unknown:
        raise RegressionError(f"{where}: {sorted(unknown)[0]}: unknown field")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise RegressionError(f"{where}: title: must be a non-empty string")
    origin = data.get("origin", {})
    if not isinstance(origin, dict):
        raise RegressionError(f"{where}: origin: must be an object")
    try:
        scenario = from_data(data.get("scenario"), "scenario")
    except (ScenarioFormatError, sc.ScenarioError) as exc:
        raise RegressionError(f"{where}: {exc}") from None
    expect_data = data.get("expect", {"default": []})
    if not isinstance(expect_data, dict):
        raise RegressionError(f"{where}: expect: must be an object of profile -> [property, ...]")
    expect: dict[str, tuple[str, ...]] = {}
    for profile, names in expect_data.items():
        if profile != "default" and profile not in PROFILE_NAMES:
            raise RegressionError(f"{where}: expect.{profile}: unknown kernel profile (known: {', '.join(PROFILE_NAMES)})")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RegressionError(f"{where}: expect.{profile}: must be a list of property names")
        for name in names:
            if name not in PROPERTIES:
                raise RegressionError(f"{where}: expect.{profile}: unknown property {name!r} (known: {', '.join(PROPERTIES)})")
        expect[profile] = tuple(names)
    live = data.get("live", False)
    if not isinstance(live, bool):
        raise RegressionError(f"{where}: live: must be true or false")
    snapshot = None
    if "snapshot" in data:
        try:
            snapshot = validate_snapshot(data["snapshot"], "snapshot")
        except SnapshotFormatError as exc:
            raise RegressionError(f"{where}: {exc}") from None
    return Regression(title, scenario, expect, origin, live, snapshot)


def to_json_data(reg: Regression) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "title": reg.title,
        "origin": reg.origin,
        "scenario": to_data(reg.scenario),
        "expect": {k: list(v) for k, v in reg.expect.items()},
        **({"live": True} if reg.live else {}),
    }


def dumps(reg: Regression) -> str:
    """The file's text: indented JSON, with one line per profile in the snapshot (a changed
    profile is one changed line in a diff)."""
    text = json.dumps(to_json_data(reg), indent=2)
    if reg.snapshot is None:
        return text + "\n"
    rows = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in reg.snapshot.items())
    return text[:-2] + f',\n  "snapshot": {{\n{rows}\n  }}\n}}\n'


@attrs.frozen
class Verdict:
    profile: str
    run: Run
    failures: dict[str, str]
    expected: frozenset[str]

    @property
    def unexpected_failures(self) -> dict[str, str]:
        return {k: v for k, v in self.failures.items() if k not in self.expected}

    @property
    def unexpected_passes(self) -> list[str]:
        return sorted(self.expected - set(self.failures))

    @property
    def not_applicable(self) -> str | None:
        """The scenario uses something this kernel did not have (e.g. FOLL_PIN before v5.6)."""
        return self.run.not_applicable

    @property
    def ok(self) -> bool:
        if self.not_applicable:
            return True  # nothing to check; reported as "n/a", never mapped to something else
        return not self.unexpected_failures and not self.unexpected_passes

    def explain(self) -> str:
        lines = []
        for name, message in self.unexpected_failures.items():
            lines.append(f"property {name} fails on {self.profile} but is expected to hold: {message}")
        for name in self.unexpected_passes:
            lines.append(f"property {name} holds on {self.profile} but is expected to fail there")
        return "\n".join(lines)


def check(scenario: sc.Scenario, profile: Profile | str, expected: frozenset[str] = frozenset()) -> Verdict:
    from properties import check_all

    profile = get_profile(profile) if isinstance(profile, str) else profile
    run = run_scenario(scenario, profile)
    failures = {k: v for k, v in check_all(run).items() if v is not None}
    return Verdict(profile.name, run, failures, expected)


def expectations_now(scenario: sc.Scenario) -> dict[str, tuple[str, ...]]:
    """The model's current verdicts on every profile, as an `expect` object: mainline's
    failures as the default, and every profile that differs named explicitly."""
    verdicts = {name: check(scenario, name) for name in PROFILE_NAMES}
    per_profile = {name: tuple(sorted(v.failures)) for name, v in verdicts.items() if not v.not_applicable}
    default = per_profile.get("mainline", ())
    expect: dict[str, tuple[str, ...]] = {"default": default}
    expect.update({name: v for name, v in per_profile.items() if v != default})
    return expect


def behaviour_change(reg: Regression, profile: str, run: Run) -> list[str] | None:
    """How the run differs from the file's snapshot on `profile` ([] = not at all); None
    when the file records no snapshot."""
    if reg.snapshot is None:
        return None
    before = recorded_outcome(reg.snapshot, profile)
    if before is None:
        return None
    return snapshot_diff(reg.scenario, before, encode_run(run))


def with_snapshot(reg: Regression) -> Regression:
    """The same file with the model's current outcomes as its snapshot."""
    return attrs.evolve(reg, snapshot=snapshot_now(reg.scenario))


def snapshot_changes(reg: Regression, new: Snapshot) -> list[str]:
    """What replacing the file's snapshot with `new` changes, profile by profile."""
    if reg.snapshot is None:
        return ["snapshot: none -> recorded"]
    diffs = {}
    for profile in PROFILE_NAMES:
        before, after = recorded_outcome(reg.snapshot, profile), recorded_outcome(new, profile)
        if before is not None and after is not None:
            diffs[profile] = snapshot_diff(reg.scenario, before, after)
    return [f"{label}: {line}" for label, lines in grouped(diffs) for line in lines]


def with_expectations(reg: Regression) -> Regression:
    """The same file with the model's current verdicts as expectations, and a fresh snapshot."""
    return attrs.evolve(reg, expect=expectations_now(reg.scenario), snapshot=snapshot_now(reg.scenario))


def expectation_changes(old: Regression, new: Regression) -> list[str]:
    """What replacing `old`'s expectations and snapshot with `new`'s changes: per profile,
    the properties that start or stop being expected to fail, then the snapshot's diff."""
    lines = []
    for profile in PROFILE_NAMES:
        before, after = old.expected_failures(profile), new.expected_failures(profile)
        if before != after:
            lines.append(f"expect {profile}: {', '.join(sorted(before)) or 'all hold'} -> "
                         f"{', '.join(sorted(after)) or 'all hold'}")
    if old.expect != new.expect and not lines:
        lines.append("expect: same verdicts, written in the canonical form")
    if new.snapshot is not None:
        lines += snapshot_changes(old, new.snapshot)
    return lines


def write_atomic(path: str | Path, text: str) -> None:
    """Replace `path` with `text` atomically: a reader (or a crash) sees the old file or the new."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "counterexample"


TMP_PREFIX = ".tmp-"


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete what interrupted saves left behind: temporary files whose writer is gone.

    A temporary file is named `.tmp-<pid>-...json`; while that process lives, it may still be
    linking the file into place, so only files of dead processes (or of an unknown writer
    older than an hour) are removed."""
    removed = []
    for path in directory.glob(f"{TMP_PREFIX}*.json"):
        pid_text = path.name[len(TMP_PREFIX):].split("-", 1)[0]
        try:
            if pid_text.isdigit():
                if _process_alive(int(pid_text)):
                    continue
            elif time.time() - path.stat().st_mtime < 3600:
                continue
            path.unlink()
        except FileNotFoundError:
            continue  # another cleaner got there first
        removed.append(path)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same_counterexample(path: Path, reg: Regression) -> bool:
    """Is the file at `path` this counterexample (same scenario and expectations), whoever found it?"""
    try:
        existing = load(path)
    except RegressionError:
        return False
    return existing.scenario == reg.scenario and existing.expect == reg.expect and existing.live == reg.live


def find_same_counterexample(directory: Path, reg: Regression) -> Path | None:
    if not directory.is_dir():
        return None
    for path in sorted(directory.glob("*.json")):
        if _same_counterexample(path, reg):
            return path
    return None


def save_new(directory: str | Path, stem: str, reg: Regression) -> Path:
    """Write `reg` atomically under a name that does not exist yet; never overwrite. The same
    counterexample found again (by another seed, worker or profile) is the file already there."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(directory)
    already = find_same_counterexample(directory, reg)
    if already is not None:
        return already
    text = dumps(reg)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        for n in range(1000):
            target = directory / (f"{stem}.json" if n == 0 else f"{stem}-{n}.json")
            try:
                os.link(tmp, target)  # atomic, and fails instead of replacing an existing file
            except FileExistsError:
                if _same_counterexample(target, reg):
                    return target  # saved meanwhile by a concurrent search
                continue
            return target
        raise RegressionError(f"{directory}: too many files named {stem}-N.json")
    finally:
        os.unlink(tmp)


def save_counterexample(root: str | Path, scenario: sc.Scenario, profile: str, failures: dict[str, str],
                        found_by: str, *, live: bool = False) -> Path:
    """Keep a shrunk counterexample as a ready-to-commit regression file in regressions/pending."""
    names = sorted(failures)
    title = f"{', '.join(names)} fails on {profile}"
    reg = Regression(title, scenario, expectations_now(scenario), {"found_by": found_by}, live,
                     snapshot_now(scenario))
    return save_new(Path(root) / "regressions" / PENDING, slug(f"{'-'.join(names)}-{profile}"), reg)


def save_json_atomic(path: str | Path, data: Any) -> None:
    """Replace `path` with `data` as JSON, atomically (a reader sees the old or the new file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def recorded_failures(profile: str, directory: str | Path = "regressions") -> set[str]:
    """The properties some corpus file in `directory` expects to fail on `profile` (a file that
    does not load is passed over: pytest reports it on its own)."""
    known: set[str] = set()
    for path in sorted(Path(directory).glob("*.json")):
        try:
            known |= load(path).expected_failures(profile)
        except RegressionError:
            continue
    return known
