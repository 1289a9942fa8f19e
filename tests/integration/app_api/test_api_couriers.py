"""An order's courier over HTTP: read it, hand the order over, and what the handover changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from deliverer.contract import LocationReport
from deliverer.store import Store
from tests.integration.app_api.payloads import body_of

KEY = "courier-key"
T0 = datetime.now(UTC) - timedelta(hours=1)


def report(courier: str, msg_id: str, minute: int) -> LocationReport:
    return LocationReport(
        msg_id=msg_id, order_id="order-7", deliverer_id=courier, delivery_state="on_the_way",
        timestamp=T0 + timedelta(minutes=minute), latitude=45.0 + minute / 100, longitude=9.0,
    )


def test_handover_changes_whose_reports_are_applied(make_app: Callable[..., Flask], store: Store) -> None:
    client = make_app(API_KEY=KEY).test_client()
    store.insert_batch([report("c1", "a", 0)])
    owner = client.get("/v1/orders/order-7/courier")
    assert body_of(owner)["deliverer_id"] == "c1" and body_of(owner)["handovers"] == []

    assert client.put("/v1/orders/order-7/courier", json={"deliverer_id": "c2"}).status_code == 401
    handed = client.put("/v1/orders/order-7/courier", json={"deliverer_id": "c2"}, headers={"X-API-Key": KEY})

    assert handed.status_code == 200
    assert [(h["from"], h["to"]) for h in body_of(handed)["handovers"]] == [("c1", "c2")]
    result = store.insert_batch([report("c1", "b", 1), report("c2", "c", 2)])
    assert result.inserted == 1 and [r.reason for r in result.refused] == ["order_owned_by_other_courier"]
    assert body_of(client.get("/v1/orders/order-7/summary"))["courier"] == "c2"
    assert body_of(client.get("/v1/orders/order-7/last-location"))["deliverer_id"] == "c2"


def test_handover_answers_clear_errors(client: FlaskClient) -> None:
    for body in ({}, {"deliverer_id": "no spaces"}, {"deliverer_id": True}, {"deliverer_id": "c1", "x": 1}, []):
        response = client.put("/v1/orders/order-7/courier", json=body)
        assert (response.status_code, body_of(response)["error"]) == (422, "invalid_handover"), body
    bad_order = client.put("/v1/orders/bad%20id/courier", json={"deliverer_id": "c1"})
    assert body_of(bad_order)["error"] == "invalid_order_id"
    missing = client.get("/v1/orders/nobody/courier")
    assert (missing.status_code, body_of(missing)["error"]) == (404, "order_not_found")
    assigned = client.put("/v1/orders/order-new/courier", json={"deliverer_id": 42})
    assert body_of(assigned)["deliverer_id"] == "42", "an order can be given to a courier before it starts"
