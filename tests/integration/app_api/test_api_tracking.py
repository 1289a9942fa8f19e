"""Track files, lookups across orders and tracking links, on the real app and a real SQLite store.

Each track file is read back by a parser nobody here wrote: gpxpy for GPX, geojson-pydantic's
RFC 7946 models for GeoJSON, pyarrow's CSV reader for CSV.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import gpxpy
import pyarrow.csv
import pytest
from flask import Flask
from geojson_pydantic import Feature, FeatureCollection, LineString, Point

from app_api.tracking_links import issue, secret_from
from deliverer.contract import DeliveryState, LocationReport
from deliverer.store import Store
from tests.integration.app_api.payloads import body_of

KEY = "tracking-key"
LONG = 2500  # more than two pages of the store's history reads


def trip(order_id: str, points: int, start: datetime, deliverer: str = "c1") -> list[LocationReport]:
    return [
        LocationReport(
            msg_id=f"{order_id}-{i}", order_id=order_id, deliverer_id=deliverer,
            delivery_state=DeliveryState.START if i == 0 else
            DeliveryState.ARRIVED if i == points - 1 else DeliveryState.ON_THE_WAY,
            timestamp=start + timedelta(seconds=i), latitude=45.0 + 1e-5 * i, longitude=9.0 - 1e-5 * i,
            speed_kmh=float(i % 40), heading=90.0, seq=i,
        )
        for i in range(points)
    ]


@pytest.fixture
def long_trip(store: Store) -> list[LocationReport]:
    reports = trip("long-1", LONG, datetime(2026, 3, 1, 10, tzinfo=UTC))
    store.insert_batch(reports)
    return reports


def test_gpx_is_one_track_of_every_point_in_utc(
    make_app: Callable[..., Flask], long_trip: list[LocationReport]
) -> None:
    response = make_app().test_client().get("/v1/orders/long-1/track.gpx")
    assert response.status_code == 200 and response.is_streamed
    assert response.content_type == "application/gpx+xml"
    assert response.headers["Content-Disposition"] == 'attachment; filename="order-long-1.gpx"'
    document = gpxpy.parse(response.get_data(as_text=True))
    assert document.version == "1.1"
    assert len(document.tracks) == 1 and len(document.tracks[0].segments) == 1
    points = document.tracks[0].segments[0].points
    assert len(points) == LONG
    for point, report in zip(points[::97], long_trip[::97], strict=True):
        assert (point.latitude, point.longitude) == (report.latitude, report.longitude)
        assert point.time == report.timestamp and point.time.utcoffset() == timedelta(0)


def test_geojson_is_a_line_and_every_point_with_its_properties(
    make_app: Callable[..., Flask], long_trip: list[LocationReport]
) -> None:
    response = make_app().test_client().get("/v1/orders/long-1/track.geojson")
    assert response.status_code == 200 and response.content_type == "application/geo+json"
    collection = FeatureCollection.model_validate_json(response.get_data())
    line, *points = collection.features
    assert isinstance(line.geometry, LineString) and len(line.geometry.coordinates) == LONG
    assert line.geometry.coordinates[7] == (long_trip[7].longitude, long_trip[7].latitude)
    assert len(points) == LONG and all(isinstance(f, Feature) and isinstance(f.geometry, Point) for f in points)
    last = points[-1]
    assert last.properties is not None
    assert (last.properties["msg_id"], last.properties["delivery_state"]) == ("long-1-2499", "arrived")
    assert last.properties["timestamp"] == "2026-03-01T10:41:39.000Z"


def test_geojson_of_a_single_report_has_no_line(make_app: Callable[..., Flask], store: Store) -> None:
    store.insert_batch(trip("one", 1, datetime(2026, 3, 1, tzinfo=UTC)))
    answer = make_app().test_client().get("/v1/orders/one/track.geojson")
    collection = FeatureCollection.model_validate_json(answer.data)
    assert [type(f.geometry) for f in collection.features] == [Point]


def test_csv_reads_back_as_typed_columns(make_app: Callable[..., Flask], long_trip: list[LocationReport]) -> None:
    response = make_app().test_client().get("/v1/orders/long-1/track.csv")
    assert response.status_code == 200 and response.content_type == "text/csv; charset=utf-8"
    table = pyarrow.csv.read_csv(io.BytesIO(response.get_data()))
    assert table.num_rows == LONG
    assert table.column_names[:7] == [
        "msg_id", "order_id", "deliverer_id", "delivery_state", "timestamp", "latitude", "longitude",
    ]
    assert table.column("seq").to_pylist() == list(range(LONG))
    assert table.column("latitude").to_pylist()[123] == long_trip[123].latitude
    assert str(table.schema.field("timestamp").type).startswith("timestamp")


@pytest.mark.parametrize("kind", ["gpx", "geojson", "csv"])
def test_track_of_an_unknown_order_is_404_and_a_hostile_id_400(make_app: Callable[..., Flask], kind: str) -> None:
    client = make_app().test_client()
    assert body_of(client.get(f"/v1/orders/nobody/track.{kind}"))["error"] == "order_not_found"
    assert client.get(f"/v1/orders/a%20b/track.{kind}").status_code == 400
    assert client.get("/v1/orders/x/track.kml").status_code == 404


def test_a_couriers_last_location(make_app: Callable[..., Flask], store: Store) -> None:
    now = datetime.now(UTC)
    store.insert_batch([
        *trip("a", 3, now - timedelta(minutes=9), "c9"), *trip("b", 2, now - timedelta(minutes=2), "c9"),
    ])
    client = make_app().test_client()
    assert body_of(client.get("/v1/deliverers/c9/last-location"))["msg_id"] == "b-1"
    assert body_of(client.get("/v1/deliverers/nobody/last-location"))["error"] == "deliverer_not_found"
    assert body_of(client.get("/v1/deliverers/a%24b/last-location"))["error"] == "invalid_deliverer_id"


def test_active_orders_newest_first_paged(make_app: Callable[..., Flask], store: Store) -> None:
    now = datetime.now(UTC)
    for n in range(7):
        reports = trip(f"on-{n}", 3, now - timedelta(minutes=20 - n))
        store.insert_batch(reports if n % 2 else reports[:-1])  # odd n: arrived
    store.insert_batch(trip("old", 3, now - timedelta(hours=3))[:-1])
    client = make_app().test_client()
    seen: list[str] = []
    url = "/v1/orders?active=true&limit=2"
    while url:
        page = body_of(client.get(url))
        seen.extend(item["order_id"] for item in page["items"])
        url = f"/v1/orders?active=true&limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert seen == ["on-6", "on-4", "on-2", "on-0"]
    recent = body_of(client.get("/v1/orders?active=true&within_minutes=17"))["items"]
    assert [i["order_id"] for i in recent] == ["on-6", "on-4"]
    everything = body_of(client.get("/v1/orders?limit=1000"))["items"]
    assert len(everything) == 8 and everything[0]["order_id"] == "on-6" and everything[-1]["order_id"] == "old"
    for bad in ("active=yes", "within_minutes=0", "within_minutes=99999", "limit=0", "cursor=%25"):
        assert body_of(client.get(f"/v1/orders?{bad}"))["error"] == "invalid_parameter", bad


def test_a_tracking_link_opens_one_order_even_when_reads_need_the_key(
    make_app: Callable[..., Flask], store: Store
) -> None:
    store.insert_batch([*trip("mine", 3, datetime.now(UTC) - timedelta(minutes=5)),
                        *trip("theirs", 3, datetime.now(UTC) - timedelta(minutes=5))])
    app = make_app(API_KEY=KEY, API_KEY_READS=True, TRACKING_SECRET=secret_from(None, KEY), LIVE_URL="https://live.example")
    client = app.test_client()
    assert client.post("/v1/orders/mine/tracking-link").status_code == 401
    created = client.post("/v1/orders/mine/tracking-link", headers={"X-API-Key": KEY}, json={"expires_in_s": 600})
    assert created.status_code == 201
    link = body_of(created)
    token = link["token"]
    assert link["url"] == f"https://live.example/track/mine?token={token}"
    assert link["stream_url"] == f"https://live.example/v1/orders/mine/live?token={token}"
    expires = datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - datetime.now(UTC)).total_seconds() - 600) < 5

    assert client.get("/v1/orders/mine/last-location").status_code == 401
    for route in ("last-location", "locations", "summary", "track.gpx", "track.csv"):
        assert client.get(f"/v1/orders/mine/{route}?token={token}").status_code == 200, route
        other = client.get(f"/v1/orders/theirs/{route}?token={token}")
        assert (other.status_code, body_of(other)["error"]) == (403, "forbidden"), route
    expired = issue(secret_from(None, KEY), "mine", int(time.time()) - 1)  # type: ignore[arg-type]
    refused = client.get(f"/v1/orders/mine/last-location?token={expired}")
    assert refused.status_code == 403 and "expired" in body_of(refused)["message"]
    assert client.get("/v1/orders/mine/last-location?token=v1.9999999999.forged").status_code == 403
    assert client.get(f"/v1/orders?active=true&token={token}").status_code == 403  # one order only
    for body in ({"expires_in_s": 5}, {"expires_in_s": True}, {"other": 1}, [1]):
        answer = client.post("/v1/orders/mine/tracking-link", headers={"X-API-Key": KEY}, json=body)
        assert answer.status_code == 400, body


def test_a_presented_token_is_checked_even_where_reads_are_open(make_app: Callable[..., Flask], store: Store) -> None:
    store.insert_batch(trip("mine", 2, datetime.now(UTC) - timedelta(minutes=5)))
    client = make_app(TRACKING_SECRET=b"x" * 32).test_client()
    assert client.get("/v1/orders/mine/last-location").status_code == 200
    assert client.get("/v1/orders/mine/last-location?token=v1.9999999999.forged").status_code == 403


def test_a_tracking_link_never_points_where_the_host_header_says(make_app: Callable[..., Flask]) -> None:
    for serves_live in (False, True):
        app = make_app(API_KEY=KEY, TRACKING_SECRET=secret_from(None, KEY), LIVE_PORT=8123, SERVES_LIVE=serves_live)
        created = app.test_client().post(
            "/v1/orders/mine/tracking-link", headers={"X-API-Key": KEY}, base_url="http://evil.example:8000"
        )
        assert created.status_code == 201
        assert body_of(created)["url"].startswith("http://127.0.0.1:8123/track/mine?token="), serves_live


def test_without_a_secret_no_link_is_issued(make_app: Callable[..., Flask]) -> None:
    answer = make_app().test_client().post("/v1/orders/mine/tracking-link")
    assert (answer.status_code, body_of(answer)["error"]) == (409, "tracking_links_disabled")


def test_the_api_sends_browsers_to_the_live_server_whatever_the_host_header_says(
    make_app: Callable[..., Flask]
) -> None:
    client = make_app(LIVE_PORT=8123).test_client()
    for path in ("/v1/orders/o-1/live?last_event_id=5", "/track/o-1", "/track/"):
        answer = client.get(path, base_url="http://evil.example:8000")
        assert answer.status_code == 307
        assert answer.headers["Location"] == f"http://127.0.0.1:8123{path}"
    for listening_on, live in (("0.0.0.0", "http://127.0.0.1:8123"), ("::", "http://127.0.0.1:8123"),
                               ("192.0.2.7", "http://192.0.2.7:8123"), ("::1", "http://[::1]:8123")):
        answer = make_app(LIVE_PORT=8123, LISTEN_HOST=listening_on).test_client().get(
            "/track/o-1", base_url="http://evil.example:8000"
        )
        assert answer.headers["Location"] == f"{live}/track/o-1", listening_on
    # What the live server would refuse, the API refuses alike instead of sending the browser on.
    assert client.get("/track/a%0d%0ab").status_code == 400
    assert client.get("/v1/orders/o-1/live?token=forged").status_code == 403
    assert client.get("/v1/orders/o-1/live", headers={"Last-Event-ID": "9" * 65}).status_code == 400


def test_the_tracking_page_allows_nothing_from_elsewhere(make_app: Callable[..., Flask], store: Store) -> None:
    client = make_app(SERVES_LIVE=True).test_client()
    page = client.get("/track/o-1")
    assert page.status_code == 200 and 'data-order-id="o-1"' in page.get_data(as_text=True)
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "img-src 'self';" in policy
    tiled = make_app(SERVES_LIVE=True, TILE_URL="https://tile.example.org/{z}/{x}/{y}.png", TILE_ATTRIBUTION="© Tiles")
    answer = tiled.test_client().get("/track/o-1")
    assert "img-src 'self' https://tile.example.org;" in answer.headers["Content-Security-Policy"]
    assert "© Tiles" in answer.get_data(as_text=True)
    assert client.get("/track/assets/track.js").status_code == 200
    assert client.get("/track/assets/..%2Fapp.py").status_code == 404
