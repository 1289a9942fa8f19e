"""The API's reads on the in-memory store: each route's answer, its paging and its 404 (the same routes
over a SQLite file and a real broker are tests/integration/app_api's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient

from deliverer.contract import DeliveryState, LocationReport
from deliverer.geo import path_length_km
from deliverer.store.memory import MemoryStore
from tests.integration.app_api.payloads import body_of

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def ride(order_id: str, points: int, courier: str = "c1", start: datetime = START) -> list[LocationReport]:
    """North along a meridian, a report a minute, started and then arrived."""
    return [
        LocationReport(
            msg_id=f"{order_id}-{i}", order_id=order_id, deliverer_id=courier,
            delivery_state=DeliveryState.START if i == 0 else
            DeliveryState.ARRIVED if i == points - 1 else DeliveryState.ON_THE_WAY,
            timestamp=start + timedelta(minutes=i), latitude=45.0 + 0.01 * i, longitude=9.0,
        )
        for i in range(points)
    ]


def test_the_last_location_is_the_newest_report(client: FlaskClient, store: MemoryStore) -> None:
    reports = ride("o1", 5)
    store.insert_batch(list(reversed(reports)))
    assert body_of(client.get("/v1/orders/o1/last-location")) == reports[-1].to_json_dict()
    assert [doc["msg_id"] for doc in body_of(client.get("/v1/deliverer_location/last/o1"))["data"]] == ["o1-4"]


@pytest.mark.parametrize("route", ["/v1/orders/{}/last-location", "/v1/orders/{}/summary", "/v1/orders/{}/courier",
                                   "/v1/orders/{}/track.csv"])
def test_an_order_nobody_reported_is_a_404_naming_it(client: FlaskClient, route: str) -> None:
    response = client.get(route.format("never-seen"))
    assert (response.status_code, body_of(response)["error"]) == (404, "order_not_found")
    assert "'never-seen'" in body_of(response)["message"]


def test_history_pages_with_a_cursor_and_a_window(client: FlaskClient, store: MemoryStore) -> None:
    reports = ride("o1", 25)
    store.insert_batch(reports)
    seen: list[str] = []
    cursor = None
    while True:
        page = body_of(client.get("/v1/orders/o1/locations", query_string={"limit": 10, "cursor": cursor or []}))
        seen += [item["msg_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r.msg_id for r in reports]
    window = client.get("/v1/orders/o1/locations?since=2026-01-05T12:03:00Z&until=1767615000000")
    assert [item["msg_id"] for item in body_of(window)["items"]] == ["o1-3", "o1-4", "o1-5", "o1-6", "o1-7", "o1-8",
                                                                     "o1-9"]


def test_the_summary_is_the_trip_over_the_whole_history(client: FlaskClient, store: MemoryStore) -> None:
    reports = ride("o1", 11)
    store.insert_batch(reports)
    summary = body_of(client.get("/v1/orders/o1/summary"))
    assert (summary["points"], summary["duration_s"], summary["delivery_state"], summary["courier"]) == (
        11, 600, "arrived", "c1"
    )
    assert summary["distance_km"] == pytest.approx(path_length_km((r.latitude, r.longitude) for r in reports), abs=1e-4)


def test_orders_newest_first_and_a_couriers_last_location(client: FlaskClient, store: MemoryStore) -> None:
    store.insert_batch([*ride("early", 3, "c1"), *ride("late", 2, "c2", START + timedelta(hours=1))])
    orders = body_of(client.get("/v1/orders?limit=1"))
    assert [item["order_id"] for item in orders["items"]] == ["late"] and orders["next_cursor"]
    rest = body_of(client.get(f"/v1/orders?limit=1&cursor={orders['next_cursor']}"))
    assert ([item["order_id"] for item in rest["items"]], rest["next_cursor"]) == (["early"], None)
    assert body_of(client.get("/v1/deliverers/c1/last-location"))["msg_id"] == "early-2"
    missing = client.get("/v1/deliverers/nobody/last-location")
    assert (missing.status_code, body_of(missing)["error"]) == (404, "deliverer_not_found")


def test_hostile_ids_and_parameters_are_refused_before_the_store(client: FlaskClient) -> None:
    assert body_of(client.get('/v1/orders/{"$ne": null}/last-location'))["error"] == "invalid_order_id"
    assert body_of(client.get("/v1/deliverers/a b/last-location"))["error"] == "invalid_deliverer_id"
    refused = body_of(client.get("/v1/orders/o1/locations?since=yesterday"))
    assert refused["fields"][0] == {
        "field": "since", "reason": "invalid_timestamp", "message": "is not an RFC 3339 timestamp: 'yesterday'"
    }
