"""The store port: what every backend (SQLite, MongoDB) must do, and the values it trades in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from deliverer.contract import REPORT_FIELDS, LocationReport

DEFAULT_HISTORY_LIMIT = 1000
MAX_HISTORY_LIMIT = 10_000
REJECTED_PAYLOAD_KEEP_BYTES = 4096


DEFAULT_REJECTED_MAX_AGE = timedelta(days=7)
DEFAULT_REJECTED_MAX_COUNT = 100_000
"""Dead letters kept: a week, and at most this many (each holds up to 4 KiB of payload)."""


class StoreUnavailable(Exception):
    """The store cannot be reached or written right now; the caller should retry later."""


class StoreMissing(StoreUnavailable):
    """A command that only reads was pointed at a store that does not exist (it is not created)."""


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
    id: str = ""
    """Given by the store; empty until stored."""

    @classmethod
    def of(cls, received_at: datetime, topic: str, reason: str, message: str, payload: bytes) -> RejectedReport:
        return cls(
            received_at=received_at,
            topic=_storable(topic, 1000),
            reason=_storable(reason, 100),
            message=_storable(message, 1000),
            payload=payload[:REJECTED_PAYLOAD_KEEP_BYTES],
            payload_size=len(payload),
        )

    @property
    def truncated(self) -> bool:
        return self.payload_size > len(self.payload)


def _storable(text: str, limit: int) -> str:
    """Text any store can hold: cut short, and a lone surrogate (which no encoder takes) escaped."""
    return text[:limit].encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class InsertResult:
    inserted: int
    duplicates: int
    rejected: int = 0
    """Dead letters given to the write."""
    refused: tuple[RejectedReport, ...] = ()
    """Reports the store refused (a conflicting duplicate, another courier's order), written as
    dead letters by the same write."""


@dataclass(frozen=True)
class Handover:
    from_deliverer: str | None
    to_deliverer: str
    at: datetime


@dataclass(frozen=True)
class OrderCourier:
    """Who an order belongs to: the courier whose report started it, or the last one it was
    handed over to, and the handovers, oldest first."""

    order_id: str
    deliverer_id: str
    since: datetime
    handovers: tuple[Handover, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "deliverer_id": self.deliverer_id,
            "since": _iso(self.since),
            "handovers": [
                {"from": h.from_deliverer, "to": h.to_deliverer, "at": _iso(h.at)} for h in self.handovers
            ],
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Counts:
    locations: int
    orders: int
    rejected: int

    def to_dict(self) -> dict[str, int]:
        return {"locations": self.locations, "orders": self.orders, "rejected": self.rejected}


@dataclass(frozen=True)
class StoredReport:
    """A report with its position in the store's ingest log: where a live stream resumes.

    Positions are opaque text, in storage order when compared with :func:`position_order`.
    """

    position: str
    report: LocationReport


START_POSITION = "0"
"""Before every stored report, on every backend."""


class InvalidPosition(ValueError):
    """Text that is not a position this store gives (a hostile or foreign ``Last-Event-ID``)."""


def position_order(position: str) -> tuple[int, str]:
    """Sort key of positions: every backend writes them without leading zeros or padded to one
    width, so that a longer position is a later one and equal lengths compare as text."""
    return (len(position), position)


LAST_DELIVERER_ID = "~"
"""Sorts after every deliverer id the contract accepts (``~`` is after its whole alphabet): a cursor
without a deliverer, as this API issued before, goes past every tie of its (timestamp, msg_id)."""


@dataclass(frozen=True)
class HistoryCursor:
    """Position after the last row of a history page: rows strictly after (timestamp, msg_id,
    deliverer_id), the history's order to its last tie (two couriers' reports may share a millisecond
    and a msg_id after a handover)."""

    timestamp: datetime
    msg_id: str
    deliverer_id: str = LAST_DELIVERER_ID


@dataclass(frozen=True)
class TripTotals:
    """An order's trip as the store keeps it, updated by every write that inserts reports of the order.

    The reports in trip order (:func:`deliverer.store.trip_totals.trip_key`: the history's time order),
    the first and the last of them, how many, and the length of the path through them
    (:func:`deliverer.geo.path_length_km`). Deleting history (retention) leaves the totals of the whole
    trip and sets ``pruned``: a report inserted afterwards before the first or after the last adds its
    leg, one inside the trip counts as a point only, since its neighbours may be gone.
    """

    order_id: str
    first: LocationReport
    last: LocationReport
    points: int
    distance_km: float
    pruned: bool = False


ReportKey = tuple[str, str]
"""``(deliverer_id, msg_id)``: what identifies a report (one courier's ids never collide with another's)."""

EXPORT_COLUMNS: tuple[str, ...] = (*REPORT_FIELDS, "ingested_at")
"""Column order of :meth:`Store.scan` rows: the report's fields and when it was stored; ``timestamp``
and ``ingested_at`` are UTC datetimes, ``delivery_state`` its text."""


class Store(Protocol):
    """Location history, last location per order, the courier of each order, and dead letters.

    Writes follow :mod:`deliverer.store.admission`: idempotent on ``(deliverer_id, msg_id)``,
    conflicting duplicates and other couriers' reports for an order refused as dead letters. The
    last location of an order only ever moves to a newer timestamp (ties broken by the larger
    ``msg_id``), so late and duplicate reports never move it backwards, whatever order they
    arrive in.
    """

    def insert_batch(
        self, reports: Sequence[LocationReport], rejected: Sequence[RejectedReport] = ()
    ) -> InsertResult:
        """Store a batch atomically where the backend allows; raise StoreUnavailable on outage."""
        ...

    def last_location(self, order_id: str) -> LocationReport | None: ...

    def trip_totals(self, order_id: str) -> TripTotals | None:
        """The order's trip, kept up to date by the writes: one read whatever the history's length.
        None for an order without stored reports (or whose history was pruned before the store kept trips)."""
        ...

    def order_courier(self, order_id: str) -> OrderCourier | None:
        """Who the order belongs to now; None before any report or handover."""
        ...

    def hand_over(self, order_id: str, deliverer_id: str, at: datetime) -> OrderCourier:
        """Give the order to ``deliverer_id`` from ``at`` on (also before its first report)."""
        ...

    def history(
        self,
        order_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
        """Reports of an order with since <= timestamp < until, oldest first: by timestamp, then msg_id, then
        deliverer_id (two couriers' reports of one order may share the first two after a handover)."""
        ...

    def rejected(
        self, limit: int = 100, reason: str | None = None, since: datetime | None = None
    ) -> list[RejectedReport]:
        """Newest dead letters first, optionally of one reason and received at or after ``since``."""
        ...

    def rejected_entry(self, entry_id: str) -> RejectedReport | None: ...

    def delete_rejected(self, entry_ids: Sequence[str]) -> int:
        """Remove dead letters (replayed ones); returns how many existed."""
        ...

    def trim_rejected(self, older_than: datetime, keep_newest: int) -> int:
        """Bound the dead letters: drop those received before ``older_than`` and all but the newest
        ``keep_newest``; delivery attempts last recorded before ``older_than`` go too."""
        ...

    def delivery_attempts(self, keys: Sequence[str]) -> dict[str, int]:
        """How often each message key was recorded as being handled (absent keys: never)."""
        ...

    def record_delivery_attempts(self, keys: Sequence[str]) -> None:
        """Count one more attempt at each key, durably, before the messages are handled."""
        ...

    def forget_delivery_attempts(self, keys: Sequence[str]) -> None:
        """The messages were handled: their attempts no longer matter."""
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
        """Delete history with start <= timestamp < end (retention); last locations and trip totals are kept
        (the totals marked ``pruned``)."""
        ...

    def last_location_of_deliverer(self, deliverer_id: str) -> LocationReport | None:
        """The courier's newest stored report, whatever the order, by the rule of an order's last
        location (:data:`~deliverer.store.admission.RECENCY_FIELDS`)."""
        ...

    def orders_by_recency(
        self,
        since: datetime | None = None,
        active_only: bool = False,
        limit: int = 100,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
        """Last locations of orders, newest report first, with timestamp >= ``since``;
        ``active_only`` leaves out arrived orders. ``after`` is the (timestamp, order_id) of the
        previous page's last row (carried in ``HistoryCursor.msg_id``)."""
        ...

    def head_position(self) -> str:
        """The position of the newest stored report (``START_POSITION`` when empty)."""
        ...

    def reports_stored_after(
        self, position: str, order_id: str | None = None, limit: int = 1000
    ) -> list[StoredReport]:
        """Reports stored after ``position``, oldest first in storage order, of one order or all;
        raise :class:`InvalidPosition` for text this backend never gave."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot answer."""
        ...

    def close(self) -> None: ...

    def delete_reports(self, keys: Iterable[ReportKey]) -> int:
        """Delete the history rows with exactly these ``(deliverer_id, msg_id)`` keys and no other (retention
        deletes what it verified elsewhere, so a report stored meanwhile stays); returns how many went.
        Keys not stored are skipped, so a retried call finishes the work of an interrupted one. Last
        locations and trip totals are kept (the totals marked ``pruned``). SQLite deletes in one transaction;
        MongoDB in batches, each idempotent."""
        ...
