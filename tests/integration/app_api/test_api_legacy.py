"""The original system's two routes speak its dialect, on a real Mosquitto and a real SQLite file.

Its clients sent ``json.dumps(report)`` as the JSON body (a string holding the object), integer
ids and naive local timestamps with microseconds; they read ``{"data": [doc]}`` back, and errors
as ``{"status": "ERROR", "message": ...}``. The resource routes keep the strict contract.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient

from deliverer.contract import DeliveryState, LocationReport
from deliverer.store import Store
from tests.helpers import wait_until
from tests.integration.app_api.conftest import TopicListener
from tests.integration.app_api.payloads import body_of

POST = "/v1/deliverer_location/"
LAST = "/v1/deliverer_location/last/{}"
KOLKATA = ZoneInfo("Asia/Kolkata")


def original_report(worker: int, state: str, wall: datetime) -> dict[str, object]:
    """A report as the original client built it: integer ids, a naive local timestamp."""
    return {
        "order_id": worker * 43,
        "deliverer_id": worker,
        "delivery_state": state,
        "timestamp": wall.isoformat(),
        "latitude": 52.3358173024486,
        "longitude": 4.8892507982649,
    }


@pytest.fixture
def kolkata(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(LEGACY_TIMEZONE=KOLKATA).test_client()


def test_a_naive_microsecond_timestamp_is_read_in_the_legacy_zone_and_stored_as_utc(
    kolkata: FlaskClient, listener: TopicListener
) -> None:
    wall = datetime.now(KOLKATA).replace(tzinfo=None) - timedelta(minutes=1)
    wall = wall.replace(microsecond=99876)
    response = kolkata.post(POST, json=json.dumps(original_report(1, "start", wall)))
    assert (response.status_code, body_of(response)) == (200, {"status": "OK"})
    wait_until(listener.received, 10, "the report on the broker")
    [(_topic, published)] = listener.received()
    instant = wall.replace(tzinfo=KOLKATA).astimezone(UTC)
    assert published["timestamp"] == instant.strftime("%Y-%m-%dT%H:%M:%S.099Z")
    assert (published["order_id"], published["deliverer_id"]) == ("43", "1")


def test_the_resource_routes_keep_the_strict_contract(kolkata: FlaskClient) -> None:
    naive = original_report(1, "start", datetime.now() - timedelta(minutes=1))
    refused = kolkata.post("/v1/locations", json=naive)
    assert refused.status_code == 422
    assert body_of(refused)["fields"][0]["message"] == "must carry a UTC offset, e.g. 'Z'"


def test_an_offset_or_epoch_timestamp_keeps_its_own_instant(
    kolkata: FlaskClient, listener: TopicListener
) -> None:
    moment = datetime.now(UTC).replace(microsecond=250_000) - timedelta(minutes=2)
    with_offset = {**original_report(2, "start", moment), "timestamp": moment.isoformat()}
    epoch = {**original_report(3, "start", moment), "timestamp": int(moment.timestamp() * 1000)}
    for body in (with_offset, epoch):
        assert kolkata.post(POST, json=json.dumps(body)).status_code == 200
    wait_until(lambda: len(listener.received()) == 2, 10, "both reports on the broker")
    expected = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert [payload["timestamp"] for _, payload in listener.received()] == [expected, expected]


def test_errors_have_the_original_shape_and_status(kolkata: FlaskClient, listener: TopicListener) -> None:
    not_json = kolkata.post(POST, data=b"{order_id: 43", content_type="application/json")
    assert not_json.status_code == 400
    assert body_of(not_json)["status"] == "ERROR"
    assert "not valid JSON" in body_of(not_json)["message"]

    report = original_report(1, "start", datetime.now() - timedelta(minutes=1))
    del report["order_id"]
    missing = kolkata.post(POST, json=json.dumps(report))
    assert missing.status_code == 422
    assert body_of(missing)["status"] == "ERROR"
    assert body_of(missing)["message"] == "order_id: Field required"
    assert body_of(missing)["error"] == "invalid_report"

    inner_not_json = kolkata.post(POST, json="{not json")
    assert (inner_not_json.status_code, body_of(inner_not_json)["status"]) == (400, "ERROR")
    # A lone surrogate escape inside the string is text JSON can hold but UTF-8 cannot.
    surrogate = kolkata.post(POST, data=b'"\\ud800"', content_type="application/json")
    assert (surrogate.status_code, body_of(surrogate)["status"]) == (400, "ERROR")
    plain_text = kolkata.post(POST, data=b"hello", content_type="text/plain")
    assert (plain_text.status_code, body_of(plain_text)["status"]) == (415, "ERROR")
    assert listener.received() == []


def test_the_last_location_is_data_with_the_ids_as_sent(kolkata: FlaskClient, store: Store) -> None:
    moment = datetime(2026, 3, 1, 10, 0, 0, 123_000, tzinfo=UTC)

    def stored(order_id: str, deliverer_id: str, minutes: int) -> LocationReport:
        return LocationReport(
            order_id=order_id, deliverer_id=deliverer_id, delivery_state=DeliveryState.ON_THE_WAY,
            timestamp=moment + timedelta(minutes=minutes), latitude=52.3, longitude=4.9,
        )

    store.insert_batch([
        stored("43", "1", 0), stored("43", "1", 5), stored("0043", "-7", 0), stored("order-7", "c7", 0),
    ])
    answer = kolkata.get(LAST.format(43))
    assert answer.status_code == 200
    [doc] = body_of(answer)["data"]
    assert (doc["order_id"], doc["deliverer_id"]) == (43, 1)
    assert doc["timestamp"] == "2026-03-01T15:35:00.123"  # 10:05 UTC on a wall clock in Kolkata
    assert (doc["latitude"], doc["longitude"], doc["delivery_state"]) == (52.3, 4.9, "on_the_way")
    # Only the canonical decimal form of an integer was ever sent as one.
    assert body_of(kolkata.get(LAST.format("0043")))["data"][0]["order_id"] == "0043"
    assert body_of(kolkata.get(LAST.format("0043")))["data"][0]["deliverer_id"] == -7
    assert body_of(kolkata.get(LAST.format("order-7")))["data"][0]["order_id"] == "order-7"


def test_an_unknown_order_is_empty_data(kolkata: FlaskClient) -> None:
    answer = kolkata.get(LAST.format(999))
    assert (answer.status_code, body_of(answer)) == (200, {"data": []})


def test_a_hostile_order_id_is_a_400_in_the_original_shape(kolkata: FlaskClient) -> None:
    for order_id in ('{"$ne": null}', "a b", "x" * 65):
        answer = kolkata.get(LAST.format(order_id))
        assert answer.status_code == 400
        assert body_of(answer)["status"] == "ERROR"
        assert body_of(answer)["error"] == "invalid_order_id"
