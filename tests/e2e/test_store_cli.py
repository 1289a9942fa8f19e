"""``deliverer store migrate`` as a user (or the Compose one-shot store-migrate) runs it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from deliverer.local_broker import free_port
from deliverer.store.sqlite import SCHEMA_VERSION
from tests.e2e.test_stats_cli import deliverer
from tests.integration.store.test_sqlite_migration import VERSION_0


def test_a_sqlite_store_of_the_previous_release_is_migrated_and_a_second_run_has_nothing_to_do(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.executescript(VERSION_0)

    first = deliverer("store", "migrate", "--store", f"sqlite:///{path}")
    again = deliverer("store", "migrate", "--store", f"sqlite:///{path}")

    assert first.returncode == 0, first.stderr
    assert f"migrating SQLite store {path} to schema {SCHEMA_VERSION}" in first.stderr
    assert first.stdout == f"SQLiteStore('{path}') is up to date\n"
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert again.returncode == 0 and "migrating" not in again.stderr


def test_a_mongodb_server_that_does_not_answer_is_one_line_within_the_urls_own_timeout() -> None:
    port = free_port()
    result = deliverer("store", "migrate", "--store", f"mongodb://127.0.0.1:{port}/deliverer?serverSelectionTimeoutMS=300")
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"deliverer store: store unavailable: MongoDB index check: 127.0.0.1:{port}:")
    assert "Timeout: 0.3s" in line, "the URL's serverSelectionTimeoutMS wins over the store's default"


def test_a_mongodb_url_that_gives_up_durability_is_refused_before_connecting() -> None:
    result = deliverer("store", "migrate", "--store", "mongodb://127.0.0.1:27017/deliverer?w=0")
    assert result.returncode == 2
    assert result.stderr.startswith("deliverer store: the MongoDB store URL sets w=0")
