"""POST routes on a real Mosquitto: what is accepted is on the broker, what is refused is not."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from deliverer.contract import topic_for
from tests.helpers import ServiceProcess, wait_until
from tests.integration.app_api.conftest import TopicListener
from tests.integration.app_api.payloads import body_of, report

INGEST_ROUTES = ("/v1/locations", "/v1/deliverer_location/")
ORIGINAL_ROUTE = "/v1/deliverer_location/"


def published_ids(listener: TopicListener) -> list[str]:
    return [payload["msg_id"] for _, payload in listener.received()]


def test_one_report_is_acknowledged_and_on_its_couriers_topic(
    client: FlaskClient, listener: TopicListener
) -> None:
    body = report(msg_id="m-new", order_id=12345)
    response = client.post("/v1/locations", json=body)
    assert response.status_code == 202, body_of(response)
    assert body_of(response) == {"accepted": 1, "msg_ids": ["m-new"]}
    response = client.post(ORIGINAL_ROUTE, json=report(msg_id="m-original", order_id=12345))
    assert (response.status_code, body_of(response)) == (200, {"status": "OK"})
    wait_until(lambda: len(listener.received()) == 2, 10, "both reports on the broker")
    topic, payload = listener.received()[0]
    assert topic == topic_for("courier-7")
    assert payload["order_id"] == "12345"  # the original system's integer ids become strings


def test_a_batch_is_published_whole_in_order(client: FlaskClient, listener: TopicListener) -> None:
    batch = [report(order_id=f"o-{i % 7}", msg_id=f"b-{i}", seconds_ago=1000 - i) for i in range(1000)]
    response = client.post("/v1/locations", json=batch)
    assert response.status_code == 202, body_of(response)
    assert body_of(response)["accepted"] == 1000
    assert body_of(response)["msg_ids"] == [f"b-{i}" for i in range(1000)]
    wait_until(lambda: len(listener.received()) == 1000, 20, "1,000 reports on the broker")
    assert published_ids(listener) == [f"b-{i}" for i in range(1000)]


def test_a_report_without_msg_id_gets_a_stable_derived_one(client: FlaskClient) -> None:
    body = report()
    first = body_of(client.post("/v1/locations", json=body))
    again = body_of(client.post("/v1/locations", json=body))
    assert first["msg_ids"] == again["msg_ids"]
    assert first["msg_ids"][0].startswith("d-")


def test_the_original_route_accepts_a_double_encoded_body(
    client: FlaskClient, listener: TopicListener
) -> None:
    body = report(msg_id="double-1")
    response = client.post(ORIGINAL_ROUTE, json=json.dumps(body))
    assert response.status_code == 200, body_of(response)
    wait_until(lambda: published_ids(listener) == ["double-1"], 10, "the double-encoded report")
    # The resource-style route takes JSON as JSON: a string is not a report.
    refused = client.post("/v1/locations", json=json.dumps(body))
    assert refused.status_code == 422
    assert body_of(refused)["fields"][0]["reason"] == "not_object"
    # A double-encoded string that is not JSON inside is malformed.
    broken = client.post(ORIGINAL_ROUTE, json="{not json")
    assert broken.status_code == 400
    assert body_of(broken)["error"] == "malformed_json"


def test_one_invalid_report_publishes_nothing_and_lists_every_problem(
    client: FlaskClient, listener: TopicListener
) -> None:
    batch = [
        report(msg_id="fine-0"),
        report(msg_id="bad-1", latitude=91, delivery_state="teleporting"),
        "not an object",
        {k: v for k, v in report(msg_id="bad-3").items() if k != "timestamp"},
        report(msg_id="bad-4", order_id="has space", extra="field"),
    ]
    response = client.post("/v1/locations", json=batch)
    assert response.status_code == 422
    body = body_of(response)
    assert body["error"] == "invalid_report"
    assert "nothing was published" in body["message"]
    problems = {(p["index"], p["field"], p["reason"]) for p in body["fields"]}
    assert problems == {
        (1, "latitude", "out_of_range"),
        (1, "delivery_state", "unknown_state"),
        (2, "report", "not_object"),
        (3, "timestamp", "missing_field"),
        (4, "order_id", "invalid_id"),
        (4, "extra", "unknown_field"),
    }
    assert all(p["message"] for p in body["fields"])
    # The API publishes over one connection in order: once a later report arrived, the
    # refused batch would have arrived before it.
    assert client.post("/v1/locations", json=report(msg_id="marker")).status_code == 202
    wait_until(lambda: published_ids(listener), 10, "the marker report")
    assert published_ids(listener) == ["marker"]


def test_request_errors_are_json_with_stable_codes(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_BATCH=10).test_client()
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"data": b'{"latitude": NaN}', "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": b"[1, 2", "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": b"\xff\xfe", "content_type": "application/json"}, 400, "malformed_json"),
        ({"data": json.dumps(report()), "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"data": json.dumps(report())}, 415, "unsupported_media_type"),
        ({"json": []}, 422, "empty_batch"),
        ({"json": [report()] * 11}, 422, "batch_too_large"),
        ({"json": 42}, 422, "invalid_report"),
        ({"data": b"[" + b"1," * 600_000 + b"1]", "content_type": "application/json"}, 413, "body_too_large"),
    ]
    for route in INGEST_ROUTES:
        for kwargs, status, code in cases:
            response = client.post(route, **kwargs)
            assert (response.status_code, body_of(response)["error"]) == (status, code), (route, kwargs.keys())
            assert body_of(response)["message"]
            assert "Traceback" not in response.get_data(as_text=True)
            if route == ORIGINAL_ROUTE:
                assert body_of(response)["status"] == "ERROR"


def test_json_suffix_content_types_are_accepted(client: FlaskClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.deliverer+json"):
        response = client.post("/v1/locations", data=json.dumps(report()), content_type=content_type)
        assert response.status_code == 202, (content_type, body_of(response))


def test_post_then_subscriber_then_get_sees_the_new_location(
    client: FlaskClient, subscriber: Callable[..., ServiceProcess]
) -> None:
    subscriber()
    older = report(order_id="trip-9", msg_id="t-1", seconds_ago=30, delivery_state="start")
    newer = report(order_id="trip-9", msg_id="t-2", seconds_ago=10, latitude=45.47)
    assert client.post("/v1/locations", json=[older, newer]).status_code == 202

    def last_msg_id() -> str | None:
        response = client.get("/v1/orders/trip-9/last-location")
        return body_of(response)["msg_id"] if response.status_code == 200 else None

    assert wait_until(lambda: last_msg_id() == "t-2", 20, "the new location through the subscriber")
    original = client.get("/v1/deliverer_location/last/trip-9")
    assert original.status_code == 200
    assert body_of(original)["data"][0]["latitude"] == 45.47
    history = body_of(client.get("/v1/orders/trip-9/locations"))
    assert [item["msg_id"] for item in history["items"]] == ["t-1", "t-2"]
