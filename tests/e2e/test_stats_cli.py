"""``deliverer stats`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from deliverer.store import open_store
from tests.helpers import REPO, make_reports


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
