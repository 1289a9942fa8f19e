"""SQLite backend (WAL): the embedded default for local bursts and tests.

Timestamps are kept as integer UTC milliseconds so that ordering, ranges and indexes are
plain integer comparisons. Each thread gets its own connection; WAL lets readers (the API)
run beside the single writer (the subscriber) without blocking it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deliverer.contract import DeliveryState, LocationReport
from deliverer.store.base import (
    DEFAULT_HISTORY_LIMIT,
    Counts,
    HistoryCursor,
    InsertResult,
    RejectedReport,
    ReportKey,
    StoreUnavailable,
)

REPORT_COLUMNS = (
    "msg_id",
    "order_id",
    "deliverer_id",
    "delivery_state",
    "ts_ms",
    "latitude",
    "longitude",
    "speed_kmh",
    "heading",
    "accuracy_m",
    "seq",
)
_COLS = ", ".join(REPORT_COLUMNS)
_MARKS = ", ".join("?" for _ in REPORT_COLUMNS)

SCHEMA = """
CREATE TABLE IF NOT EXISTS locations (
    msg_id TEXT NOT NULL PRIMARY KEY,
    order_id TEXT NOT NULL,
    deliverer_id TEXT NOT NULL,
    delivery_state TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    speed_kmh REAL,
    heading REAL,
    accuracy_m REAL,
    seq INTEGER,
    ingested_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS locations_order_ts ON locations (order_id, ts_ms DESC);
CREATE INDEX IF NOT EXISTS locations_ts ON locations (ts_ms);
CREATE INDEX IF NOT EXISTS locations_ingested ON locations (ingested_ms);
CREATE TABLE IF NOT EXISTS last_locations (
    order_id TEXT NOT NULL PRIMARY KEY,
    msg_id TEXT NOT NULL,
    deliverer_id TEXT NOT NULL,
    delivery_state TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    latitude REAL NOT NULL,
    longitude REAL NOT NULL,
    speed_kmh REAL,
    heading REAL,
    accuracy_m REAL,
    seq INTEGER,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms INTEGER NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rejected_reason ON rejected (reason);
"""

_UPSERT_LAST = f"""
INSERT INTO last_locations ({_COLS}, updated_ms) VALUES ({_MARKS}, ?)
ON CONFLICT (order_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in REPORT_COLUMNS if c != "order_id")},
    updated_ms = excluded.updated_ms
WHERE excluded.ts_ms > last_locations.ts_ms
   OR (excluded.ts_ms = last_locations.ts_ms AND excluded.msg_id > last_locations.msg_id)
"""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _row(report: LocationReport) -> tuple[Any, ...]:
    return (
        report.msg_id,
        report.order_id,
        report.deliverer_id,
        report.delivery_state.value,
        report.timestamp_ms,
        report.latitude,
        report.longitude,
        report.speed_kmh,
        report.heading,
        report.accuracy_m,
        report.seq,
    )


def _report(row: sqlite3.Row | tuple[Any, ...]) -> LocationReport:
    """A stored row (columns in ``REPORT_COLUMNS`` order) as a report; it was validated on the way in."""
    msg_id, order_id, deliverer_id, state, ts_ms, latitude, longitude, speed_kmh, heading, accuracy_m, seq = row
    return LocationReport.model_construct(
        msg_id=msg_id, order_id=order_id, deliverer_id=deliverer_id, delivery_state=DeliveryState(state),
        timestamp=_moment(ts_ms), latitude=latitude, longitude=longitude,
        speed_kmh=speed_kmh, heading=heading, accuracy_m=accuracy_m, seq=seq,
    )


def _now_ms() -> int:
    return _ms(datetime.now(UTC))


class SQLiteStore:
    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._create_schema()

    def _create_schema(self) -> None:
        """Switch a new file to WAL and create the tables, however many processes open it at once.

        Two processes opening a new store together (start.sh's subscriber and API, replicas) can
        get "database is locked" from the switch to WAL at once, without SQLite waiting its busy
        timeout: so the whole step is tried again until that timeout has passed.
        """
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                self._conn().executescript(SCHEMA)
                return
            except StoreUnavailable as exc:  # the connection's own set-up, already explained
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            except sqlite3.Error as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
            time.sleep(0.02)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False,
                    timeout=self._busy_timeout_ms / 1000,
                )
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a batch acknowledged to the broker survives a power cut, not only a crash.
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            except sqlite3.Error as exc:
                conn.close()
                raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def insert_batch(
        self, reports: Sequence[LocationReport], rejected: Sequence[RejectedReport] = ()
    ) -> InsertResult:
        conn = self._conn()
        now = _now_ms()
        rows = [_row(r) for r in reports]
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.total_changes
                conn.executemany(
                    f"INSERT INTO locations ({_COLS}, ingested_ms) VALUES ({_MARKS}, ?)"
                    " ON CONFLICT (msg_id) DO NOTHING",
                    [(*row, now) for row in rows],
                )
                inserted = conn.total_changes - before
                conn.executemany(_UPSERT_LAST, [(*row, now) for row in _newest_per_order(rows)])
                conn.executemany(
                    "INSERT INTO rejected (received_ms, topic, reason, message, payload, payload_size)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (_ms(r.received_at), r.topic, r.reason, r.message, r.payload, r.payload_size)
                        for r in rejected
                    ],
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite write failed: {exc}") from exc
        return InsertResult(inserted=inserted, duplicates=len(rows) - inserted, rejected=len(rejected))

    def last_location(self, order_id: str) -> LocationReport | None:
        row = self._query_one(f"SELECT {_COLS} FROM last_locations WHERE order_id = ?", (order_id,))
        return _report(row) if row else None

    def history(
        self,
        order_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
        clauses: list[str] = ["order_id = ?"]
        params: list[Any] = [order_id]
        if since is not None:
            clauses.append("ts_ms >= ?")
            params.append(_ms(since))
        if until is not None:
            clauses.append("ts_ms < ?")
            params.append(_ms(until))
        if after is not None:
            clauses.append("(ts_ms > ? OR (ts_ms = ? AND msg_id > ?))")
            params.extend([_ms(after.timestamp), _ms(after.timestamp), after.msg_id])
        sql = (
            f"SELECT {_COLS} FROM locations WHERE {' AND '.join(clauses)}"
            " ORDER BY ts_ms, msg_id LIMIT ?"
        )
        return [_report(row) for row in self._query(sql, (*params, limit))]

    def rejected(self, limit: int = 100) -> list[RejectedReport]:
        rows = self._query(
            "SELECT received_ms, topic, reason, message, payload, payload_size FROM rejected"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            RejectedReport(_moment(ms), topic, reason, message, bytes(payload), size)
            for ms, topic, reason, message, payload, size in rows
        ]

    def counts(self) -> Counts:
        row = self._query_one(
            "SELECT (SELECT count(*) FROM locations), (SELECT count(*) FROM last_locations),"
            " (SELECT count(*) FROM rejected)",
            (),
        )
        assert row is not None
        return Counts(locations=row[0], orders=row[1], rejected=row[2])

    def scan(self, start: datetime, end: datetime, batch_size: int = 10_000) -> Iterator[tuple[Any, ...]]:
        cursor = self._conn().execute(
            f"SELECT {_COLS}, ingested_ms FROM locations WHERE ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms",
            (_ms(start), _ms(end)),
        )
        while rows := cursor.fetchmany(batch_size):
            for row in rows:
                yield (*row[:4], _moment(row[4]), *row[5:11], _moment(row[11]))

    def count_between(self, start: datetime, end: datetime) -> int:
        row = self._query_one(
            "SELECT count(*) FROM locations WHERE ts_ms >= ? AND ts_ms < ?", (_ms(start), _ms(end))
        )
        return int(row[0]) if row else 0

    def event_days_ingested_since(self, ingested_after: datetime) -> list[str]:
        rows = self._query(
            "SELECT DISTINCT date(ts_ms / 1000, 'unixepoch') AS day FROM locations"
            " WHERE ingested_ms >= ? ORDER BY day",
            (_ms(ingested_after),),
        )
        return [row[0] for row in rows]

    def delete_between(self, start: datetime, end: datetime) -> int:
        try:
            cursor = self._conn().execute(
                "DELETE FROM locations WHERE ts_ms >= ? AND ts_ms < ?", (_ms(start), _ms(end))
            )
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite delete failed: {exc}") from exc
        return cursor.rowcount

    def ping(self) -> None:
        self._query_one("SELECT 1", ())

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def delete_reports(self, keys: Iterable[ReportKey]) -> int:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.total_changes
                conn.executemany("DELETE FROM locations WHERE deliverer_id = ? AND msg_id = ?", keys)
                deleted = conn.total_changes - before
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite delete failed: {exc}") from exc
        return deleted

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite read failed: {exc}") from exc

    def _query_one(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        rows = self._query(sql, params)
        return rows[0] if rows else None


def _newest_per_order(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One candidate per order (newest timestamp, then largest msg_id): fewer upserts per batch."""
    newest: dict[str, tuple[Any, ...]] = {}
    for row in rows:
        current = newest.get(row[1])
        if current is None or (row[4], row[0]) > (current[4], current[0]):
            newest[row[1]] = row
    return list(newest.values())
