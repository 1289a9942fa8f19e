"""The MongoDB backend on the paths no server here can show, with pymongo's own exception objects
raised from doubles of its collections: what the store makes of each (an outage, a duplicate, a
refusal), never a silent success."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    NotPrimaryError,
    WriteConcernError,
)

from deliverer.contract import LocationReport
from deliverer.store import RejectedReport, StoreUnavailable, mongo
from tests.unit.deliverer.store.mongo_doubles import (
    PRIMARY_STEPPED_DOWN,
    REPLICATION_TIMED_OUT,
    DatabaseDouble,
    WriteResultDouble,
    bulk_write_error,
    duplicate_key,
)

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
TOPIC = "deliverers/d1/location"


def report(order: str = "o1", msg: str = "m1", at: datetime = T0, courier: str = "d1") -> LocationReport:
    return LocationReport(
        msg_id=msg, order_id=order, deliverer_id=courier, delivery_state="on_the_way",
        timestamp=at, latitude=45.0, longitude=9.0,
    )


def letter(payload: bytes = b"{", at: datetime = T0) -> RejectedReport:
    return RejectedReport.of(at, TOPIC, "not_json", "payload is not valid JSON", payload)


def store_over(db: DatabaseDouble) -> mongo.MongoStore:
    return mongo.MongoStore.over(db)


WRITE_CONCERN_FAILURES = [
    pytest.param("locations", "insert_many", [], id="history, replication timed out"),
    pytest.param("orders", "insert_many", [], id="order claims, replication timed out"),
    pytest.param("last_locations", "bulk_write", [], id="last locations, replication timed out"),
    pytest.param("rejected", "insert_many", [], id="dead letters, replication timed out"),
    pytest.param(
        "locations", "insert_many", [duplicate_key(0, "locations", "courier_msg_id_unique", {"deliverer_id": "d1",
                                                                                           "msg_id": "m1"})],
        id="history, a duplicate and a stepped-down primary",
    ),
    pytest.param(
        "last_locations", "bulk_write", [duplicate_key(0, "last_locations", "_id_", {"_id": "o1"})],
        id="last locations, a newer one stored and a stepped-down primary",
    ),
]


@pytest.mark.parametrize(("collection", "method", "write_errors"), WRITE_CONCERN_FAILURES)
def test_a_write_concern_error_in_a_bulk_write_is_an_outage_not_a_success(
    collection: str, method: str, write_errors: list[dict[str, object]]
) -> None:
    """The documents may be written, but not durably: a primary that steps down before the majority
    has them rolls them back. Acknowledging MQTT now would lose them."""
    db = DatabaseDouble()
    concern = PRIMARY_STEPPED_DOWN if write_errors else REPLICATION_TIMED_OUT
    db[collection].script(method, bulk_write_error(write_errors, [concern], inserted=1))
    with pytest.raises(StoreUnavailable, match="write concern"):
        store_over(db).insert_batch([report()], [letter()])


def test_a_write_concern_error_of_a_single_write_is_an_outage() -> None:
    db = DatabaseDouble()
    db["orders"].script("find_one_and_update", WriteConcernError("waiting for replication timed out", 64,
                                                                 REPLICATION_TIMED_OUT))
    with pytest.raises(StoreUnavailable):
        store_over(db).hand_over("o1", "d2", T0)


CONNECTION_FAILURES = [
    pytest.param(NetworkTimeout("db:27017: timed out (configured timeouts: socketTimeoutMS: 30000.0ms)"),
                 id="network timeout"),
    pytest.param(AutoReconnect("db:27017: connection closed"), id="connection lost"),
    pytest.param(NotPrimaryError("not primary", {"code": 10107, "errmsg": "not primary"}), id="not primary"),
]


@pytest.mark.parametrize("error", CONNECTION_FAILURES)
@pytest.mark.parametrize(("collection", "method"), [("locations", "insert_many"), ("locations", "find"),
                                                    ("last_locations", "bulk_write"), ("rejected", "insert_many")])
def test_a_lost_connection_or_primary_is_an_outage(collection: str, method: str, error: Exception) -> None:
    db = DatabaseDouble()
    db[collection].script(method, error)
    with pytest.raises(StoreUnavailable):
        store_over(db).insert_batch([report()], [letter()])


def test_a_report_whose_insert_hits_another_unique_index_is_refused_not_dropped() -> None:
    """Only the (deliverer_id, msg_id) key makes a report a duplicate: a duplicate key on any other
    unique index (one an operator added) must not make it vanish from the counts."""
    db = DatabaseDouble()
    db["locations"].script("insert_many", bulk_write_error([duplicate_key(0, "locations", "device_seq_unique",
                                                                          {"seq": 7})]))
    with pytest.raises(mongo.MongoWriteRefused, match="device_seq_unique") as refused:
        store_over(db).insert_batch([report()])
    assert not isinstance(refused.value, StoreUnavailable), "a refusal is narrowed down, not retried forever"


def test_the_last_location_upsert_retries_its_creation_race() -> None:
    """Two writers create one order's last location at once: one upsert fails with a duplicate key
    on _id although its report may be the newer one. Tried again, it now finds the document."""
    db = DatabaseDouble()
    db["last_locations"].script("bulk_write", bulk_write_error([duplicate_key(0, "last_locations", "_id_",
                                                                              {"_id": "o1"})]))
    result = store_over(db).insert_batch([report()])
    attempts = db["last_locations"].called("bulk_write")
    assert result.inserted == 1
    assert len(attempts) == 2 and len(attempts[1].args[0]) == 1, "the raced upsert is tried once more"


def test_a_last_location_that_stays_a_duplicate_key_is_the_stored_newer_one() -> None:
    db = DatabaseDouble()
    raced = bulk_write_error([duplicate_key(0, "last_locations", "_id_", {"_id": "o1"})])
    db["last_locations"].script("bulk_write", raced, raced)
    assert store_over(db).insert_batch([report()]).inserted == 1
    assert len(db["last_locations"].called("bulk_write")) == 2


def test_the_last_location_is_replaced_whole_so_absent_fields_are_cleared() -> None:
    db = DatabaseDouble()
    store_over(db).insert_batch([report()])
    [upsert] = db["last_locations"].called("bulk_write")[0].args[0]
    written = upsert._doc
    assert not any(key.startswith("$") for key in written), f"an update ($set keeps stale fields): {written}"
    assert written["_id"] == "o1" and "speed_kmh" not in written and written["msg_id"] == "m1"


def test_a_handover_racing_the_orders_creation_is_tried_again() -> None:
    db = DatabaseDouble()
    db["orders"].script(
        "find_one_and_update",
        DuplicateKeyError("E11000 duplicate key error collection: deliverer.orders index: _id_", 11000),
        {"_id": "o1", "deliverer_id": "d1", "since": T0},
    )
    db["orders"].script("find_one", {"_id": "o1", "deliverer_id": "d2", "since": T0})
    courier = store_over(db).hand_over("o1", "d2", T0)
    assert courier.deliverer_id == "d2"
    assert len(db["orders"].called("find_one_and_update")) == 2


def test_dead_letters_carry_a_key_that_a_retry_repeats_and_a_repeat_within_a_write_does_not() -> None:
    """received_at changes from one attempt to the next (the subscriber sorts a redelivered batch
    again); what the letter says and carries does not."""
    db = DatabaseDouble()
    store = store_over(db)
    letters = [letter(b"{"), letter(b"{"), letter(b"[")]
    store.insert_batch([], letters)
    store.insert_batch([], [replace(lt, received_at=T0 + timedelta(hours=1)) for lt in letters])
    first, retry = (call.args[0] for call in db["rejected"].called("insert_many"))
    keys = [doc["letter_key"] for doc in first]
    assert keys == [doc["letter_key"] for doc in retry]
    assert len(set(keys)) == 3, "the same message twice in one write is two dead letters, as on SQLite"


def test_a_dead_letter_stored_by_an_earlier_attempt_is_not_an_error() -> None:
    db = DatabaseDouble()
    db["rejected"].script("insert_many", bulk_write_error([duplicate_key(0, "rejected", "letter_key_unique",
                                                                         {"letter_key": "abc"})], inserted=1))
    result = store_over(db).insert_batch([], [letter(b"{"), letter(b"[")])
    assert result.rejected == 2


def test_a_day_is_deleted_in_bounded_batches_and_a_retry_finishes_an_interrupted_delete() -> None:
    batch = mongo.DELETE_BATCH
    ids = [{"_id": n, "order_id": f"o{n % 3}"} for n in range(2 * batch + batch // 2)]
    db = DatabaseDouble()
    locations = db["locations"]
    locations.script("find", ids[:batch], ids[batch:], ids[batch:], ids[2 * batch:], [])
    locations.script(
        "bulk_write", WriteResultDouble(deleted_count=batch), AutoReconnect("connection closed"),
        WriteResultDouble(deleted_count=batch), WriteResultDouble(deleted_count=batch // 2),
    )
    store = store_over(db)
    with pytest.raises(StoreUnavailable):
        store.delete_between(T0, T0 + timedelta(days=1))
    assert store.delete_between(T0, T0 + timedelta(days=1)) == batch + batch // 2
    assert all(len(call.args[0]) <= batch for call in locations.called("bulk_write"))
    assert locations.called("delete_many") == [], "one delete_many for a whole day is neither bounded nor retryable"
    marks = db["trips"].called("update_many")
    assert len(marks) == 4, "each batch's trips are marked pruned before it is deleted"
    assert sorted(marks[0].args[0]["_id"]["$in"]) == ["o0", "o1", "o2"]


def test_a_history_limit_of_zero_or_less_is_empty_as_on_sqlite() -> None:
    db = DatabaseDouble()
    stored = {"msg_id": "m1", "order_id": "o1", "deliverer_id": "d1", "delivery_state": "start",
              "timestamp": T0, "latitude": 45.0, "longitude": 9.0}
    db["locations"].script("find", [stored], [stored])
    store = store_over(db)
    assert store.history("o1", limit=0) == [] and store.history("o1", limit=-3) == []


def test_a_batch_retried_after_its_history_was_written_still_moves_the_last_location() -> None:
    """The first attempt inserted the history and then lost its connection before the last
    locations: on the retry every report is a stored duplicate, and must still count there."""
    db = DatabaseDouble()
    stored = {"msg_id": "m1", "order_id": "o1", "deliverer_id": "d1", "delivery_state": "on_the_way",
              "timestamp": T0, "latitude": 45.0, "longitude": 9.0}
    db["locations"].script("find", [stored])
    db["orders"].script("find", [{"_id": "o1", "deliverer_id": "d1"}])
    result = store_over(db).insert_batch([report()])
    assert (result.inserted, result.duplicates) == (0, 1)
    [upserts] = [call.args[0] for call in db["last_locations"].called("bulk_write")]
    assert [u._doc["msg_id"] for u in upserts] == ["m1"]


def test_a_handover_moves_the_last_location_to_the_new_couriers_newest_report_only_over_another_couriers() -> None:
    """Only a document of another courier is replaced (a report of the new courier stored meanwhile wrote the
    right one: its duplicate key is the answer), and an order whose new courier has no report loses it."""
    mine = mongo._document(report(courier="d2", msg="m7"))
    db = DatabaseDouble()
    db["orders"].script("find_one_and_update", {"_id": "o1", "deliverer_id": "d1", "since": T0},
                        {"_id": "o1", "deliverer_id": "d2", "since": T0})
    db["orders"].script("find_one", {"_id": "o1", "deliverer_id": "d2", "since": T0},
                        {"_id": "o1", "deliverer_id": "d3", "since": T0})
    db["locations"].script("find", [mine], [])
    db["last_locations"].script(
        "replace_one", DuplicateKeyError("E11000 duplicate key error collection: deliverer.last_locations", 11000)
    )
    store = store_over(db)

    store.hand_over("o1", "d2", T0)
    (replaced,) = db["last_locations"].called("replace_one")
    assert replaced.args[0] == {"_id": "o1", "deliverer_id": {"$ne": "d2"}} and replaced.kwargs["upsert"] is True
    assert replaced.args[1]["msg_id"] == "m7" and replaced.args[1]["_id"] == "o1"

    store.hand_over("o1", "d3", T0)
    (deleted,) = db["last_locations"].called("delete_one")
    assert deleted.args == ({"_id": "o1", "deliverer_id": {"$ne": "d3"}},)
