"""The real ``deliverer api`` process (gunicorn, several workers) over real HTTP, driven by the
Postman collection in the repository."""

from __future__ import annotations

import contextlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app_api.openapi import openapi_document
from deliverer.local_broker import Mosquitto, free_port
from deliverer.store import open_store
from tests.helpers import ServiceProcess, wait_until
from tests.integration.app_api.payloads import report

COLLECTION = Path(__file__).resolve().parents[3] / "app_api" / "postman_collection.json"
KEY = "postman-key"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any) -> None:
        return None


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
    follow_redirects: bool = True,
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener() if follow_redirects else urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def start_api(
    services: Callable[..., ServiceProcess], broker: Mosquitto, store_url: str, *extra: str,
    env: dict[str, str] | None = None,
) -> tuple[ServiceProcess, str]:
    open_store(store_url).close()  # the subscriber's job in a deployment: the API never creates the store
    port = free_port()
    proc = services(
        "api", "--host", "127.0.0.1", "--port", str(port), "--store", store_url, "--mqtt-url", broker.url,
        *extra, env=env, name="api",
    )
    proc.wait_ready(f"http://127.0.0.1:{port}/readyz")
    return proc, f"http://127.0.0.1:{port}"


def substitute(text: str, variables: dict[str, str]) -> str:
    """Postman's {{variable}}."""
    return re.sub(r"\{\{(\w+)\}\}", lambda m: variables[m.group(1)], text)


def expected_status(item: dict[str, Any]) -> int:
    script = "\n".join(line for event in item["event"] for line in event["script"]["exec"])
    match = re.search(r"to\.have\.status\((\d+)\)", script)
    assert match, f"{item['name']}: no status test"
    return int(match.group(1))


def send(item: dict[str, Any], variables: dict[str, str]) -> tuple[int, bytes]:
    request = item["request"]
    headers = {h["key"]: substitute(h["value"], variables) for h in request["header"]}
    body = request.get("body", {}).get("raw")
    data = substitute(body, variables).encode() if body is not None else None
    follow = item.get("protocolProfileBehavior", {}).get("followRedirects", True)
    return http(request["method"], substitute(request["url"]["raw"], variables), data, headers, follow)


def answer(item: dict[str, Any], variables: dict[str, str], want: int) -> tuple[int, bytes]:
    """Send the request until it answers ``want`` or 15 s passed: the reads see what the ingest
    requests sent only once the subscriber has stored it."""
    answers: list[tuple[int, bytes]] = []

    def as_expected() -> bool:
        answers.append(send(item, variables))
        return answers[-1][0] == want

    with contextlib.suppress(AssertionError):
        wait_until(as_expected, 15, f"{item['name']} to answer {want}")
    return answers[-1]


def documented_operations() -> set[tuple[str, str]]:
    return {
        (method.upper(), path) for path, operations in openapi_document()["paths"].items() for method in operations
    }


def covered_operations(collection: dict[str, Any]) -> set[tuple[str, str]]:
    covered = set()
    for folder in collection["item"]:
        for item in folder["item"]:
            method = item["request"]["method"]
            path = item["request"]["url"]["raw"].removeprefix("{{baseUrl}}").split("?")[0]
            for documented_method, template in documented_operations():
                pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))
                if method == documented_method and re.fullmatch(pattern, path):
                    covered.add((method, template))
    return covered


def test_postman_collection_runs_against_the_gunicorn_server(
    broker: Mosquitto, sqlite_url: str, services: Callable[..., ServiceProcess],
    subscriber: Callable[..., ServiceProcess],
) -> None:
    subscriber()
    api, base_url = start_api(
        services, broker, sqlite_url, "--workers", "2", "--threads", "4", env={"DELIVERER_API_KEY": KEY}
    )
    # The user's own order, from a burst, whose id they paste into the collection.
    trip = [report(order_id="burst-order", msg_id=f"b-{i}", seconds_ago=60 - i * 10) for i in range(3)]
    status, _ = http(
        "POST", f"{base_url}/v1/locations", json.dumps(trip).encode(),
        {"Content-Type": "application/json", "X-API-Key": KEY},
    )
    assert status == 202
    wait_until(lambda: summary_of(base_url, "burst-order").get("points") == 3, 15, "the user's order stored")
    before = summary_of(base_url, "burst-order")

    collection = json.loads(COLLECTION.read_text())
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    defaults = {v["key"]: v["value"] for v in collection["variable"]}
    assert defaults["baseUrl"] == "http://127.0.0.1:8000"
    assert defaults["order_id"] == defaults["demo_order_id"], "out of the box the reads show the demo writes"
    for variables in (
        {**defaults, "baseUrl": base_url, "apiKey": KEY},
        {**defaults, "baseUrl": base_url, "apiKey": KEY, "order_id": "burst-order"},
    ):
        for folder in collection["item"]:
            for item in folder["item"]:
                want = expected_status(item)
                status, body = answer(item, variables, want)
                assert status == want, (item["name"], body[:300])
    assert covered_operations(collection) == documented_operations()

    assert summary_of(base_url, "burst-order") == before, "the collection wrote into the user's order"
    demo = summary_of(base_url, defaults["demo_order_id"])
    assert (demo["points"], demo["delivery_state"]) == (4, "arrived"), "a second run must change nothing"
    assert api.terminate() == 0
    assert "Traceback" not in api.log()


def summary_of(base_url: str, order_id: str) -> dict[str, Any]:
    status, body = http("GET", f"{base_url}/v1/orders/{order_id}/summary")
    return json.loads(body) if status == 200 else {}


def test_metrics_add_up_across_gunicorn_workers(
    broker: Mosquitto, sqlite_url: str, services: Callable[..., ServiceProcess]
) -> None:
    api, base_url = start_api(services, broker, sqlite_url, "--workers", "3", "--threads", "2")
    for _ in range(40):  # a new connection each time, spread over the workers
        assert http("GET", f"{base_url}/healthz")[0] == 200
    body = json.dumps([report(msg_id=f"m{i}") for i in range(5)]).encode()
    for _ in range(4):
        status, answer = http("POST", f"{base_url}/v1/locations", body, {"Content-Type": "application/json"})
        assert status == 202, answer
    text = http("GET", f"{base_url}/metrics")[1].decode()
    assert 'deliverer_api_requests_total{method="GET",route="/healthz",status="200"} 40.0' in text
    assert 'deliverer_api_requests_total{method="POST",route="/v1/locations",status="202"} 4.0' in text
    assert "deliverer_api_published_reports_total 20.0" in text
    assert api.terminate() == 0


def test_flask_dev_server_and_the_api_key_from_the_environment(
    broker: Mosquitto, sqlite_url: str, services: Callable[..., ServiceProcess]
) -> None:
    api, base_url = start_api(
        services, broker, sqlite_url, "--server", "flask",
        env={"DELIVERER_API_KEY": KEY, "DELIVERER_API_KEY_READS": "1"},
    )
    body = json.dumps(report()).encode()
    assert http("POST", f"{base_url}/v1/locations", body, {"Content-Type": "application/json"})[0] == 401
    assert http("GET", f"{base_url}/v1/orders/order-1/locations")[0] == 401
    status, _ = http("POST", f"{base_url}/v1/locations", body, {"Content-Type": "application/json", "X-API-Key": KEY})
    assert status == 202
    assert http("GET", f"{base_url}/v1/orders/order-1/locations", headers={"X-API-Key": KEY})[0] == 200
    assert "dev server is for debugging" in api.log()
