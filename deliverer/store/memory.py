"""In-memory backend: the whole store contract in plain Python structures, for fast tests and trials.

``memory://name`` names a database of this process: every store opened on one name shares it while any
of them exists, as processes share a SQLite file; ``memory://`` alone is a new, private one. Nothing
survives the process. It passes the same contract suite as SQLite and MongoDB, admission rules and
ordering included, but reads scan what they need: it is meant for thousands of reports, not millions.

Moments are kept to the millisecond and compared with bounds cut to the millisecond, as both other
backends store them (SQLite as integer milliseconds, MongoDB as BSON dates).
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from deliverer.contract import REPORT_FIELDS, DeliveryState, LocationReport
from deliverer.store import trip_totals
from deliverer.store.admission import admit, essentials_of, key_of, newest_per_order, recency
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
    TripTotals,
)
from deliverer.store.trip_totals import trip_key


def _to_ms(moment: datetime) -> datetime:
    """``moment`` cut to the millisecond, as the other backends keep and compare it."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _now() -> datetime:
    return _to_ms(datetime.now(UTC))


@dataclass(frozen=True)
class _Stored:
    position: int
    report: LocationReport
    ingested_at: datetime


@dataclass
class _Owner:
    deliverer_id: str
    since: datetime
    handovers: list[Handover] = field(default_factory=list)


@dataclass(eq=False)
class _Database:
    """What one named database holds; every access holds ``lock``."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    history: dict[ReportKey, _Stored] = field(default_factory=dict)
    """In storage order: a key stored again after a delete goes to the end, with a new position."""
    by_order: dict[str, dict[ReportKey, _Stored]] = field(default_factory=dict)
    last: dict[str, LocationReport] = field(default_factory=dict)
    trips: dict[str, TripTotals] = field(default_factory=dict)
    owners: dict[str, _Owner] = field(default_factory=dict)
    letters: dict[str, RejectedReport] = field(default_factory=dict)
    attempts: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    positions: int = 0
    letter_ids: int = 0

    def add(self, report: LocationReport, ingested_at: datetime) -> None:
        self.positions += 1
        key = key_of(report)
        stored = _Stored(self.positions, report, ingested_at)
        self.history[key] = stored
        self.by_order.setdefault(report.order_id, {})[key] = stored

    def remove(self, key: ReportKey) -> bool:
        stored = self.history.pop(key, None)
        if stored is None:
            return False
        order_id = stored.report.order_id
        self.trips[order_id] = replace(self.trips[order_id], pruned=True)
        of_order = self.by_order[order_id]
        del of_order[key]
        if not of_order:
            del self.by_order[stored.report.order_id]
        return True

    def add_to_trips(self, accepted: Sequence[LocationReport]) -> None:
        by_order: dict[str, list[LocationReport]] = {}
        for report in accepted:
            by_order.setdefault(report.order_id, []).append(report)
        for order_id, inserted in by_order.items():
            stored = [s.report for s in self.by_order[order_id].values()]

            def before(report: LocationReport, stored: list[LocationReport] = stored) -> LocationReport | None:
                return max((r for r in stored if trip_key(r) < trip_key(report)), key=trip_key, default=None)

            def after(report: LocationReport, stored: list[LocationReport] = stored) -> LocationReport | None:
                return min((r for r in stored if trip_key(r) > trip_key(report)), key=trip_key, default=None)

            totals = trip_totals.with_inserted(self.trips.get(order_id), order_id, inserted, before, after)
            if totals is not None:
                self.trips[order_id] = totals

    def add_letter(self, letter: RejectedReport) -> None:
        self.letter_ids += 1
        entry_id = str(self.letter_ids)
        self.letters[entry_id] = RejectedReport(
            _to_ms(letter.received_at), letter.topic, letter.reason, letter.message, letter.payload,
            letter.payload_size, entry_id,
        )


_NAMED: weakref.WeakValueDictionary[str, _Database] = weakref.WeakValueDictionary()
_NAMED_LOCK = threading.Lock()


def _newest_letters_first(letter: RejectedReport) -> tuple[datetime, int]:
    return (letter.received_at, int(letter.id))


def _export_row(stored: _Stored) -> tuple[Any, ...]:
    values = stored.report.__dict__
    row = (values[name].value if name == "delivery_state" else values[name] for name in REPORT_FIELDS)
    return (*row, stored.ingested_at)


def _position(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 19) or text != str(int(text)):
        raise InvalidPosition(f"not a position of this store: {text[:40]!r}")
    return int(text)


class MemoryStore:
    def __init__(self, name: str = "", create: bool = True) -> None:
        """The database ``name`` of this process (a new one unless it exists; with ``create=False``,
        StoreMissing instead); without a name, a new private one."""
        self.name = name or f"private-{uuid.uuid4().hex}"
        with _NAMED_LOCK:
            database = _NAMED.get(self.name)
            if database is None:
                if not create:
                    raise StoreMissing(f"no store memory://{name} in this process")
                database = _NAMED[self.name] = _Database()
        self._db = database

    def __repr__(self) -> str:
        return f"MemoryStore({self.name!r})"

    def insert_batch(
        self, reports: Sequence[LocationReport], rejected: Sequence[RejectedReport] = ()
    ) -> InsertResult:
        now = _now()
        db = self._db
        with db.lock:
            stored = {
                key_of(r): essentials_of(db.history[key_of(r)].report) for r in reports if key_of(r) in db.history
            }
            owners = {r.order_id: db.owners[r.order_id].deliverer_id for r in reports if r.order_id in db.owners}
            admission = admit(reports, stored, owners, now)
            for order_id, deliverer_id in admission.new_owners.items():
                db.owners[order_id] = _Owner(deliverer_id, now)
            for report in admission.accepted:
                db.add(report, now)
            db.add_to_trips(admission.accepted)
            for report in newest_per_order(admission.accepted):
                current = db.last.get(report.order_id)
                if current is None or recency(report) > recency(current):
                    db.last[report.order_id] = report
            for letter in (*rejected, *admission.refused):
                db.add_letter(letter)
        return InsertResult(
            inserted=len(admission.accepted), duplicates=admission.duplicates, rejected=len(rejected),
            refused=tuple(admission.refused),
        )

    def last_location(self, order_id: str) -> LocationReport | None:
        with self._db.lock:
            return self._db.last.get(order_id)

    def trip_totals(self, order_id: str) -> TripTotals | None:
        with self._db.lock:
            return self._db.trips.get(order_id)

    def order_courier(self, order_id: str) -> OrderCourier | None:
        with self._db.lock:
            owner = self._db.owners.get(order_id)
            if owner is None:
                return None
            return OrderCourier(order_id, owner.deliverer_id, owner.since, tuple(owner.handovers))

    def hand_over(self, order_id: str, deliverer_id: str, at: datetime) -> OrderCourier:
        at = _to_ms(at)
        db = self._db
        with db.lock:
            owner = db.owners.get(order_id)
            previous = owner.deliverer_id if owner is not None else None
            if previous != deliverer_id:
                handovers = owner.handovers if owner is not None else []
                handovers.append(Handover(previous, deliverer_id, at))
                db.owners[order_id] = _Owner(deliverer_id, at, handovers)
                # The last location follows the courier: its newest report, or none until it reports.
                stored = db.by_order.get(order_id, {}).values()
                mine = [s.report for s in stored if s.report.deliverer_id == deliverer_id]
                if mine:
                    db.last[order_id] = max(mine, key=recency)
                else:
                    db.last.pop(order_id, None)
            courier = self.order_courier(order_id)
        assert courier is not None
        return courier

    def history(
        self,
        order_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
        with self._db.lock:
            reports = [stored.report for stored in self._db.by_order.get(order_id, {}).values()]
        if since is not None:
            reports = [r for r in reports if r.timestamp >= _to_ms(since)]
        if until is not None:
            reports = [r for r in reports if r.timestamp < _to_ms(until)]
        if after is not None:
            beyond = (_to_ms(after.timestamp), after.msg_id, after.deliverer_id)
            reports = [r for r in reports if (r.timestamp, r.msg_id, r.deliverer_id) > beyond]
        reports.sort(key=trip_key)
        return reports[: max(0, limit)]

    def rejected(
        self, limit: int = 100, reason: str | None = None, since: datetime | None = None
    ) -> list[RejectedReport]:
        with self._db.lock:
            letters = list(self._db.letters.values())
        if reason is not None:
            letters = [letter for letter in letters if letter.reason == reason]
        if since is not None:
            letters = [letter for letter in letters if letter.received_at >= _to_ms(since)]
        letters.sort(key=_newest_letters_first, reverse=True)
        return letters[: max(0, limit)]

    def rejected_entry(self, entry_id: str) -> RejectedReport | None:
        with self._db.lock:
            return self._db.letters.get(entry_id)

    def delete_rejected(self, entry_ids: Sequence[str]) -> int:
        with self._db.lock:
            return sum(self._db.letters.pop(entry_id, None) is not None for entry_id in entry_ids)

    def trim_rejected(self, older_than: datetime, keep_newest: int) -> int:
        cutoff = _to_ms(older_than)
        db = self._db
        with db.lock:
            newest_first = sorted(db.letters.values(), key=_newest_letters_first, reverse=True)
            kept = [letter for letter in newest_first if letter.received_at >= cutoff][: max(0, keep_newest)]
            trimmed = len(db.letters) - len(kept)
            db.letters = {letter.id: letter for letter in kept}
            db.attempts = {key: entry for key, entry in db.attempts.items() if entry[1] >= cutoff}
        return trimmed

    def delivery_attempts(self, keys: Sequence[str]) -> dict[str, int]:
        with self._db.lock:
            attempts = self._db.attempts
            return {key: attempts[key][0] for key in keys if key in attempts}

    def record_delivery_attempts(self, keys: Sequence[str]) -> None:
        now = _now()
        with self._db.lock:
            attempts = self._db.attempts
            for key in keys:
                attempts[key] = (attempts.get(key, (0, now))[0] + 1, now)

    def forget_delivery_attempts(self, keys: Sequence[str]) -> None:
        with self._db.lock:
            for key in keys:
                self._db.attempts.pop(key, None)

    def counts(self) -> Counts:
        with self._db.lock:
            return Counts(locations=len(self._db.history), orders=len(self._db.last), rejected=len(self._db.letters))

    def _between(self, start: datetime, end: datetime) -> list[_Stored]:
        low, high = _to_ms(start), _to_ms(end)
        with self._db.lock:
            return [stored for stored in self._db.history.values() if low <= stored.report.timestamp < high]

    def scan(self, start: datetime, end: datetime, batch_size: int = 10_000) -> Iterator[tuple[Any, ...]]:
        rows = self._between(start, end)
        rows.sort(key=lambda stored: stored.report.timestamp)
        for stored in rows:
            yield _export_row(stored)

    def count_between(self, start: datetime, end: datetime) -> int:
        return len(self._between(start, end))

    def event_days_ingested_since(self, ingested_after: datetime) -> list[str]:
        mark = _to_ms(ingested_after)
        with self._db.lock:
            days = {
                stored.report.timestamp.strftime("%Y-%m-%d")
                for stored in self._db.history.values()
                if stored.ingested_at >= mark
            }
        return sorted(days)

    def delete_between(self, start: datetime, end: datetime) -> int:
        doomed = self._between(start, end)
        with self._db.lock:
            return sum(self._db.remove(key_of(stored.report)) for stored in doomed)

    def last_location_of_deliverer(self, deliverer_id: str) -> LocationReport | None:
        with self._db.lock:
            reports = [s.report for s in self._db.history.values() if s.report.deliverer_id == deliverer_id]
        return max(reports, key=recency, default=None)

    def orders_by_recency(
        self,
        since: datetime | None = None,
        active_only: bool = False,
        limit: int = 100,
        after: HistoryCursor | None = None,
    ) -> list[LocationReport]:
        with self._db.lock:
            reports = list(self._db.last.values())
        if since is not None:
            reports = [r for r in reports if r.timestamp >= _to_ms(since)]
        if active_only:
            reports = [r for r in reports if r.delivery_state is not DeliveryState.ARRIVED]
        if after is not None:
            before = (_to_ms(after.timestamp), after.msg_id)
            reports = [r for r in reports if (r.timestamp, r.order_id) < before]
        reports.sort(key=lambda r: (r.timestamp, r.order_id), reverse=True)
        return reports[: max(0, limit)]

    def head_position(self) -> str:
        with self._db.lock:
            newest = next(reversed(self._db.history.values()), None)
        return str(newest.position) if newest is not None else START_POSITION

    def reports_stored_after(
        self, position: str, order_id: str | None = None, limit: int = 1000
    ) -> list[StoredReport]:
        """Positions count every report stored, and are never given twice."""
        after = _position(position)
        found: list[StoredReport] = []
        with self._db.lock:
            rows = self._db.history if order_id is None else self._db.by_order.get(order_id, {})
            for stored in rows.values():
                if len(found) >= limit:
                    break
                if stored.position > after:
                    found.append(StoredReport(str(stored.position), stored.report))
        return found

    def ping(self) -> None:
        """Always answers: the database is this process's memory."""

    def close(self) -> None:
        """Nothing to release: the database goes when the last store on it does."""

    def delete_reports(self, keys: Iterable[ReportKey]) -> int:
        with self._db.lock:
            return sum(self._db.remove(key) for key in keys)
