"""GET routes over a real SQLite store: last location, paginated history, trip summary."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from deliverer.contract import DeliveryState, LocationReport, format_timestamp
from deliverer.geo import haversine_km
from deliverer.store import Store
from tests.helpers import make_reports
from tests.integration.app_api.payloads import body_of

ORDER_ROUTES = (
    "/v1/orders/{}/last-location", "/v1/deliverer_location/last/{}", "/v1/orders/{}/locations",
    "/v1/orders/{}/summary",
)


def trip(order_id: str, points: int, start: datetime) -> list[LocationReport]:
    """A courier heading north one kilometre-ish (0.01 degrees) every minute."""
    return [
        LocationReport(
            msg_id=f"{order_id}-{i}",
            order_id=order_id,
            deliverer_id="c1",
            delivery_state=DeliveryState.START if i == 0 else
            DeliveryState.ARRIVED if i == points - 1 else DeliveryState.ON_THE_WAY,
            timestamp=start + timedelta(minutes=i),
            latitude=45.0 + 0.01 * i,
            longitude=9.0,
        )
        for i in range(points)
    ]


def test_last_location_on_both_routes(client: FlaskClient, store: Store) -> None:
    reports = make_reports(30, orders=3, prefix="shop")
    store.insert_batch(reports)
    newest = max((r for r in reports if r.order_id == "shop-1"), key=lambda r: r.timestamp)
    response = client.get("/v1/orders/shop-1/last-location")
    assert response.status_code == 200
    assert body_of(response) == newest.to_json_dict()
    original = client.get("/v1/deliverer_location/last/shop-1")
    assert [doc["msg_id"] for doc in body_of(original)["data"]] == [newest.msg_id]


def test_unknown_order_is_a_json_404(client: FlaskClient) -> None:
    for route in ("/v1/orders/{}/last-location", "/v1/orders/{}/summary"):
        response = client.get(route.format("never-seen"))
        assert response.status_code == 404
        assert body_of(response)["error"] == "order_not_found"
        assert "never-seen" in body_of(response)["message"]
    empty = client.get("/v1/orders/never-seen/locations")
    assert empty.status_code == 200
    assert body_of(empty) == {"order_id": "never-seen", "items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "order_id",
    ['{"$ne": null}', "a b", "x" * 65, "semi;colon", "%00", "quote'", "ümlaut"],
)
def test_hostile_order_ids_are_refused_before_any_query(client: FlaskClient, order_id: str) -> None:
    for route in ORDER_ROUTES:
        response = client.get(route.format(order_id))
        assert response.status_code == 400, (route, order_id)
        assert body_of(response)["error"] == "invalid_order_id"
        assert body_of(response)["fields"][0]["field"] == "order_id"


def test_history_pages_oldest_first_with_an_opaque_cursor(client: FlaskClient, store: Store) -> None:
    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    reports = trip("long", 25, start)
    store.insert_batch(reports)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/orders/long/locations", query_string=query)
        assert page.status_code == 200
        seen += [item["msg_id"] for item in body_of(page)["items"]]
        cursor = body_of(page)["next_cursor"]
        pages += 1
        if cursor is None:
            break
        assert isinstance(cursor, str)
    assert pages == 3
    assert seen == [r.msg_id for r in reports]


def test_history_since_until_in_rfc3339_or_epoch_ms(client: FlaskClient, store: Store) -> None:
    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    store.insert_batch(trip("window", 10, start))
    since = start + timedelta(minutes=3)
    until = start + timedelta(minutes=6)
    for query in (
        {"since": format_timestamp(since), "until": format_timestamp(until)},
        {"since": str(int(since.timestamp() * 1000)), "until": "2026-01-05T13:06:00+01:00"},
    ):
        page = client.get("/v1/orders/window/locations", query_string=query)
        assert page.status_code == 200, body_of(page)
        assert [item["msg_id"] for item in body_of(page)["items"]] == ["window-3", "window-4", "window-5"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=%C2%B2", "limit"),
        ("since=yesterday", "since"),
        ("since=2026-01-05T12:00:00", "since"),
        ("until=2026-01-05T12:00:00+01:00", "until"),  # an unencoded '+' arrives as a space
        ("until=99999999999999999", "until"),
        ("since=0001-01-01T00:00:00%2B01:00", "since"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=WzEsIiQifV0", "cursor"),
    ],
)
def test_bad_history_parameters_are_400_naming_the_field(client: FlaskClient, query: str, field: str) -> None:
    response = client.get(f"/v1/orders/any/locations?{query}")
    assert response.status_code == 400, body_of(response)
    assert body_of(response)["error"] == "invalid_parameter"
    assert body_of(response)["fields"][0]["field"] == field


def test_summary_of_a_trip(client: FlaskClient, store: Store) -> None:
    start = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    reports = trip("trip", 11, start)
    store.insert_batch(list(reversed(reports)))
    summary = body_of(client.get("/v1/orders/trip/summary"))
    expected_km = sum(haversine_km(45.0 + 0.01 * i, 9.0, 45.0 + 0.01 * (i + 1), 9.0) for i in range(10))
    assert summary["order_id"] == "trip"
    assert summary["delivery_state"] == "arrived"
    assert summary["first"]["msg_id"] == "trip-0"
    assert summary["last"]["msg_id"] == "trip-10"
    assert summary["points"] == 11
    assert summary["distance_km"] == pytest.approx(expected_km, abs=1e-3)
    assert summary["distance_km"] == pytest.approx(11.12, abs=0.01)  # 0.1 degree of latitude
    assert summary["duration_s"] == 600
    assert summary["avg_speed_kmh"] == pytest.approx(expected_km / (600 / 3600), abs=0.01)


def test_summary_of_a_single_report_has_no_speed(client: FlaskClient, store: Store) -> None:
    store.insert_batch(trip("one", 1, datetime(2026, 1, 5, tzinfo=UTC)))
    summary = body_of(client.get("/v1/orders/one/summary"))
    assert (summary["points"], summary["distance_km"], summary["duration_s"]) == (1, 0, 0)
    assert summary["avg_speed_kmh"] is None


def test_summary_keeps_the_whole_trip_after_retention(client: FlaskClient, store: Store) -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    store.insert_batch(trip("old", 5, start))
    before = body_of(client.get("/v1/orders/old/summary"))
    store.delete_between(start - timedelta(days=1), start + timedelta(days=1))
    assert body_of(client.get("/v1/orders/old/locations"))["items"] == []
    assert body_of(client.get("/v1/orders/old/summary")) == before
    assert (before["points"], before["first"]["msg_id"], before["last"]["msg_id"]) == (5, "old-0", "old-4")


def test_summary_of_an_order_pruned_before_the_store_kept_trips_is_its_last_location(
    client: FlaskClient, store: Store, sqlite_url: str
) -> None:
    start = datetime(2026, 1, 5, tzinfo=UTC)
    store.insert_batch(trip("old", 5, start))
    store.delete_between(start - timedelta(days=1), start + timedelta(days=1))
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as older_release:
        older_release.execute("DELETE FROM trips")
    summary = body_of(client.get("/v1/orders/old/summary"))
    assert (summary["points"], summary["distance_km"]) == (1, 0)
    assert summary["first"]["msg_id"] == summary["last"]["msg_id"] == "old-4"


def test_store_that_cannot_open_is_503_on_reads(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    client = make_app(STORE_URL=f"sqlite:///{blocker}/store.db").test_client()
    response = client.get("/v1/orders/x/last-location")
    assert response.status_code == 503
    assert body_of(response)["error"] == "store_unavailable"
    assert response.headers["Retry-After"]
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert body_of(ready)["unavailable"] == ["store"]
