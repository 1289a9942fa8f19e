"""SQLite stores written by earlier releases are migrated in place when opened: version 0 (history keyed
by msg_id alone) keeps every row, each order owned by the courier of its earliest report; version 1
gets each order's trip from its history."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deliverer.contract import LocationReport
from deliverer.store.base import StoreUnavailable, TripTotals
from deliverer.store.sqlite import SCHEMA_VERSION, SQLiteStore
from deliverer.store.trip_totals import path_km, trip_key

VERSION_0 = """
CREATE TABLE locations (
    msg_id TEXT NOT NULL PRIMARY KEY, order_id TEXT NOT NULL, deliverer_id TEXT NOT NULL,
    delivery_state TEXT NOT NULL, ts_ms INTEGER NOT NULL, latitude REAL NOT NULL, longitude REAL NOT NULL,
    speed_kmh REAL, heading REAL, accuracy_m REAL, seq INTEGER, ingested_ms INTEGER NOT NULL
);
CREATE INDEX locations_order_ts ON locations (order_id, ts_ms DESC);
CREATE TABLE last_locations (
    order_id TEXT NOT NULL PRIMARY KEY, msg_id TEXT NOT NULL, deliverer_id TEXT NOT NULL,
    delivery_state TEXT NOT NULL, ts_ms INTEGER NOT NULL, latitude REAL NOT NULL, longitude REAL NOT NULL,
    speed_kmh REAL, heading REAL, accuracy_m REAL, seq INTEGER, updated_ms INTEGER NOT NULL
);
CREATE TABLE rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_ms INTEGER NOT NULL, topic TEXT NOT NULL,
    reason TEXT NOT NULL, message TEXT NOT NULL, payload BLOB NOT NULL, payload_size INTEGER NOT NULL
);
"""
T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_a_version_0_file_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.executescript(VERSION_0)
        rows = [  # o1 was started by d1, then d2 reported for it too (the old code let it)
            ("m2", "o1", "d2", "on_the_way", int((T0 + timedelta(minutes=1)).timestamp() * 1000), 45.1, 9.1),
            ("m1", "o1", "d1", "start", int(T0.timestamp() * 1000), 45.0, 9.0),
            ("m3", "o2", "d3", "start", int(T0.timestamp() * 1000), 46.0, 9.5),
        ]
        old.executemany(
            "INSERT INTO locations (msg_id, order_id, deliverer_id, delivery_state, ts_ms, latitude, longitude,"
            " ingested_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 1)", rows,
        )
        old.execute(
            "INSERT INTO rejected (received_ms, topic, reason, message, payload, payload_size)"
            " VALUES (1, 't', 'not_json', 'm', x'00', 1)"
        )

    store = SQLiteStore(path)

    assert store.counts().locations == 3 and store.counts().rejected == 1
    assert [r.msg_id for r in store.history("o1")] == ["m1", "m2"]
    assert (store.order_courier("o1").deliverer_id, store.order_courier("o2").deliverer_id) == ("d1", "d3")  # type: ignore[union-attr]
    same_id_other_courier = LocationReport(
        msg_id="m1", order_id="o3", deliverer_id="d3", delivery_state="start", timestamp=T0, latitude=1, longitude=1
    )
    assert store.insert_batch([same_id_other_courier]).inserted == 1
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.close()
    assert SQLiteStore(path).counts().locations == 4, "opening again migrates nothing twice"


VERSION_1_HISTORY = """
CREATE TABLE locations (
    msg_id TEXT NOT NULL, order_id TEXT NOT NULL, deliverer_id TEXT NOT NULL,
    delivery_state TEXT NOT NULL, ts_ms INTEGER NOT NULL, latitude REAL NOT NULL, longitude REAL NOT NULL,
    speed_kmh REAL, heading REAL, accuracy_m REAL, seq INTEGER, ingested_ms INTEGER NOT NULL,
    PRIMARY KEY (deliverer_id, msg_id)
);
CREATE INDEX locations_order_ts ON locations (order_id, ts_ms DESC);
CREATE TABLE last_locations (
    order_id TEXT NOT NULL PRIMARY KEY, msg_id TEXT NOT NULL, deliverer_id TEXT NOT NULL,
    delivery_state TEXT NOT NULL, ts_ms INTEGER NOT NULL, latitude REAL NOT NULL, longitude REAL NOT NULL,
    speed_kmh REAL, heading REAL, accuracy_m REAL, seq INTEGER, updated_ms INTEGER NOT NULL
);
CREATE TABLE orders (order_id TEXT NOT NULL PRIMARY KEY, deliverer_id TEXT NOT NULL, since_ms INTEGER NOT NULL);
PRAGMA user_version = 1;
"""


def _walk(order: str, count: int) -> list[LocationReport]:
    return [
        LocationReport(
            msg_id=f"{order}-{n}", order_id=order, deliverer_id="d1", delivery_state="on_the_way",
            timestamp=T0 + timedelta(seconds=n // 2), latitude=45 + n * 1e-3, longitude=9 + (n % 3) * 1e-3,
        )
        for n in range(count)
    ]


def test_a_version_1_file_gets_every_order_s_trip_from_its_history(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    trips = {"o1": _walk("o1", 25), "o2": _walk("o2", 1), "o3": _walk("o3", 7)}
    with sqlite3.connect(path) as old:
        old.executescript(VERSION_1_HISTORY)
        old.executemany(
            "INSERT INTO locations (msg_id, order_id, deliverer_id, delivery_state, ts_ms, latitude, longitude,"
            " ingested_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
            [
                (r.msg_id, r.order_id, r.deliverer_id, r.delivery_state.value, r.timestamp_ms, r.latitude, r.longitude)
                for reports in trips.values() for r in reversed(reports)
            ],
        )
        old.execute("INSERT INTO orders VALUES ('o1', 'd1', 1), ('o2', 'd1', 1), ('o3', 'd1', 1)")

    store = SQLiteStore(path)

    for order, reports in trips.items():
        ordered = sorted(reports, key=trip_key)
        assert store.trip_totals(order) == TripTotals(
            order, ordered[0], ordered[-1], len(reports), path_km(ordered)
        ), order
    late = _walk("o1", 26)[-1]
    assert store.insert_batch([late]).inserted == 1
    totals = store.trip_totals("o1")
    assert totals is not None and (totals.points, totals.last) == (26, late)
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    store.close()
    assert SQLiteStore(path).trip_totals("o1") == totals, "opening again migrates nothing twice"


def test_a_reader_refuses_a_file_no_writer_has_migrated_yet_and_says_how(tmp_path: Path) -> None:
    """The API and ``deliverer stats`` open a store without migrating it: on a file of the previous
    schema they answered from tables that were not there (``no such table: trips``)."""
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as old:
        old.executescript(VERSION_1_HISTORY)
    refusal = r"schema version 1, this release reads version 2: run `deliverer store migrate`"
    with pytest.raises(StoreUnavailable, match=refusal):
        SQLiteStore(path, create=False)
    SQLiteStore(path).close()  # a writer migrates it
    reader = SQLiteStore(path, create=False)
    assert reader.trip_totals("o1") is None
    reader.close()
    with sqlite3.connect(path) as newer:
        newer.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreUnavailable, match="written by a newer release"):
        SQLiteStore(path, create=False)
