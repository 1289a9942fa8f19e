"""The API's ingest with a publisher double: what it publishes, what it refuses whole, and its answer when
the broker does not take the reports (the same routes on a real Mosquitto are tests/integration/app_api's)."""

from __future__ import annotations

import json

from flask.testing import FlaskClient

from app_api.app import create_app
from deliverer.store.memory import MemoryStore
from tests.integration.app_api.payloads import body_of, report
from tests.unit.app_api.publisher_double import PublisherDouble


def test_a_batch_is_published_in_order_on_each_couriers_topic(client: FlaskClient, publisher: PublisherDouble) -> None:
    batch = [report(order_id=f"o-{i}", msg_id=f"m-{i}", deliverer_id=f"c{i % 2}") for i in range(4)]
    response = client.post("/v1/locations", json=batch)
    assert (response.status_code, body_of(response)) == (202, {"accepted": 4, "msg_ids": ["m-0", "m-1", "m-2", "m-3"]})
    assert [(topic, json.loads(payload)["msg_id"]) for topic, payload in publisher.published] == [
        ("deliverers/c0/location", "m-0"), ("deliverers/c1/location", "m-1"),
        ("deliverers/c0/location", "m-2"), ("deliverers/c1/location", "m-3"),
    ]


def test_one_bad_report_refuses_the_batch_and_publishes_nothing(
    client: FlaskClient, publisher: PublisherDouble
) -> None:
    batch = [report(msg_id="good"), report(msg_id="bad", latitude=91)]
    response = client.post("/v1/locations", json=batch)
    assert response.status_code == 422
    assert body_of(response)["fields"] == [
        {"index": 1, "field": "latitude", "reason": "out_of_range",
         "message": "Input should be less than or equal to 90"}
    ]
    assert publisher.published == []
    empty = client.post("/v1/locations", json=[])
    assert (empty.status_code, body_of(empty)) == (
        422, {"error": "empty_batch", "message": "the array holds no reports"}
    )


def test_a_broker_that_refuses_or_is_away_is_a_503_to_retry() -> None:
    for publisher in (PublisherDouble(refusal="Not authorized"), PublisherDouble(connected=False)):
        client = create_app({"BROKER_WAIT_S": 0}, store=MemoryStore(), publisher=publisher).test_client()
        response = client.post("/v1/locations", json=report())
        assert (response.status_code, body_of(response)["error"]) == (503, "broker_unavailable")
        assert response.headers["Retry-After"]


def test_a_batch_repeating_a_key_with_other_content_is_refused_whole(
    client: FlaskClient, publisher: PublisherDouble
) -> None:
    batch = [report(msg_id="same1"), report(msg_id="other"), report(msg_id="same1", latitude=45.5)]
    response = client.post("/v1/locations", json=batch)
    assert response.status_code == 422
    body = body_of(response)
    assert body["error"] == "invalid_report"
    assert [(f["index"], f["field"], f["reason"]) for f in body["fields"]] == [
        (0, "msg_id", "conflicting_duplicate"), (2, "msg_id", "conflicting_duplicate"),
    ]
    assert "index 2" in body["fields"][0]["message"] and "index 0" in body["fields"][1]["message"]
    assert publisher.published == []


def test_a_batch_repeating_a_report_unchanged_is_accepted(client: FlaskClient, publisher: PublisherDouble) -> None:
    same = report(msg_id="same1")
    response = client.post("/v1/locations", json=[same, report(msg_id="other"), same])
    assert (response.status_code, body_of(response)["accepted"]) == (202, 3)
    assert len(publisher.published) == 3
