"""MongoStore.delete_reports without a server: how it batches keys, and what a server error becomes.
(Against a real server it runs in the store contract suite.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from deliverer.store import StoreUnavailable
from deliverer.store.mongo import DELETE_BATCH, MongoStore


@dataclass
class Deleted:
    deleted_count: int


@dataclass
class LocationsDouble:
    """Records each delete_many filter; ``fail_on`` makes that call raise as a lost server would. Each
    key's report belongs to order ``o-<courier>``."""

    filters: list[dict[str, Any]] = field(default_factory=list)
    fail_on: int | None = None

    def find(self, query: dict[str, Any], _projection: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"order_id": f"o-{branch['deliverer_id']}"} for branch in query["$or"] for _ in branch["msg_id"]["$in"]]

    def delete_many(self, query: dict[str, Any]) -> Deleted:
        self.filters.append(query)
        if len(self.filters) == self.fail_on:
            raise AutoReconnect("connection reset")
        return Deleted(sum(len(branch["msg_id"]["$in"]) for branch in query["$or"]))


@dataclass
class TripsDouble:
    """Records the orders each update_many marks pruned, with the deletes seen by then."""

    locations: LocationsDouble
    marked: list[tuple[list[str], int]] = field(default_factory=list)

    def update_many(self, query: dict[str, Any], update: dict[str, Any]) -> None:
        assert update == {"$set": {"pruned": True}, "$inc": {"version": 1}}
        self.marked.append((sorted(query["_id"]["$in"]), len(self.locations.filters)))


def store_over(locations: LocationsDouble) -> MongoStore:
    store = MongoStore.__new__(MongoStore)
    store._locations = locations  # type: ignore[assignment]
    store._trips = TripsDouble(locations)  # type: ignore[assignment]
    return store


def named_keys(query: dict[str, Any]) -> list[tuple[str, str]]:
    return [(branch["deliverer_id"], msg_id) for branch in query["$or"] for msg_id in branch["msg_id"]["$in"]]


def test_keys_go_in_batches_each_naming_its_keys_by_courier() -> None:
    keys = [(f"d{i % 7}", f"m{i}") for i in range(2 * DELETE_BATCH + 5)]
    locations = LocationsDouble()
    store = store_over(locations)
    assert store.delete_reports(iter(keys)) == len(keys)
    assert len(locations.filters) == 3
    batches = [keys[n : n + DELETE_BATCH] for n in range(0, len(keys), DELETE_BATCH)]
    orders = [sorted({f"o-{courier}" for courier, _ in batch}) for batch in batches]
    assert store._trips.marked == [(orders[0], 0), (orders[1], 1), (orders[2], 2)], (  # type: ignore[attr-defined]
        "each batch's trips are marked pruned before its delete"
    )
    assert sorted(k for query in locations.filters for k in named_keys(query)) == sorted(keys)
    for query in locations.filters:
        couriers = [branch["deliverer_id"] for branch in query["$or"]]
        assert len(couriers) == len(set(couriers)), "one branch per courier"


def test_a_server_error_is_an_outage_and_the_batches_done_stay_done() -> None:
    locations = LocationsDouble(fail_on=2)
    keys = [("d1", f"m{i}") for i in range(2 * DELETE_BATCH)]
    with pytest.raises(StoreUnavailable, match="connection reset"):
        store_over(locations).delete_reports(keys)
    assert len(locations.filters) == 2


def test_no_keys_no_call() -> None:
    locations = LocationsDouble()
    assert store_over(locations).delete_reports([]) == 0
    assert locations.filters == []
