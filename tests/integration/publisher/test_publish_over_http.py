"""``deliverer publish --transport http`` through a real ``deliverer api`` process (gunicorn) into the store."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from deliverer.local_broker import Mosquitto, free_port
from deliverer.store import open_store
from tests.helpers import ServiceProcess, wait_until
from tests.integration.publisher.cli_runs import publish

API_KEY = "publisher-test-key"


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def api(broker: Mosquitto, sqlite_url: str, services: Callable[..., ServiceProcess]) -> str:
    """The API on a free port with an API key for writes; its URL once /readyz answers 200."""
    open_store(sqlite_url).close()  # the subscriber's job in a deployment: the API never creates the store
    port = free_port()
    proc = services(
        "api", "--host", "127.0.0.1", "--port", str(port), "--store", sqlite_url, "--mqtt-url", broker.url,
        "--workers", "1", "--threads", "4", env={"DELIVERER_API_KEY": API_KEY}, name="api",
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: ready(url) or not proc.alive, 30, "the API to be ready")
    assert proc.alive, proc.log()[-3000:]
    return url


@pytest.mark.parametrize("batch", ["1", "100"])
def test_http_transport_delivers_every_report_to_the_store(
    api: str, sqlite_url: str, subscriber: Callable[..., ServiceProcess], batch: str
) -> None:
    subscriber()
    run = publish("--transport", "http", "--api-url", api, "--api-key", API_KEY, "--batch", batch,
                  "--connections", "3", "--workers", "10", "--locations", "30", "--interval", "0", "--seed", "8")
    assert run.code == 0, run.stderr
    summary = run.summary
    assert (summary["sent"], summary["acked"], summary["failed"]) == (300, 300, 0)
    assert summary["transport"] == "http"
    assert summary["latency_ms"]["p99"] > 0
    store = open_store(sqlite_url)
    wait_until(lambda: store.counts().locations >= 300, 60, "300 stored reports")
    assert (store.counts().locations, store.counts().orders) == (300, 10)
    last = store.last_location(summary["order_ids"][0])
    assert last is not None and last.delivery_state.value == "arrived"


def test_reports_the_api_refuses_count_as_failed(api: str) -> None:
    run = publish("--transport", "http", "--api-url", api, "--api-key", "wrong", "--batch", "10",
                  "--workers", "2", "--locations", "10", "--interval", "0")
    assert run.code == 1
    assert (run.summary["sent"], run.summary["acked"], run.summary["failed"]) == (20, 0, 20)
    assert "401" in run.stderr or "403" in run.stderr


def test_an_unreachable_api_fails_with_exit_1() -> None:
    run = publish("--transport", "http", "--api-url", f"http://127.0.0.1:{free_port()}", "--workers", "1",
                  "--locations", "2")
    assert run.code == 1
    assert "cannot reach the API" in run.summary["error"]
