"""SQLite-specific: a locked database is an outage (StoreUnavailable), and never a partial write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from deliverer.store import StoreUnavailable
from deliverer.store.sqlite import SQLiteStore
from tests.helpers import make_reports


def test_locked_database_raises_unavailable_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SQLiteStore(path, busy_timeout_ms=100)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable):
            store.insert_batch(make_reports(100, orders=3))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.counts().locations == 0
    assert store.insert_batch(make_reports(100, orders=3)).inserted == 100


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "wal.db")
    with sqlite3.connect(tmp_path / "wal.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
