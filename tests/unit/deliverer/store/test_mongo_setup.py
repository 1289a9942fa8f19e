"""How the MongoDB backend connects and what it asks of the database before it serves: durable,
bounded client settings (the URL's own options win), and indexes checked at open, created and
migrated only by ``deliverer store migrate``."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from deliverer.store import StoreUnavailable, mongo, mongo_trips
from tests.unit.deliverer.store.mongo_doubles import DatabaseDouble

URL = "mongodb://app:secret@db.example:27017/deliverer"


def migrated_database() -> DatabaseDouble:
    db = DatabaseDouble()
    for collection, models in mongo.INDEXES.items():
        db[collection].create_indexes(models)
        db[collection].calls.clear()
    return db


class ClientDouble:
    """Stands in for MongoClient: the options it was given, the database it opens, whether closed."""

    def __init__(self, database: DatabaseDouble) -> None:
        self.database = database
        self.url = ""
        self.options: dict[str, Any] = {}
        self.closed = False

    def __call__(self, url: str, **options: Any) -> ClientDouble:
        self.url, self.options = url, options
        return self

    def get_default_database(self, default: str) -> DatabaseDouble:
        return self.database

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> ClientDouble:
    double = ClientDouble(migrated_database())
    monkeypatch.setattr(mongo, "MongoClient", double)
    return double


def effective(url: str, options: dict[str, Any]) -> MongoClient[dict[str, Any]]:
    """The settings pymongo itself derives from a URL and keyword options (no connection is made)."""
    return MongoClient(url, connect=False, **options)


def test_writes_are_journaled_and_majority_acknowledged_and_every_wait_is_bounded(client: ClientDouble) -> None:
    mongo.MongoStore(URL).close()
    settings = effective(client.url, client.options)
    try:
        assert settings.write_concern.document == {"w": "majority", "j": True, "wtimeout": 10_000}
        assert settings.options.server_selection_timeout == 5
        assert settings.options.pool_options.connect_timeout == 5
        assert settings.options.pool_options.socket_timeout == 30
        assert settings.codec_options.tz_aware
    finally:
        settings.close()
    assert client.closed


def test_the_urls_own_options_win(client: ClientDouble) -> None:
    url = URL + "?w=2&wtimeoutMS=2500&socketTimeoutMS=1000&serverSelectionTimeoutMS=200"
    mongo.MongoStore(url).close()
    settings = effective(client.url, client.options)
    try:
        assert settings.write_concern.document == {"w": 2, "j": True, "wtimeout": 2500}
        assert settings.options.pool_options.socket_timeout == 1
        assert settings.options.server_selection_timeout == 0.2
    finally:
        settings.close()


@pytest.mark.parametrize("option", ["w=0", "journal=false"])
def test_a_url_that_gives_up_durability_is_refused(option: str, client: ClientDouble) -> None:
    with pytest.raises(ValueError, match=option.partition("=")[0]):
        mongo.MongoStore(f"{URL}?{option}")


def test_opening_an_unmigrated_database_names_the_missing_indexes_and_creates_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    double = ClientDouble(DatabaseDouble())
    monkeypatch.setattr(mongo, "MongoClient", double)
    with pytest.raises(mongo.StoreNotMigrated) as refused:
        mongo.MongoStore(URL)
    message = str(refused.value)
    assert "locations.courier_msg_id_unique is missing" in message
    assert "`deliverer store migrate`" in message
    assert ("locations", "create_indexes") not in double.database.calls()
    assert double.closed, "the client of a store that failed to open is closed"


def test_opening_when_no_server_answers_is_an_outage_and_closes_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    db = DatabaseDouble()
    db["locations"].script("list_indexes", ServerSelectionTimeoutError("db.example:27017: [Errno 111] refused"))
    double = ClientDouble(db)
    monkeypatch.setattr(mongo, "MongoClient", double)
    with pytest.raises(StoreUnavailable):
        mongo.MongoStore(URL)
    assert double.closed


def test_the_old_msg_id_index_or_a_changed_index_is_named_with_the_fix() -> None:
    db = migrated_database()
    db["locations"].indexes["msg_id_unique"] = {"key": [("msg_id", 1)], "unique": True, "v": 2}
    db["locations"].indexes["order_trip"] = {"key": [("order_id", 1), ("timestamp", 1)], "v": 2}
    with pytest.raises(mongo.StoreNotMigrated) as refused:
        mongo.MongoStore.over(db).verify_indexes()
    message = str(refused.value)
    assert "locations.msg_id_unique is superseded" in message
    assert "locations.order_trip is {order_id: 1, timestamp: 1}" in message
    assert "{order_id: 1, timestamp: 1, msg_id: 1, deliverer_id: 1}" in message


def test_migrate_builds_the_courier_key_and_owners_before_dropping_the_msg_id_index() -> None:
    db = migrated_database()
    locations = db["locations"]
    del locations.indexes["courier_msg_id_unique"]
    locations.indexes["msg_id_unique"] = {"key": [("msg_id", 1)], "unique": True, "v": 2}

    steps = mongo.MongoStore.over(db).migrate()

    order = [call.method for call in locations.calls if call.method in ("create_indexes", "aggregate", "drop_index")]
    assert order == ["create_indexes", "aggregate", "aggregate", "drop_index"], "owners, then the orders' trips"
    merge, orders_with_history = locations.called("aggregate")
    assert orders_with_history.args[0] == mongo_trips.ORDERS_WITH_HISTORY
    assert merge.args[0][-1]["$merge"]["whenMatched"] == "keepExisting", "an owner set since is kept"
    assert "msg_id_unique" not in locations.indexes
    assert steps == [
        "created index locations.courier_msg_id_unique",
        "gave every order without a courier the courier of its earliest report",
        "dropped index locations.msg_id_unique (superseded)",
    ]
    mongo.MongoStore.over(db).verify_indexes()
    assert mongo.MongoStore.over(db).migrate() == [], "a second run has nothing to do"


def test_migrate_refuses_a_changed_index_before_changing_anything() -> None:
    db = DatabaseDouble()
    db["rejected"].indexes["reason"] = {"key": [("reason", 1)], "unique": True, "v": 2}
    with pytest.raises(mongo.StoreNotMigrated) as refused:
        mongo.MongoStore.over(db).migrate()
    assert "rejected.reason is {reason: 1} unique" in str(refused.value)
    assert 'db.rejected.dropIndex("reason")' in str(refused.value)
    assert [call for call in db.calls() if call[1] in ("create_indexes", "drop_index", "aggregate")] == []


def test_migrate_refuses_an_index_of_the_same_keys_under_another_name() -> None:
    db = DatabaseDouble()
    db["locations"].indexes["by_time"] = {"key": [("timestamp", 1)], "v": 2}
    with pytest.raises(mongo.StoreNotMigrated, match=r"locations\.by_time has the keys of timestamp"):
        mongo.MongoStore.over(db).migrate()


def test_an_index_build_the_server_refuses_is_named() -> None:
    db = DatabaseDouble()
    db["order_handovers"].script(
        "create_indexes", OperationFailure("Index build failed: exceeded memory limit", 16820)
    )
    with pytest.raises(mongo.StoreNotMigrated, match=r"order_handovers\.order .* was not built: Index build failed"):
        mongo.MongoStore.over(db).migrate()
