"""The MongoDB trip update without a server (doubles of pymongo's collections): which updates append,
which recompute from history, and how a write that lost a race to another writer is done again.
(Against a real server, the store contract suite runs the same trips as on the other backends.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deliverer.contract import LocationReport
from deliverer.store import StoreUnavailable
from deliverer.store.base import TripTotals
from deliverer.store.mongo_trips import (
    UPDATE_ATTEMPTS,
    backfill,
    report_document,
    totals_of_document,
    trip_document,
    update_trips,
)
from deliverer.store.trip_totals import path_km
from tests.unit.deliverer.store.mongo_doubles import DatabaseDouble, bulk_write_error, duplicate_key

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def at(second: int, lat: float, msg: str | None = None) -> LocationReport:
    return LocationReport(
        msg_id=msg or f"m{second:03}", order_id="o1", deliverer_id="d1", delivery_state="on_the_way",
        timestamp=T0 + timedelta(seconds=second), latitude=lat, longitude=9.0,
    )


STORED = [at(0, 45.0), at(10, 45.01), at(20, 45.03)]


def stored_trip(version: int = 3, pruned: bool = False, reports: list[LocationReport] = STORED) -> dict[str, Any]:
    totals = TripTotals("o1", reports[0], reports[-1], len(reports), path_km(reports), pruned)
    return trip_document(totals, version)


def written(db: DatabaseDouble, call: int = -1) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(filter, replacement) of each request of one bulk write on the trips."""
    requests = db["trips"].called("bulk_write")[call].args[0]
    return [(request._filter, request._doc) for request in requests]


def test_reports_after_the_last_are_appended_to_the_version_read() -> None:
    db = DatabaseDouble()
    db["trips"].script("find", [stored_trip(version=3)])
    later = [at(40, 45.05), at(30, 45.04)]
    update_trips(db, later, [])
    [(condition, trip)] = written(db)
    assert condition == {"_id": "o1", "version": 3} and trip["version"] == 4
    assert totals_of_document(trip) == TripTotals("o1", STORED[0], later[0], 5, path_km([*STORED, later[1], later[0]]))
    assert db["locations"].called("find") == [], "an append reads no history"


def test_a_late_report_recomputes_the_trip_from_history() -> None:
    db = DatabaseDouble()
    late = at(15, 46.0)
    db["trips"].script("find", [stored_trip()])
    history = [STORED[0], STORED[1], late, STORED[2]]
    db["locations"].script("find", [report_document(r) for r in history])
    update_trips(db, [late], [])
    [(condition, trip)] = written(db)
    assert condition == {"_id": "o1", "version": 3}
    assert totals_of_document(trip) == TripTotals("o1", STORED[0], STORED[2], 4, path_km(history))
    [query] = db["locations"].called("find")
    assert query.args[0] == {"order_id": "o1"}


def test_an_order_without_a_trip_gets_it_from_history_as_version_one() -> None:
    db = DatabaseDouble()
    db["locations"].script("find", [report_document(r) for r in STORED])
    update_trips(db, STORED[1:], [])
    [(condition, trip)] = written(db)
    assert condition == {"_id": "o1", "version": 0} and trip["version"] == 1
    assert totals_of_document(trip).points == 3


def test_a_trip_changed_by_another_writer_meanwhile_is_read_and_computed_again() -> None:
    db = DatabaseDouble()
    other_writer_s = at(30, 45.04)
    newer = stored_trip(version=4, reports=[*STORED, other_writer_s])
    db["trips"].script("find", [stored_trip(version=3)], [newer])
    db["trips"].script("bulk_write", bulk_write_error([duplicate_key(0, "trips", "_id_", {"_id": "o1"})]))
    mine = at(40, 45.05)
    update_trips(db, [mine], [])
    condition, trip = written(db)[0]
    assert condition == {"_id": "o1", "version": 4}, "the second attempt replaces the version it read then"
    assert totals_of_document(trip) == TripTotals(
        "o1", STORED[0], mine, 5, path_km([*STORED, other_writer_s, mine])
    )


def test_a_trip_that_keeps_changing_is_an_outage_to_retry() -> None:
    db = DatabaseDouble()
    db["trips"].script("find", *[[stored_trip()] for _ in range(UPDATE_ATTEMPTS)])
    lost = bulk_write_error([duplicate_key(0, "trips", "_id_", {"_id": "o1"})])
    db["trips"].script("bulk_write", *[lost for _ in range(UPDATE_ATTEMPTS)])
    with pytest.raises(StoreUnavailable, match="other writers kept changing the trips"):
        update_trips(db, [at(40, 45.05)], [])
    assert len(db["trips"].called("bulk_write")) == UPDATE_ATTEMPTS


def test_a_redelivered_report_after_the_last_was_not_counted_and_is_appended_once() -> None:
    """A write that stored its history and failed before its trip update is tried again: its reports
    are stored duplicates now, and those after the trip's last were never counted."""
    db = DatabaseDouble()
    db["trips"].script("find", [stored_trip()])
    retried = at(30, 45.04)
    update_trips(db, [], [retried, retried])
    [(_condition, trip)] = written(db)
    assert totals_of_document(trip) == TripTotals("o1", STORED[0], retried, 4, path_km([*STORED, retried]))


def test_a_redelivered_report_before_the_last_may_be_counted_so_the_trip_is_recomputed() -> None:
    db = DatabaseDouble()
    db["trips"].script("find", [stored_trip()])
    db["locations"].script("find", [report_document(r) for r in STORED])
    update_trips(db, [], [STORED[1]])
    [(_condition, trip)] = written(db)
    assert totals_of_document(trip) == TripTotals("o1", STORED[0], STORED[2], 3, path_km(STORED))


def test_a_pruned_trip_is_never_recomputed() -> None:
    db = DatabaseDouble()
    db["trips"].script("find", [stored_trip(pruned=True)])
    earlier, inside = at(-10, 44.99, "a-early"), at(15, 50.0)
    update_trips(db, [inside, earlier], [STORED[1]])
    [(_condition, trip)] = written(db)
    assert totals_of_document(trip) == TripTotals(
        "o1", earlier, STORED[2], 5, path_km([earlier, *STORED]), pruned=True
    ), "the inside report is a point without legs; the redelivered one is taken as counted"
    assert db["locations"].called("find") == []


def test_nothing_new_writes_nothing() -> None:
    db = DatabaseDouble()
    db["trips"].script("find", [stored_trip(pruned=True)])
    update_trips(db, [], [STORED[1]])
    assert db["trips"].called("bulk_write") == []


def test_the_migration_gives_orders_without_a_trip_theirs_from_history() -> None:
    db = DatabaseDouble()
    db["locations"].script("aggregate", [{"_id": "o1"}, {"_id": "o2"}])
    db["trips"].script("find", [{"_id": "o2"}])
    db["locations"].script("find", [report_document(r) for r in STORED])
    assert backfill(db) == 1
    [(condition, trip)] = written(db)
    assert condition == {"_id": "o1", "version": 0}, "a trip a writer created meanwhile is kept"
    assert totals_of_document(trip) == TripTotals("o1", STORED[0], STORED[2], 3, path_km(STORED))
