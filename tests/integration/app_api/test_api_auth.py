"""The optional API key: writes need it when set, reads only when asked for."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from tests.integration.app_api.payloads import body_of, report

KEY = "s3cret-key"


def test_without_a_configured_key_everything_is_open(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert client.post("/v1/locations", json=report()).status_code == 202
    assert client.get("/v1/orders/order-1/locations").status_code == 200


def test_writes_need_the_key_reads_stay_open(make_app: Callable[..., Flask]) -> None:
    client = make_app(API_KEY=KEY).test_client()
    for route, accepted in (("/v1/locations", 202), ("/v1/deliverer_location/", 200)):
        missing = client.post(route, json=report())
        assert missing.status_code == 401
        assert body_of(missing)["error"] == "unauthorized"
        assert "missing" in body_of(missing)["message"]
        wrong = client.post(route, json=report(), headers={"X-API-Key": KEY + "x"})
        assert (wrong.status_code, body_of(wrong)["error"]) == (401, "unauthorized")
        assert "wrong" in body_of(wrong)["message"]
        # The key is checked before the body: an unauthenticated client learns nothing about it.
        junk = client.post(route, data=b"junk", content_type="text/plain")
        assert junk.status_code == 401
        right = client.post(route, json=report(), headers={"X-API-Key": KEY})
        assert right.status_code == accepted, body_of(right)
    assert client.get("/v1/orders/order-1/locations").status_code == 200
    assert client.get("/v1/orders/order-1/last-location").status_code in (200, 404)


def test_reads_need_the_key_when_asked_and_probes_stay_open(make_app: Callable[..., Flask]) -> None:
    client = make_app(API_KEY=KEY, API_KEY_READS=True).test_client()
    for route in (
        "/v1/orders/o/last-location", "/v1/deliverer_location/last/o",
        "/v1/orders/o/locations", "/v1/orders/o/summary",
    ):
        assert client.get(route).status_code == 401, route
        assert client.get(route, headers={"X-API-Key": KEY}).status_code in (200, 404), route
    for route in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert client.get(route).status_code == 200, route
