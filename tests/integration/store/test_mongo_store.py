"""What only the MongoDB backend does, on a real server (skipped with the reason where none answers):
the migration from the previous release and its refusals, the write concern on the wire, and dead
letters that a batch written again does not double (SQLite writes a batch in one transaction)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import ASCENDING, DESCENDING, MongoClient, monitoring

from deliverer.contract import LocationReport
from deliverer.geo import haversine_km
from deliverer.store import RejectedReport, open_store
from deliverer.store.mongo_schema import StoreNotMigrated
from deliverer_cli.store import migrate_store

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
WRITE_COMMANDS = {"insert", "update", "delete", "findAndModify"}


def report(order: str, msg: str, at: datetime, courier: str = "d1", lat: float = 45.0) -> LocationReport:
    return LocationReport(
        msg_id=msg, order_id=order, deliverer_id=courier, delivery_state="on_the_way",
        timestamp=at, latitude=lat, longitude=9.0,
    )


@pytest.fixture
def app_database(fresh_mongo_url: str) -> Iterator[Any]:
    """The fresh database as the application account sees it."""
    with MongoClient(fresh_mongo_url, tz_aware=True) as client:
        yield client.get_default_database()


def test_opening_a_database_that_is_not_migrated_is_refused_naming_the_fix(fresh_mongo_url: str) -> None:
    with pytest.raises(StoreNotMigrated, match="run `deliverer store migrate`"):
        open_store(fresh_mongo_url)


def test_the_previous_releases_database_is_migrated_by_the_application_account(
    fresh_mongo_url: str, app_database: Any
) -> None:
    db = app_database
    db.locations.create_index([("msg_id", ASCENDING)], name="msg_id_unique", unique=True)
    db.locations.create_index([("order_id", ASCENDING), ("timestamp", DESCENDING)], name="order_timestamp")
    db.rejected.create_index([("received_at", DESCENDING)], name="received_at")
    db.locations.insert_many([  # o1 was started by d1, then d2 reported for it too (that release let it)
        {"msg_id": "m2", "order_id": "o1", "deliverer_id": "d2", "delivery_state": "on_the_way",
         "timestamp": T0 + timedelta(minutes=1), "latitude": 45.1, "longitude": 9.1, "ingested_at": T0},
        {"msg_id": "m1", "order_id": "o1", "deliverer_id": "d1", "delivery_state": "start",
         "timestamp": T0, "latitude": 45.0, "longitude": 9.0, "ingested_at": T0},
    ])
    legacy_letter = {"received_at": T0, "topic": "deliverers/d1/location", "reason": "not_json", "message": "m",
                     "payload": b"{", "payload_size": 1}
    db.rejected.insert_many([dict(legacy_letter), dict(legacy_letter)])  # no letter_key: stored before keys

    with pytest.raises(StoreNotMigrated, match=r"locations\.msg_id_unique is superseded"):
        open_store(fresh_mongo_url)
    steps = migrate_store(fresh_mongo_url)

    assert "gave every order without a courier the courier of its earliest report" in steps
    assert "orders given their trip from their history: 1" in steps
    assert "dropped index locations.msg_id_unique (superseded)" in steps
    assert "dropped index rejected.received_at (superseded)" in steps
    assert "dropped index locations.order_timestamp (superseded)" in steps
    store = open_store(fresh_mongo_url)
    try:
        owner = store.order_courier("o1")
        assert owner is not None and owner.deliverer_id == "d1"
        trip = store.trip_totals("o1")
        assert trip is not None and (trip.points, trip.first.msg_id, trip.last.msg_id) == (2, "m1", "m2")
        assert trip.distance_km == pytest.approx(haversine_km(45.0, 9.0, 45.1, 9.1), rel=1e-12)
        assert store.insert_batch([report("o3", "m1", T0, courier="d3")]).inserted == 1, "m1 is d1's id, not d3's"
        store.insert_batch([], [RejectedReport.of(T0, "deliverers/d1/location", "not_json", "m", b"{")])
        assert store.counts().rejected == 3
    finally:
        store.close()
    assert migrate_store(fresh_mongo_url) == [], "a second run has nothing to do"


def test_an_index_this_release_defines_otherwise_is_refused_with_the_fix(
    fresh_mongo_url: str, app_database: Any
) -> None:
    db = app_database
    db.locations.create_index([("order_id", ASCENDING), ("timestamp", ASCENDING)], name="order_trip")
    with pytest.raises(StoreNotMigrated, match=r'db\.locations\.dropIndex\("order_trip"\)'):
        migrate_store(fresh_mongo_url)
    assert set(db.locations.index_information()) == {"_id_", "order_trip"}, "nothing was changed"


def test_a_batch_written_again_does_not_double_its_dead_letters(mongo_url: str) -> None:
    """A write that failed after its dead letters were stored is tried again, by the subscriber or
    after a redelivery, with new received_at times: the letters are the same ones."""
    store = open_store(mongo_url)
    try:
        store.insert_batch([report("o1", "m1", T0)])
        conflicting = report("o1", "m1", T0, lat=46.0)
        letters = [RejectedReport.of(T0, "deliverers/d1/location", "not_json", "not JSON", body)
                   for body in (b"{", b"{", b"[")]
        first = store.insert_batch([conflicting], letters)
        again = store.insert_batch([conflicting], [replace(lt, received_at=T0 + timedelta(hours=1)) for lt in letters])
        assert len(first.refused) == len(again.refused) == 1
        assert store.counts().rejected == 4, "three letters (two alike, both kept) and one refusal, once each"
    finally:
        store.close()


class WriteConcerns(monitoring.CommandListener):
    """The write concern of every write command sent while listening."""

    def __init__(self) -> None:
        self.listening = False
        self.seen: list[tuple[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.listening and event.command_name in WRITE_COMMANDS:
            self.seen.append((event.command_name, event.command.get("writeConcern")))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_every_write_waits_for_the_journal_and_the_majority(mongo_url: str) -> None:
    listener = WriteConcerns()
    monitoring.register(listener)  # for the clients made from now on, as the store's is
    store = open_store(mongo_url)
    listener.listening = True
    try:
        store.insert_batch([report("o1", "m1", T0)], [RejectedReport.of(T0, "t", "not_json", "m", b"{")])
        store.hand_over("o1", "d2", T0 + timedelta(minutes=1))
        store.record_delivery_attempts(["key"])
        store.delete_between(T0, T0 + timedelta(days=1))
    finally:
        listener.listening = False
        store.close()
    assert {name for name, _ in listener.seen} == WRITE_COMMANDS
    assert all(dict(concern) == {"w": "majority", "j": True, "wtimeout": 10_000} for _, concern in listener.seen)
