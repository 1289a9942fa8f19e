"""Routing errors and failures are JSON with a stable code; no stack trace reaches a client."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from tests.integration.app_api.payloads import body_of, report


def test_unknown_route_and_wrong_method(client: FlaskClient) -> None:
    missing = client.get("/v2/nothing")
    assert (missing.status_code, body_of(missing)["error"]) == (404, "not_found")
    wrong = client.delete("/v1/locations")
    assert (wrong.status_code, body_of(wrong)["error"]) == (405, "method_not_allowed")
    assert "POST" in wrong.headers["Allow"]
    get_on_post = client.get("/v1/locations")
    assert (get_on_post.status_code, body_of(get_on_post)["error"]) == (405, "method_not_allowed")


def test_an_unexpected_exception_is_a_500_json_without_details(make_app: Callable[..., Flask]) -> None:
    app = make_app()

    def explode() -> str:
        raise RuntimeError("secret internals /etc/passwd")

    app.add_url_rule("/explode", view_func=explode)
    response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert body_of(response) == {"error": "internal_error", "message": "the server failed to handle this request"}
    assert "secret" not in response.get_data(as_text=True)


def test_probes_and_metrics(client: FlaskClient) -> None:
    assert body_of(client.get("/healthz")) == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert body_of(ready) == {"status": "ready", "checks": {"broker": "ok", "store": "ok"}}
    client.post("/v1/locations", json=[report(msg_id="m1"), report(msg_id="m2")])
    client.get("/v1/orders/nobody/last-location")
    client.get("/no/such/route")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'deliverer_api_requests_total{method="POST",route="/v1/locations",status="202"} 1.0' in text
    assert (
        'deliverer_api_requests_total{method="GET",route="/v1/orders/<order_id>/last-location",status="404"} 1.0'
        in text
    )
    assert 'deliverer_api_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert "deliverer_api_published_reports_total 2.0" in text
    assert 'deliverer_api_request_seconds_bucket{le="0.5",method="POST",route="/v1/locations"}' in text


def test_openapi_document_lists_every_route(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    document = body_of(app.test_client().get("/openapi.json"))
    assert document["openapi"].startswith("3.")
    documented = {
        (path, method.upper()) for path, operations in document["paths"].items() for method in operations
    }
    served = {
        (rule.rule.replace("<", "{").replace(">", "}"), method)
        for rule in app.url_map.iter_rules()
        if not rule.endpoint.endswith("static")  # files (the tracking page's script), not operations
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    assert documented == served
