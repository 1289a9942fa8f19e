"""The store port: what every backend (SQLite, MongoDB) must do, and the values it trades in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from deliverer.contract import LocationReport

DEFAULT_HISTORY_LIMIT = 1000
MAX_HISTORY_LIMIT = 10_000
REJECTED_PAYLOAD_KEEP_BYTES = 4096


class StoreUnavailable(Exception):
    """The store cannot be reached or written right now; the caller should retry later."""


@dataclass(frozen=True)
class RejectedReport:
    """A dead letter: what arrived, where, and why it was refused.

    Only the first ``REJECTED_PAYLOAD_KEEP_BYTES`` of the payload are kept (``payload_size``
    records the original length) so one hostile 1 MB message cannot bloat the store.
    """

    received_at: datetime
    topic: str
    reason: str
    message: str
    payload: bytes
    payload_size: int

    @classmethod
    def of(cls, received_at: datetime, topic: str, reason: str, message: str, payload: bytes) -> RejectedReport:
        return cls(
            received_at=received_at,
            topic=topic,
            reason=reason,
            message=message[:1000],
            payload=payload[:REJECTED_PAYLOAD_KEEP_BYTES],
            payload_size=len(payload),
        )


@dataclass(frozen=True)
class InsertResult:
    inserted: int
    duplicates: int
    rejected: int = 0


@dataclass(frozen=True)
class Counts:
    locations: int
    orders: int
    rejected: int

    def to_dict(self) -> dict[str, int]:
        return {"locations": self.locations, "orders": self.orders, "rejected": self.rejected}


@dataclass(frozen=True)
class HistoryCursor:
    """Position after the last row of a history page: rows strictly after (timestamp, msg_id)."""

    timestamp: datetime
    msg_id: str


ReportKey = tuple[str, str]
"""``(deliverer_id, msg_id)``: what identifies a report (one courier's ids never collide with another's)."""

EXPORT_COLUMNS: tuple[str, ...] = (
    "msg_id",
    "order_id",
    "deliverer_id",
    "delivery_state",
    "timestamp",
    "latitude",
    "longitude",
    "speed_kmh",
    "heading",
    "accuracy_m",
    "seq",
    "ingested_at",
)
"""Column order of :meth:`Store.scan` rows; ``timestamp`` and ``ingested_at`` are UTC datetimes."""


class Store(Protocol):
    """Location history, last location per order, and dead letters.

    Writes are idempotent on ``msg_id``; the last location of an order only ever moves to a
    newer timestamp (ties broken by the larger ``msg_id``), so late and duplicate reports never
    move it backwards, whatever order they arrive in.
    """

    def insert_batch(
        self, reports: Sequence[LocationReport], rejected: Sequence[RejectedReport] = ()
    ) -> InsertResult:
        """Store a batch atomically where the backend allows; raise StoreUnavailable on outage."""
        ...

    def last_location(self, order_id: str) -> LocationReport | None: ...

    def history(
        self,
        order_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
        """Reports of an order with since <= timestamp < until, oldest first."""
        ...

    def rejected(self, limit: int = 100) -> list[RejectedReport]:
        """Newest dead letters first."""
        ...

    def counts(self) -> Counts: ...

    def scan(self, start: datetime, end: datetime, batch_size: int = 10_000) -> Iterator[tuple[Any, ...]]:
        """Every stored report with start <= timestamp < end as EXPORT_COLUMNS tuples."""
        ...

    def count_between(self, start: datetime, end: datetime) -> int: ...

    def event_days_ingested_since(self, ingested_after: datetime) -> list[str]:
        """UTC days (YYYY-MM-DD) of reports stored at or after the given moment: what an export
        must redo. Inclusive, so a report stored in the watermark's own millisecond is not missed."""
        ...

    def delete_between(self, start: datetime, end: datetime) -> int:
        """Delete history with start <= timestamp < end (retention); last locations are kept."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot answer."""
        ...

    def close(self) -> None: ...

    def delete_reports(self, keys: Iterable[ReportKey]) -> int:
        """Delete the history rows with exactly these ``(deliverer_id, msg_id)`` keys and no other (retention
        deletes what it verified elsewhere, so a report stored meanwhile stays); returns how many went.
        Keys not stored are skipped, so a retried call finishes the work of an interrupted one. Last
        locations are kept. SQLite deletes in one transaction; MongoDB in batches, each idempotent."""
        ...
