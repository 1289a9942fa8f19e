"""The broker goes away: ingest answers 503 at once, reads go on, ingest comes back by itself."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from werkzeug.test import TestResponse

from deliverer.local_broker import Mosquitto
from deliverer.store import Store
from tests.helpers import make_reports, wait_until
from tests.integration.app_api.payloads import body_of, report


def test_503_while_the_broker_is_down_reads_work_and_ingest_recovers(
    make_app: Callable[..., Flask], broker: Mosquitto, store: Store
) -> None:
    store.insert_batch(make_reports(5, orders=1, prefix="kept"))
    client = make_app(PUBLISH_TIMEOUT_S=2.0).test_client()
    assert client.post("/v1/locations", json=report(msg_id="before")).status_code == 202

    def refused() -> TestResponse | None:
        response = client.post("/v1/locations", json=report(msg_id="during"))
        return response if response.status_code == 503 else None

    broker.stop()
    response = wait_until(refused, 15, "a 503 while the broker is down")
    assert response is not None
    assert body_of(response)["error"] == "broker_unavailable"
    assert "retry" in body_of(response)["message"]
    assert response.headers["Retry-After"]
    assert client.get("/v1/orders/kept-0/last-location").status_code == 200
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert body_of(not_ready)["unavailable"] == ["broker"] and body_of(not_ready)["checks"]["broker"] == "unreachable"

    broker.start()
    wait_until(
        lambda: client.post("/v1/locations", json=report(msg_id="after")).status_code == 202,
        45, "ingest to recover after the broker is back",
    )
    assert client.get("/readyz").status_code == 200


def test_503_when_the_broker_was_never_reachable(make_app: Callable[..., Flask], broker: Mosquitto) -> None:
    broker.stop()
    client = make_app(BROKER_WAIT_S=0.2).test_client()
    response = client.post("/v1/locations", json=report())
    assert response.status_code == 503
    assert body_of(response)["error"] == "broker_unavailable"
    assert client.get("/healthz").status_code == 200
