"""The MongoDB store's ``trips`` collection: each order's trip (:class:`~deliverer.store.base.TripTotals`),
updated by the writes without a transaction, and filled from history by the migration.

A batch's history insert and its trip update are two writes, and replicas write one order at once. So
each trip document carries a ``version``, and an update replaces the version it read or fails (a
duplicate key from the upsert) and is computed again from a fresh read. What an update computes:

- reports after the trip's last (inserted now, or stored by an earlier attempt at this batch that failed
  before its trip update): added leg by leg from the last. No trip document holds a report after its
  last, so these cannot be counted twice;
- anything else (a report before the last, a redelivered report that may or may not be counted, an
  order without a document yet): the trip recomputed from the order's whole history, which counts each
  stored report once whoever wrote it. Late reports thus cost a read of their order's history;
- a trip whose history was pruned is never recomputed (that would forget the pruned part): reports
  before its first or after its last add their legs, one inside it counts as a point only (as on
  every backend), and a redelivered report inside it is taken as counted.

Documents are never deleted, as last locations are not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from pymongo import ASCENDING, ReplaceOne
from pymongo.errors import PyMongoError

from deliverer.contract import REPORT_FIELDS, DeliveryState, LocationReport
from deliverer.store.base import StoreUnavailable, TripTotals
from deliverer.store.mongo_errors import duplicates_of, guarded
from deliverer.store.trip_totals import totals_of, trip_key, with_inserted

TRIPS = "trips"
TRIP_ORDER = [("timestamp", ASCENDING), ("msg_id", ASCENDING), ("deliverer_id", ASCENDING)]
"""Trip order (:func:`deliverer.store.trip_totals.trip_key`) as a sort: the history's order too."""
UPDATE_ATTEMPTS = 5
"""Tries at one batch's trip updates while other writers keep changing the same trips."""
BACKFILL_BATCH = 1000


def report_document(report: LocationReport) -> dict[str, Any]:
    doc = {name: getattr(report, name) for name in REPORT_FIELDS}
    doc["delivery_state"] = report.delivery_state.value
    return {k: v for k, v in doc.items() if v is not None}


def report_of(doc: dict[str, Any]) -> LocationReport:
    values = {name: doc[name] for name in REPORT_FIELDS if doc.get(name) is not None}
    values["timestamp"] = values["timestamp"].astimezone(UTC)
    values["delivery_state"] = DeliveryState(values["delivery_state"])
    return LocationReport.model_construct(**values)


def trip_document(totals: TripTotals, version: int) -> dict[str, Any]:
    return {
        "_id": totals.order_id,
        "first": report_document(totals.first),
        "last": report_document(totals.last),
        "points": totals.points,
        "distance_km": totals.distance_km,
        "pruned": totals.pruned,
        "version": version,
    }


def totals_of_document(doc: dict[str, Any]) -> TripTotals:
    return TripTotals(
        doc["_id"], report_of(doc["first"]), report_of(doc["last"]), int(doc["points"]),
        float(doc["distance_km"]), bool(doc.get("pruned", False)),
    )


def recomputed(database: Any, order_id: str) -> TripTotals | None:
    """The order's trip from its whole stored history."""
    cursor = database["locations"].find({"order_id": order_id}, {"_id": False, "ingested_at": False}).sort(TRIP_ORDER)
    docs: list[dict[str, Any]] = guarded("trip recompute", list, cursor)
    return totals_of(order_id, [report_of(doc) for doc in docs])


@dataclass
class _Pending:
    """One order's reports for its trip: those this write inserted, and those stored before it that it
    was given again (a redelivery, or a retry of a write that failed after its history insert)."""

    inserted: list[LocationReport]
    given_again: list[LocationReport]


def update_trips(database: Any, inserted: Iterable[LocationReport], given_again: Iterable[LocationReport]) -> None:
    """Bring the trips of these reports' orders up to date (see the module's rules); raise StoreUnavailable
    when other writers kept changing them."""
    pending: dict[str, _Pending] = {}
    for report in inserted:
        pending.setdefault(report.order_id, _Pending([], [])).inserted.append(report)
    for report in {trip_key(r): r for r in given_again}.values():
        pending.setdefault(report.order_id, _Pending([], [])).given_again.append(report)
    trips = database[TRIPS]
    for _attempt in range(UPDATE_ATTEMPTS):
        if not pending:
            return
        orders = list(pending)
        docs = guarded("trip read", lambda o=orders: list(trips.find({"_id": {"$in": o}})))
        stored = {doc["_id"]: doc for doc in docs}
        requests, requested = [], []
        for order_id in orders:
            doc = stored.get(order_id)
            totals = _updated(database, order_id, doc, pending[order_id])
            if totals is not None:
                version = int(doc.get("version", 0)) if doc else 0
                requests.append(ReplaceOne(
                    {"_id": order_id, "version": version}, trip_document(totals, version + 1), upsert=True
                ))
                requested.append(order_id)
        # The filter misses a document another writer changed since it was read; the upsert then fails
        # with a duplicate key, and that order is read and computed again.
        raced = duplicates_of("trip update", trips.bulk_write, requests, ordered=False) if requests else {}
        pending = {requested[index]: pending[requested[index]] for index in raced}
    if pending:
        raise StoreUnavailable(
            f"MongoDB: other writers kept changing the trips of orders {sorted(pending)[:5]}; retrying"
        )


def _updated(database: Any, order_id: str, doc: dict[str, Any] | None, reports: _Pending) -> TripTotals | None:
    """The trip to write for ``order_id``, from what was read of it; None when it needs no change."""
    if doc is None:
        return recomputed(database, order_id)
    current = totals_of_document(doc)
    last_key = trip_key(current.last)
    uncounted = [r for r in reports.given_again if trip_key(r) > last_key]
    undecided = len(uncounted) < len(reports.given_again)
    if current.pruned:
        if not reports.inserted and not uncounted:
            return None
        return with_inserted(current, order_id, [*reports.inserted, *uncounted], _no_neighbour, _no_neighbour)
    if undecided or any(trip_key(r) < last_key for r in reports.inserted):
        return recomputed(database, order_id)
    if not reports.inserted and not uncounted:
        return None
    return with_inserted(current, order_id, [*reports.inserted, *uncounted], _no_neighbour, _no_neighbour)


def _no_neighbour(_report: LocationReport) -> LocationReport | None:
    """Appends and pruned trips look up no neighbour."""
    return None


ORDERS_WITH_HISTORY: list[dict[str, Any]] = [{"$sort": {"order_id": 1}}, {"$group": {"_id": "$order_id"}}]
"""Every order id in the history, read off the ``order_trip`` index (a cursor, not one document)."""


def backfill(database: Any) -> int:
    """Give every order with history and no trip document its trip, recomputed from its history; how many
    were given one. An order a writer gave one meanwhile keeps it (it counted the same reports or more)."""
    given = 0
    chunk: list[str] = []
    try:
        orders = database["locations"].aggregate(ORDERS_WITH_HISTORY, allowDiskUse=True, batchSize=BACKFILL_BATCH)
        for doc in orders:
            chunk.append(doc["_id"])
            if len(chunk) == BACKFILL_BATCH:
                given += _backfill_orders(database, chunk)
                chunk = []
    except PyMongoError as exc:
        raise StoreUnavailable(f"MongoDB trip backfill: {exc}") from exc
    return given + _backfill_orders(database, chunk)


def _backfill_orders(database: Any, orders: list[str]) -> int:
    if not orders:
        return 0
    have = {doc["_id"] for doc in guarded("trip read", lambda: list(
        database[TRIPS].find({"_id": {"$in": orders}}, {"_id": True})
    ))}
    given = 0
    for order_id in orders:
        totals = None if order_id in have else recomputed(database, order_id)
        if totals is not None:
            raced = duplicates_of(
                "trip backfill", database[TRIPS].bulk_write,
                [ReplaceOne({"_id": order_id, "version": 0}, trip_document(totals, 1), upsert=True)],
            )
            given += not raced
    return given
