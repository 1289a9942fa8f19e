"""SQLite backend (WAL): the embedded default for local bursts and tests.

Timestamps are kept as integer UTC milliseconds so that ordering, ranges and indexes are
plain integer comparisons. Each thread gets its own connection; WAL lets readers (the API)
run beside the single writer (the subscriber) without blocking it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from operator import attrgetter
from pathlib import Path
from typing import Any

from deliverer.contract import REPORT_FIELDS, DeliveryState, LocationReport
from deliverer.geo import haversine_km
from deliverer.store import trip_totals
from deliverer.store.admission import (
    ESSENTIAL_FIELDS,
    RECENCY_FIELDS,
    Admission,
    Essentials,
    admit,
    newest_per_order,
)
from deliverer.store.base import (
    DEFAULT_HISTORY_LIMIT,
    START_POSITION,
    Counts,
    Handover,
    HistoryCursor,
    InsertResult,
    InvalidPosition,
    OrderCourier,
    RejectedReport,
    ReportKey,
    StoredReport,
    StoreMissing,
    StoreUnavailable,
    TripTotals,
)
from deliverer.store.trip_totals import trip_key
from deliverer.timestamps import epoch_ms, from_epoch_ms

log = logging.getLogger(__name__)



def _column(field: str) -> str:
    """The column of a report field: the timestamp is kept as integer UTC milliseconds."""
    return "ts_ms" if field == "timestamp" else field


REPORT_COLUMNS = tuple(map(_column, REPORT_FIELDS))
_COLS = ", ".join(REPORT_COLUMNS)
_MARKS = ", ".join("?" for _ in REPORT_COLUMNS)
_ESSENTIAL_COLUMNS = ", ".join(map(_column, ESSENTIAL_FIELDS))
"""Columns in the order of :func:`deliverer.store.admission.essentials_of`."""
_RECENCY_COLUMNS = tuple(map(_column, RECENCY_FIELDS))
_NEWEST_FIRST = ", ".join(f"{column} DESC" for column in _RECENCY_COLUMNS)
_KEYS_PER_QUERY = 400
"""Keys per lookup: well below SQLite's limit of bound parameters."""

SCHEMA_VERSION = 2
"""``PRAGMA user_version`` of the current schema: 1 keys history by ``(deliverer_id, msg_id)``
and records who each order belongs to; 2 keeps each order's trip (``trips``). An older file is
migrated in place when opened."""

_TRIP_END_COLUMNS = tuple(c for c in REPORT_COLUMNS if c != "order_id")
"""A trip's first and last reports are kept whole, as ``first_*`` and ``last_*`` columns."""
_TRIP_COLUMNS = (
    "order_id", "points", "distance_km", "pruned",
    *(f"first_{c}" for c in _TRIP_END_COLUMNS), *(f"last_{c}" for c in _TRIP_END_COLUMNS),
)
_TRIP_COLS = ", ".join(_TRIP_COLUMNS)
_TRIP_ORDER = ("ts_ms", "msg_id", "deliverer_id")
"""Trip order (:func:`deliverer.store.trip_totals.trip_key`) in columns: the history's order too."""
_IN_TRIP_ORDER = ", ".join(_TRIP_ORDER)
_IN_REVERSE_TRIP_ORDER = ", ".join(f"{c} DESC" for c in _TRIP_ORDER)

SCHEMA = """
CREATE TABLE IF NOT EXISTS locations (
    msg_id TEXT NOT NULL,
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
    ingested_ms INTEGER NOT NULL,
    PRIMARY KEY (deliverer_id, msg_id)
);
-- An order's history in trip order, to the last tie: a neighbour lookup or a page never sorts the
-- reports of one millisecond, however many a courier sends.
CREATE INDEX IF NOT EXISTS locations_order_trip ON locations (order_id, ts_ms, msg_id, deliverer_id);
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
CREATE INDEX IF NOT EXISTS rejected_received ON rejected (received_ms, id);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT NOT NULL PRIMARY KEY,
    deliverer_id TEXT NOT NULL,
    since_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS order_handovers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL,
    from_deliverer TEXT,
    to_deliverer TEXT NOT NULL,
    at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS order_handovers_order ON order_handovers (order_id, id);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    key TEXT NOT NULL PRIMARY KEY,
    attempts INTEGER NOT NULL,
    last_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS locations_deliverer_ts ON locations (deliverer_id, ts_ms DESC);
-- An index's entries end with the rowid: this one reads an order's reports in ingest order.
CREATE INDEX IF NOT EXISTS locations_order_ingest ON locations (order_id);
CREATE INDEX IF NOT EXISTS last_locations_recent ON last_locations (ts_ms DESC, order_id DESC);
CREATE INDEX IF NOT EXISTS last_locations_active ON last_locations (ts_ms DESC, order_id DESC)
    WHERE delivery_state <> 'arrived';
CREATE TABLE IF NOT EXISTS trips (
    order_id TEXT NOT NULL PRIMARY KEY,
    points INTEGER NOT NULL,
    distance_km REAL NOT NULL,
    pruned INTEGER NOT NULL,
    first_msg_id TEXT NOT NULL,
    first_deliverer_id TEXT NOT NULL,
    first_delivery_state TEXT NOT NULL,
    first_ts_ms INTEGER NOT NULL,
    first_latitude REAL NOT NULL,
    first_longitude REAL NOT NULL,
    first_speed_kmh REAL,
    first_heading REAL,
    first_accuracy_m REAL,
    first_seq INTEGER,
    last_msg_id TEXT NOT NULL,
    last_deliverer_id TEXT NOT NULL,
    last_delivery_state TEXT NOT NULL,
    last_ts_ms INTEGER NOT NULL,
    last_latitude REAL NOT NULL,
    last_longitude REAL NOT NULL,
    last_speed_kmh REAL,
    last_heading REAL,
    last_accuracy_m REAL,
    last_seq INTEGER
);
"""

_UPSERT_LAST = f"""
INSERT INTO last_locations ({_COLS}, updated_ms) VALUES ({_MARKS}, ?)
ON CONFLICT (order_id) DO UPDATE SET
    {", ".join(f"{c} = excluded.{c}" for c in REPORT_COLUMNS if c != "order_id")},
    updated_ms = excluded.updated_ms
WHERE ({", ".join(f"excluded.{c}" for c in _RECENCY_COLUMNS)})
    > ({", ".join(f"last_locations.{c}" for c in _RECENCY_COLUMNS)})
"""
"""Replaces an order's last location only with a newer report: row values compare field by field, as
:data:`deliverer.store.admission.RECENCY_FIELDS` says."""


MIGRATE_TO_1 = f"""
CREATE TABLE locations_by_courier (
    msg_id TEXT NOT NULL,
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
    ingested_ms INTEGER NOT NULL,
    PRIMARY KEY (deliverer_id, msg_id)
);
INSERT INTO locations_by_courier SELECT {_COLS}, ingested_ms FROM locations ORDER BY rowid;
DROP TABLE locations;
ALTER TABLE locations_by_courier RENAME TO locations;
"""
"""Version 0 keyed history by ``msg_id`` alone; its rows are kept, in their order."""

OWNERS_FROM_HISTORY = """
INSERT INTO orders (order_id, deliverer_id, since_ms)
SELECT order_id, deliverer_id, ingested_ms FROM (
    SELECT order_id, deliverer_id, ingested_ms,
           row_number() OVER (PARTITION BY order_id ORDER BY ts_ms, rowid) AS rank
    FROM locations
) WHERE rank = 1
ON CONFLICT (order_id) DO NOTHING
"""
"""An existing order belongs to the courier of its earliest report."""

_UPSERT_TRIP = (
    f"INSERT INTO trips ({_TRIP_COLS}) VALUES ({', '.join('?' for _ in _TRIP_COLUMNS)})"
    f" ON CONFLICT (order_id) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _TRIP_COLUMNS[1:])}"
)


def _ms(moment: datetime) -> int:
    return epoch_ms(moment)


def _moment(ms: int) -> datetime:
    return from_epoch_ms(ms)


_row: Callable[[LocationReport], tuple[Any, ...]] = attrgetter(
    *("timestamp_ms" if field == "timestamp" else field for field in REPORT_FIELDS)
)
"""A report's values in ``REPORT_COLUMNS`` order (the state binds as the text it is)."""


def _report(row: sqlite3.Row | tuple[Any, ...]) -> LocationReport:
    """A stored row (columns in ``REPORT_COLUMNS`` order) as a report; it was validated on the way in.

    Unpacked by name rather than zipped with ``REPORT_FIELDS``: every read goes through here, and the
    zip costs a fifth more per report. A field added to the contract fails this unpacking at once.
    """
    msg_id, order_id, deliverer_id, state, ts_ms, latitude, longitude, speed_kmh, heading, accuracy_m, seq = row
    return LocationReport.model_construct(
        msg_id=msg_id, order_id=order_id, deliverer_id=deliverer_id, delivery_state=DeliveryState(state),
        timestamp=_moment(ts_ms), latitude=latitude, longitude=longitude,
        speed_kmh=speed_kmh, heading=heading, accuracy_m=accuracy_m, seq=seq,
    )


def _now_ms() -> int:
    return _ms(datetime.now(UTC))


def _is_outage(exc: sqlite3.Error) -> bool:
    """Whether the database itself failed (locked, full, unreadable, corrupt), not one row's data.

    ``OperationalError`` and a bare ``DatabaseError`` ("file is not a database", "database disk
    image is malformed") are the file's state: retry later. Integrity, programming and data errors
    come from what was written and would fail the same way on every retry.
    """
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def _trip(row: tuple[Any, ...]) -> TripTotals:
    """A ``trips`` row (``_TRIP_COLUMNS`` order) as totals."""
    order_id, points, distance_km, pruned = row[:4]
    width = len(_TRIP_END_COLUMNS)
    first, last = row[4 : 4 + width], row[4 + width :]
    return TripTotals(
        order_id, _report((first[0], order_id, *first[1:])), _report((last[0], order_id, *last[1:])),
        points, distance_km, bool(pruned),
    )


def _trip_row(trip: TripTotals) -> tuple[Any, ...]:
    first, last = _row(trip.first), _row(trip.last)
    return (trip.order_id, trip.points, trip.distance_km, int(trip.pruned), first[0], *first[2:], last[0], *last[2:])


_NEIGHBOUR = (
    f"SELECT {_COLS} FROM locations WHERE order_id = ? AND ({_IN_TRIP_ORDER}) {{cmp}} (?, ?, ?)"
    " ORDER BY {order} LIMIT 1"
)
_BEFORE = _NEIGHBOUR.format(cmp="<", order=_IN_REVERSE_TRIP_ORDER)
_AFTER = _NEIGHBOUR.format(cmp=">", order=_IN_TRIP_ORDER)
"""The order's stored report just before (after) one in trip order: one step along ``locations_order_trip``."""


_LATITUDE, _LONGITUDE = REPORT_COLUMNS.index("latitude"), REPORT_COLUMNS.index("longitude")
_TS_MS, _MSG_ID, _DELIVERER_ID = (REPORT_COLUMNS.index(c) for c in _TRIP_ORDER)


def _row_trip_key(row: tuple[Any, ...]) -> tuple[int, str, str]:
    """:func:`deliverer.store.trip_totals.trip_key` of a report's row."""
    return (row[_TS_MS], row[_MSG_ID], row[_DELIVERER_ID])


def _row_path_km(rows: Sequence[tuple[Any, ...]]) -> float:
    total = 0.0
    for a, b in pairwise(rows):
        total += haversine_km(a[_LATITUDE], a[_LONGITUDE], b[_LATITUDE], b[_LONGITUDE])
    return total


def _end_columns(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """A report's row as a trip's ``first_*`` or ``last_*`` columns (``_TRIP_END_COLUMNS``)."""
    return (row[0], *row[2:])


_EXTEND_TRIP = (
    "UPDATE trips SET points = points + ?, distance_km = distance_km + ?, "
    + ", ".join(f"last_{c} = ?" for c in _TRIP_END_COLUMNS)
    + " WHERE order_id = ?"
)
_TRIP_LAST = "order_id, last_ts_ms, last_msg_id, last_deliverer_id, last_latitude, last_longitude"


def _add_to_trips(
    conn: sqlite3.Connection, inserted: Sequence[LocationReport], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Update the trips of the orders a write inserted reports of, inside the write's transaction.

    A fleet's batch holds many orders with a report or two each, nearly all after their trip's last:
    for those the write reads the last's key and position and adds a leg, from the rows' values, without
    building a report. Only an order whose new reports reach back into (or before) its stored trip takes
    :func:`deliverer.store.trip_totals.with_inserted`, with its neighbours looked up.
    """
    by_order: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_order.setdefault(row[1], []).append(row)
    if not by_order:
        return
    stored_last: dict[str, tuple[Any, ...]] = {}
    orders = list(by_order)
    for start in range(0, len(orders), _KEYS_PER_QUERY):
        chunk = orders[start : start + _KEYS_PER_QUERY]
        marks = ", ".join("?" for _ in chunk)
        for row in conn.execute(f"SELECT {_TRIP_LAST} FROM trips WHERE order_id IN ({marks})", chunk):
            stored_last[row[0]] = row
    created: list[tuple[Any, ...]] = []
    extended: list[tuple[Any, ...]] = []
    reaching_back: set[str] = set()
    for order_id, added in by_order.items():
        if len(added) > 1:
            added.sort(key=_row_trip_key)
        last = stored_last.get(order_id)
        if last is None:
            created.append(
                (order_id, len(added), _row_path_km(added), 0, *_end_columns(added[0]), *_end_columns(added[-1]))
            )
        elif _row_trip_key(added[0]) > last[1:4]:
            first = added[0]
            leg = haversine_km(last[4], last[5], first[_LATITUDE], first[_LONGITUDE])
            extended.append((len(added), leg + _row_path_km(added), *_end_columns(added[-1]), order_id))
        else:
            reaching_back.add(order_id)
    conn.executemany(_UPSERT_TRIP, created)
    conn.executemany(_EXTEND_TRIP, extended)
    if reaching_back:
        _add_reaching_back(conn, [r for r in inserted if r.order_id in reaching_back])


def _add_reaching_back(conn: sqlite3.Connection, inserted: Sequence[LocationReport]) -> None:
    """The general rule for orders with reports before their stored trip's last: their whole trip row is
    read and the neighbours of the reports inside it are looked up."""
    by_order: dict[str, list[LocationReport]] = {}
    for report in inserted:
        by_order.setdefault(report.order_id, []).append(report)

    def neighbour(sql: str) -> Callable[[LocationReport], LocationReport | None]:
        def find(report: LocationReport) -> LocationReport | None:
            ts_ms, msg_id, deliverer_id = trip_key(report)
            row = conn.execute(sql, (report.order_id, ts_ms, msg_id, deliverer_id)).fetchone()
            return _report(row) if row else None

        return find

    before, after = neighbour(_BEFORE), neighbour(_AFTER)
    rows = []
    for order_id, reports in by_order.items():
        stored = conn.execute(f"SELECT {_TRIP_COLS} FROM trips WHERE order_id = ?", (order_id,)).fetchone()
        totals = trip_totals.with_inserted(_trip(stored), order_id, reports, before, after)
        if totals is not None:
            rows.append(_trip_row(totals))
    conn.executemany(_UPSERT_TRIP, rows)




def _trips_from_history(conn: sqlite3.Connection) -> None:
    """Every order's trip from its stored history, walked once in trip order (``totals_of``'s legs, from
    the rows' coordinates: a report is built only for each trip's first and last)."""
    trips: list[tuple[Any, ...]] = []
    first: tuple[Any, ...] | None = None
    previous: tuple[Any, ...] = ()
    points, distance = 0, 0.0

    def close_trip() -> None:
        if first is not None:
            trips.append(_trip_row(TripTotals(first[1], _report(first), _report(previous), points, distance)))

    for row in conn.execute(f"SELECT {_COLS} FROM locations ORDER BY order_id, {_IN_TRIP_ORDER}"):
        if first is None or row[1] != first[1]:
            close_trip()
            first, points, distance = row, 0, 0.0
        else:
            distance += haversine_km(previous[_LATITUDE], previous[_LONGITUDE], row[_LATITUDE], row[_LONGITUDE])
        previous = row
        points += 1
    close_trip()
    conn.executemany(_UPSERT_TRIP, trips)


_REJECTED_COLUMNS = "received_ms, topic, reason, message, payload, payload_size, id"


def _rejected_entry(row: tuple[Any, ...]) -> RejectedReport:
    ms, topic, reason, message, payload, size, entry_id = row
    return RejectedReport(_moment(ms), topic, reason, message, bytes(payload), size, str(entry_id))


class SQLiteStore:
    def __init__(self, path: str | Path, busy_timeout_ms: int = 5000, create: bool = True) -> None:
        self.path = Path(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if not create:
            if not self.path.is_file():
                raise StoreMissing(f"no store at {self.path}")
            self._check_version()
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
        self._create_schema()

    def _check_version(self) -> None:
        """A reader does not migrate: a file of an earlier schema is an outage until a writer (the
        subscriber, ``deliverer store migrate``) has brought it to this release's."""
        try:
            version = self._conn().execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            self.close()
            raise StoreUnavailable(f"SQLite store {self.path}: cannot read its schema version: {exc}") from exc
        if version != SCHEMA_VERSION:
            self.close()
            fix = (
                "run `deliverer store migrate` (or start this release's subscriber) first"
                if version < SCHEMA_VERSION else "it was written by a newer release"
            )
            raise StoreUnavailable(
                f"SQLite store {self.path} has schema version {version}, this release reads version"
                f" {SCHEMA_VERSION}: {fix}"
            )

    def _create_schema(self) -> None:
        """Switch a new file to WAL and create the tables, however many processes open it at once.

        Two processes opening a new store together (start.sh's subscriber and API, replicas) can
        get "database is locked" from the switch to WAL at once, without SQLite waiting its busy
        timeout: so the whole step is tried again until that timeout has passed.
        """
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                self._migrate()
                return
            except StoreUnavailable as exc:  # the connection's own set-up, already explained
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            except sqlite3.Error as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise StoreUnavailable(f"cannot open SQLite store {self.path}: {exc}") from exc
            time.sleep(0.02)

    def _migrate(self) -> None:
        """Bring the file to :data:`SCHEMA_VERSION` in one transaction (a new file or an old one)."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(
                    f"SQLite store {self.path} has schema version {version}; this release knows up to {SCHEMA_VERSION}"
                )
            has_history = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'locations'").fetchone()
            if version == 0 and has_history:
                log.info("migrating SQLite store %s to schema 1 (history keyed by courier and msg_id)", self.path)
                for statement in MIGRATE_TO_1.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
            for statement in SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            if version == 0 and has_history:
                conn.execute(OWNERS_FROM_HISTORY)
            if version < 2 and has_history:
                log.info("migrating SQLite store %s to schema 2 (each order's trip kept)", self.path)
                conn.execute("DROP INDEX IF EXISTS locations_order_ts")
                _trips_from_history(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.is_file() and self.path.exists():
                raise StoreUnavailable(f"cannot open SQLite store {self.path}: not a regular file")
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
                # Checkpoint the WAL into the database every ~40 MB instead of every 4 MB: fewer
                # stalls in the subscriber's commits; every commit is still synced to the WAL.
                conn.execute("PRAGMA wal_autocheckpoint=10000")
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
        now = datetime.now(UTC)
        now_ms = _ms(now)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Read and written in one IMMEDIATE transaction: no other writer in between.
                admission, inserted_rows = self._admit(conn, reports, now, now_ms)
                conn.executemany(
                    "INSERT INTO orders (order_id, deliverer_id, since_ms) VALUES (?, ?, ?)",
                    [(order_id, deliverer_id, now_ms) for order_id, deliverer_id in admission.new_owners.items()],
                )
                conn.executemany(_UPSERT_LAST, [(*_row(r), now_ms) for r in newest_per_order(admission.accepted)])
                _add_to_trips(conn, admission.accepted, inserted_rows)
                conn.executemany(
                    "INSERT INTO rejected (received_ms, topic, reason, message, payload, payload_size)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (_ms(r.received_at), r.topic, r.reason, r.message, r.payload, r.payload_size)
                        for r in (*rejected, *admission.refused)
                    ],
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if _is_outage(exc):
                raise StoreUnavailable(f"SQLite store {self.path}: write failed: {exc}") from exc
            raise
        return InsertResult(
            inserted=len(admission.accepted), duplicates=admission.duplicates, rejected=len(rejected),
            refused=tuple(admission.refused),
        )

    def _admit(
        self, conn: sqlite3.Connection, reports: Sequence[LocationReport], now: datetime, now_ms: int
    ) -> tuple[Admission, list[tuple[Any, ...]]]:
        """Sort the batch and insert the history it adds; return the sorting and the inserted rows.

        Most batches hold only new keys, so they are inserted first as if none were stored; only
        when that proves wrong (a redelivery, a conflict, another courier's order) is the insert
        undone and the batch sorted again against the stored versions of its keys.
        """
        owners = self._owners(conn, reports)
        admission = admit(reports, {}, owners, now)
        insert = f"INSERT INTO locations ({_COLS}, ingested_ms) VALUES ({_MARKS}, ?)"
        conn.execute("SAVEPOINT new_keys")
        if not admission.refused:
            rows = list(map(_row, admission.accepted))
            before = conn.total_changes
            conn.executemany(
                insert + " ON CONFLICT (deliverer_id, msg_id) DO NOTHING", [(*row, now_ms) for row in rows]
            )
            if conn.total_changes - before == len(rows):
                conn.execute("RELEASE new_keys")
                return admission, rows
            conn.execute("ROLLBACK TO new_keys")
        admission = admit(reports, self._stored_versions(conn, reports), owners, now)
        rows = list(map(_row, admission.accepted))
        conn.executemany(insert, [(*row, now_ms) for row in rows])
        conn.execute("RELEASE new_keys")
        return admission, rows

    @staticmethod
    def _stored_versions(conn: sqlite3.Connection, reports: Sequence[LocationReport]) -> dict[ReportKey, Essentials]:
        """The stored versions of the batch's keys: one lookup per courier on the primary key
        (SQLite walks the index for ``deliverer_id = ? AND msg_id IN (...)``, not for row values)."""
        by_courier: dict[str, list[str]] = {}
        for report in reports:
            by_courier.setdefault(report.deliverer_id, []).append(report.msg_id)
        found: dict[ReportKey, Essentials] = {}
        for deliverer_id, msg_ids in by_courier.items():
            for start in range(0, len(msg_ids), _KEYS_PER_QUERY):
                chunk = msg_ids[start : start + _KEYS_PER_QUERY]
                marks = ", ".join("?" for _ in chunk)
                rows = conn.execute(
                    f"SELECT msg_id, {_ESSENTIAL_COLUMNS} FROM locations"
                    f" WHERE deliverer_id = ? AND msg_id IN ({marks})",
                    (deliverer_id, *chunk),
                )
                for msg_id, *essentials in rows:
                    found[(deliverer_id, msg_id)] = tuple(essentials)
        return found

    @staticmethod
    def _owners(conn: sqlite3.Connection, reports: Sequence[LocationReport]) -> dict[str, str]:
        orders = list(dict.fromkeys(r.order_id for r in reports))
        owners: dict[str, str] = {}
        for start in range(0, len(orders), _KEYS_PER_QUERY):
            chunk = orders[start : start + _KEYS_PER_QUERY]
            marks = ", ".join("?" for _ in chunk)
            owners.update(conn.execute(f"SELECT order_id, deliverer_id FROM orders WHERE order_id IN ({marks})", chunk))
        return owners

    def order_courier(self, order_id: str) -> OrderCourier | None:
        row = self._query_one("SELECT deliverer_id, since_ms FROM orders WHERE order_id = ?", (order_id,))
        if row is None:
            return None
        handovers = self._query(
            "SELECT from_deliverer, to_deliverer, at_ms FROM order_handovers WHERE order_id = ? ORDER BY id",
            (order_id,),
        )
        return OrderCourier(
            order_id, row[0], _moment(row[1]), tuple(Handover(f, t, _moment(at)) for f, t, at in handovers)
        )

    def hand_over(self, order_id: str, deliverer_id: str, at: datetime) -> OrderCourier:
        conn = self._conn()
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                current = conn.execute("SELECT deliverer_id FROM orders WHERE order_id = ?", (order_id,)).fetchone()
                previous = current[0] if current else None
                if previous != deliverer_id:
                    conn.execute(
                        "INSERT INTO orders (order_id, deliverer_id, since_ms) VALUES (?, ?, ?) ON CONFLICT (order_id)"
                        " DO UPDATE SET deliverer_id = excluded.deliverer_id, since_ms = excluded.since_ms",
                        (order_id, deliverer_id, _ms(at)),
                    )
                    conn.execute(
                        "INSERT INTO order_handovers (order_id, from_deliverer, to_deliverer, at_ms)"
                        " VALUES (?, ?, ?, ?)",
                        (order_id, previous, deliverer_id, _ms(at)),
                    )
                    self._follow_owner(conn, order_id, deliverer_id)
        except sqlite3.Error as exc:
            if _is_outage(exc):
                raise StoreUnavailable(f"SQLite store {self.path}: write failed: {exc}") from exc
            raise
        courier = self.order_courier(order_id)
        assert courier is not None
        return courier

    @staticmethod
    def _follow_owner(conn: sqlite3.Connection, order_id: str, deliverer_id: str) -> None:
        """The order's last location becomes its new courier's newest report, or none until it reports:
        a previous courier's position (a squatter's, dated ahead) must not stay the order's."""
        conn.execute("DELETE FROM last_locations WHERE order_id = ? AND deliverer_id != ?", (order_id, deliverer_id))
        newest = conn.execute(
            f"SELECT {_COLS} FROM locations WHERE order_id = ? AND deliverer_id = ? ORDER BY {_NEWEST_FIRST} LIMIT 1",
            (order_id, deliverer_id),
        ).fetchone()
        if newest is not None:
            conn.execute(_UPSERT_LAST, (*newest, int(time.time() * 1000)))

    def last_location(self, order_id: str) -> LocationReport | None:
        row = self._query_one(f"SELECT {_COLS} FROM last_locations WHERE order_id = ?", (order_id,))
        return _report(row) if row else None

    def trip_totals(self, order_id: str) -> TripTotals | None:
        row = self._query_one(f"SELECT {_TRIP_COLS} FROM trips WHERE order_id = ?", (order_id,))
        return _trip(row) if row else None

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
            clauses.append(f"({_IN_TRIP_ORDER}) > (?, ?, ?)")
            params.extend([_ms(after.timestamp), after.msg_id, after.deliverer_id])
        sql = (
            f"SELECT {_COLS} FROM locations WHERE {' AND '.join(clauses)}"
            f" ORDER BY {_IN_TRIP_ORDER} LIMIT ?"
        )
        return [_report(row) for row in self._query(sql, (*params, max(0, limit)))]

    def rejected(
        self, limit: int = 100, reason: str | None = None, since: datetime | None = None
    ) -> list[RejectedReport]:
        clauses = ["1"]
        params: list[Any] = []
        if reason is not None:
            clauses.append("reason = ?")
            params.append(reason)
        if since is not None:
            clauses.append("received_ms >= ?")
            params.append(_ms(since))
        rows = self._query(
            f"SELECT {_REJECTED_COLUMNS} FROM rejected WHERE {' AND '.join(clauses)}"
            " ORDER BY received_ms DESC, id DESC LIMIT ?",
            (*params, max(0, limit)),
        )
        return [_rejected_entry(row) for row in rows]

    def rejected_entry(self, entry_id: str) -> RejectedReport | None:
        if not entry_id.isdigit():
            return None
        row = self._query_one(f"SELECT {_REJECTED_COLUMNS} FROM rejected WHERE id = ?", (int(entry_id),))
        return _rejected_entry(row) if row else None

    def delete_rejected(self, entry_ids: Sequence[str]) -> int:
        ids = [(int(i),) for i in entry_ids if i.isdigit()]
        return self._write_many("DELETE FROM rejected WHERE id = ?", ids)

    def trim_rejected(self, older_than: datetime, keep_newest: int) -> int:
        cutoff = _ms(older_than)
        conn = self._conn()
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                before = conn.total_changes
                conn.execute("DELETE FROM rejected WHERE received_ms < ?", (cutoff,))
                boundary = conn.execute(
                    "SELECT received_ms, id FROM rejected ORDER BY received_ms DESC, id DESC LIMIT 1 OFFSET ?",
                    (max(0, keep_newest),),
                ).fetchone()
                if boundary is not None:
                    conn.execute(
                        "DELETE FROM rejected WHERE received_ms < ? OR (received_ms = ? AND id <= ?)",
                        (boundary[0], boundary[0], boundary[1]),
                    )
                trimmed = conn.total_changes - before
                conn.execute("DELETE FROM delivery_attempts WHERE last_ms < ?", (cutoff,))
        except sqlite3.Error as exc:
            if _is_outage(exc):
                raise StoreUnavailable(f"SQLite store {self.path}: trim failed: {exc}") from exc
            raise
        return trimmed

    def delivery_attempts(self, keys: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            found.update(
                self._query(f"SELECT key, attempts FROM delivery_attempts WHERE key IN ({marks})", chunk)
            )
        return found

    def record_delivery_attempts(self, keys: Sequence[str]) -> None:
        now = _now_ms()
        self._write_many(
            "INSERT INTO delivery_attempts (key, attempts, last_ms) VALUES (?, 1, ?)"
            " ON CONFLICT (key) DO UPDATE SET attempts = attempts + 1, last_ms = excluded.last_ms",
            [(key, now) for key in keys],
        )

    def forget_delivery_attempts(self, keys: Sequence[str]) -> None:
        self._write_many("DELETE FROM delivery_attempts WHERE key = ?", [(key,) for key in keys])

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
        window = (_ms(start), _ms(end))
        conn = self._conn()
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(
                    "UPDATE trips SET pruned = 1 WHERE pruned = 0 AND order_id IN"
                    " (SELECT order_id FROM locations WHERE ts_ms >= ? AND ts_ms < ?)",
                    window,
                )
                return conn.execute("DELETE FROM locations WHERE ts_ms >= ? AND ts_ms < ?", window).rowcount
        except sqlite3.DatabaseError as exc:
            raise StoreUnavailable(f"SQLite store {self.path}: delete failed: {exc}") from exc

    def last_location_of_deliverer(self, deliverer_id: str) -> LocationReport | None:
        row = self._query_one(
            f"SELECT {_COLS} FROM locations WHERE deliverer_id = ? ORDER BY {_NEWEST_FIRST} LIMIT 1",
            (deliverer_id,),
        )
        return _report(row) if row else None

    def orders_by_recency(
        self,
        since: datetime | None = None,
        active_only: bool = False,
        limit: int = 100,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
        clauses = ["1"]
        params: list[Any] = []
        if since is not None:
            clauses.append("ts_ms >= ?")
            params.append(_ms(since))
        if active_only:
            # Written as the partial index's condition, so that the index serves the query.
            clauses.append("delivery_state <> 'arrived'")
        if after is not None:
            clauses.append("(ts_ms < ? OR (ts_ms = ? AND order_id < ?))")
            params.extend([_ms(after.timestamp), _ms(after.timestamp), after.msg_id])
        rows = self._query(
            f"SELECT {_COLS} FROM last_locations WHERE {' AND '.join(clauses)}"
            " ORDER BY ts_ms DESC, order_id DESC LIMIT ?",
            (*params, max(0, limit)),
        )
        return [_report(row) for row in rows]

    def head_position(self) -> str:
        row = self._query_one("SELECT max(rowid) FROM locations", ())
        return str(row[0]) if row and row[0] is not None else START_POSITION

    def reports_stored_after(
        self, position: str, order_id: str | None = None, limit: int = 1000
    ) -> list[StoredReport]:
        """Positions are rowids: one writer at a time, each new row above every stored one, so a
        reader sees them committed in rowid order. A rowid comes back only when the newest row
        is deleted (retention of a report stored last with an old timestamp), which live streams
        may then miss; the history never does."""
        after = _rowid(position)
        if order_id is None:
            rows = self._query(
                f"SELECT rowid, {_COLS} FROM locations WHERE rowid > ? ORDER BY rowid LIMIT ?", (after, limit)
            )
        else:
            rows = self._query(
                f"SELECT rowid, {_COLS} FROM locations INDEXED BY locations_order_ingest"
                " WHERE order_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
                (order_id, after, limit),
            )
        return [StoredReport(str(row[0]), _report(row[1:])) for row in rows]

    def ping(self) -> None:
        # Reads a page of the file: a connection opened before the file broke still notices.
        self._query_one("SELECT 1 FROM locations LIMIT 1", ())

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _in_write(self, action: str, work: Callable[[sqlite3.Connection], int]) -> int:
        """``work`` in one IMMEDIATE transaction; a failure of the file itself is an outage."""
        conn = self._conn()
        try:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                return work(conn)
        except sqlite3.Error as exc:
            if _is_outage(exc):
                raise StoreUnavailable(f"SQLite store {self.path}: {action} failed: {exc}") from exc
            raise

    def _write_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """One statement over many rows in one transaction; the number of rows changed."""
        if not rows:
            return 0
        return self._in_write("write", lambda conn: _changes(conn, sql, rows))

    def delete_reports(self, keys: Iterable[ReportKey]) -> int:
        """One transaction: the keys the caller checked, and nothing stored meanwhile; their trips are
        marked pruned in it."""
        doomed = list(keys)
        if not doomed:
            return 0

        def delete(conn: sqlite3.Connection) -> int:
            conn.executemany(
                "UPDATE trips SET pruned = 1 WHERE pruned = 0 AND order_id ="
                " (SELECT order_id FROM locations WHERE deliverer_id = ? AND msg_id = ?)",
                doomed,
            )
            return _changes(conn, "DELETE FROM locations WHERE deliverer_id = ? AND msg_id = ?", doomed)

        return self._in_write("delete", delete)

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            if _is_outage(exc):
                raise StoreUnavailable(f"SQLite store {self.path}: read failed: {exc}") from exc
            raise

    def _query_one(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        rows = self._query(sql, params)
        return rows[0] if rows else None


def _changes(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
    """Run ``sql`` over ``rows``; how many rows it changed."""
    before = conn.total_changes
    conn.executemany(sql, rows)
    return conn.total_changes - before


def _rowid(position: str) -> int:
    if not (position.isascii() and position.isdigit() and len(position) <= 19) or position != str(int(position)):
        raise InvalidPosition(f"not a position of this store: {position[:40]!r}")
    return int(position)
