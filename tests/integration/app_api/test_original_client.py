"""The original system's publisher, changed in nothing but its URL, against the real API, Mosquitto
and subscriber: every report it sends is stored at the instant it meant, and its readers get the
answers they knew."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import requests

from deliverer.local_broker import Mosquitto
from deliverer.store import Store, open_store
from tests.helpers import REPO, ServiceProcess, wait_until
from tests.integration.app_api.test_api_server import http, start_api
from tests.original_client import START_LATITUDE, START_LONGITUDE

CLIENT = REPO / "tests" / "original_client.py"
ZONE = "Asia/Kolkata"  # +05:30: a wrong zone or a dropped offset moves every instant by hours
WORKERS, LOCATIONS = 3, 3


def test_the_wire_format_is_the_report_encoded_twice() -> None:
    report = {"order_id": 43, "deliverer_id": 1, "delivery_state": "start",
              "timestamp": "2026-12-01T19:09:47.099876", "latitude": 52.3, "longitude": 4.8}
    request = requests.Request("POST", "http://127.0.0.1:5000/v1/deliverer_location/", json=json.dumps(report))
    prepared = request.prepare()
    assert prepared.headers["Content-Type"] == "application/json"
    assert prepared.body == (
        b'"{\\"order_id\\": 43, \\"deliverer_id\\": 1, \\"delivery_state\\": \\"start\\",'
        b' \\"timestamp\\": \\"2026-12-01T19:09:47.099876\\", \\"latitude\\": 52.3, \\"longitude\\": 4.8}"'
    )


def test_every_report_of_the_original_client_is_stored_at_its_instant(
    broker: Mosquitto, sqlite_url: str, services: Callable[..., ServiceProcess],
    subscriber: Callable[..., ServiceProcess],
) -> None:
    subscriber()
    api, base_url = start_api(services, broker, sqlite_url, "--legacy-timezone", ZONE)
    began = datetime.now(UTC) - timedelta(milliseconds=1)  # stored instants are cut to the millisecond
    done = subprocess.run(
        [sys.executable, str(CLIENT), "-d", "3", "-l", str(LOCATIONS), "-n", str(WORKERS),
         "--url", f"{base_url}/v1/deliverer_location/"],
        # The client's clock reads Kolkata time, as the server's legacy zone says it does.
        env={**os.environ, "TZ": ZONE}, capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    ended = datetime.now(UTC)
    assert done.returncode == 0, done.stderr[-2000:]
    sent = printed_reports(done.stdout)
    assert len(sent) == WORKERS * LOCATIONS
    assert {(r["order_id"], r["deliverer_id"]) for r in sent} == {(w * 43, w) for w in range(1, WORKERS + 1)}

    store = open_store(sqlite_url)
    try:
        wait_until(lambda: stored_count(store) == len(sent), 20, "every report stored")
        for worker in range(1, WORKERS + 1):
            assert_stored_as_sent(store, [r for r in sent if r["deliverer_id"] == worker], began, ended)
    finally:
        store.close()

    for worker in range(1, WORKERS + 1):
        arrived = next(r for r in sent if r["deliverer_id"] == worker and r["delivery_state"] == "arrived")
        status, body = http("GET", f"{base_url}/v1/deliverer_location/last/{worker * 43}")
        assert status == 200
        [document] = json.loads(body)["data"]
        assert document.pop("msg_id")
        assert document == {**arrived, "timestamp": to_millisecond(arrived["timestamp"])}
    assert json.loads(http("GET", f"{base_url}/v1/deliverer_location/last/999")[1]) == {"data": []}

    # The client never looks at an answer: the API's own count says each was the original's OK.
    metrics = http("GET", f"{base_url}/metrics")[1].decode()
    ok = 'deliverer_api_requests_total{method="POST",route="/v1/deliverer_location/",status="200"}'
    assert f"{ok} {float(len(sent))}" in metrics
    assert api.terminate() == 0


def printed_reports(output: str) -> list[dict[str, object]]:
    """The reports the client printed: its threads print at once, so two may share a line."""
    decoder, reports, index = json.JSONDecoder(), [], 0
    while (start := output.find("{", index)) != -1:
        report, index = decoder.raw_decode(output, start)
        reports.append(report)
    return reports


def stored_count(store: Store) -> int:
    return store.counts().locations


def assert_stored_as_sent(store: Store, sent: list[dict[str, object]], began: datetime, ended: datetime) -> None:
    order_id = str(sent[0]["order_id"])
    history = store.history(order_id)
    assert [r.delivery_state.value for r in history] == ["start", *["on_the_way"] * (LOCATIONS - 2), "arrived"]
    for report, stored in zip(sent, history, strict=True):
        wall = datetime.fromisoformat(str(report["timestamp"]))
        instant = wall.replace(tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
        assert stored.timestamp == instant.replace(microsecond=instant.microsecond // 1000 * 1000)
        assert began <= stored.timestamp <= ended, "the naive time was read in the wrong zone"
        assert (stored.order_id, stored.deliverer_id) == (order_id, str(report["deliverer_id"]))
        assert (stored.latitude, stored.longitude) == (report["latitude"], report["longitude"])
    assert (history[0].latitude, history[0].longitude) == (START_LATITUDE, START_LONGITUDE)


def to_millisecond(naive: object) -> str:
    return datetime.fromisoformat(str(naive)).isoformat(timespec="milliseconds")
