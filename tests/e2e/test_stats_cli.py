"""``deliverer stats`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from deliverer.store import open_store
from tests.helpers import REPO, corrupt_store, make_reports


def deliverer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deliverer_cli.main", *args], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def test_stats_json_counts_locations_orders_and_rejected(sqlite_url: str) -> None:
    store = open_store(sqlite_url)
    store.insert_batch(make_reports(120, orders=4))
    result = deliverer("stats", "--store", sqlite_url, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"locations": 120, "orders": 4, "rejected": 0}


def test_unsupported_store_url_is_a_clear_error() -> None:
    result = deliverer("stats", "--store", "postgres://db/x")
    assert result.returncode == 2
    assert "unsupported store URL" in result.stderr and "Traceback" not in result.stderr


def test_a_store_that_does_not_exist_is_named_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    result = deliverer("stats", "--store", f"sqlite:///{missing}")
    assert result.returncode == 1
    assert result.stderr.strip() == f"deliverer stats: store unavailable: no store at {missing}"
    assert not missing.exists()


def test_a_corrupt_store_is_one_line_and_exit_1(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.db"
    corrupt_store(corrupt)
    result = deliverer("stats", "--store", f"sqlite:///{corrupt}")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line == (
        f"deliverer stats: store unavailable: SQLite store {corrupt}: read failed: database disk image is malformed"
    )
