"""The live server as a user meets it: ``deliverer live`` on a real broker, subscriber and SQLite
store, its streams read over real HTTP connections."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from app_api.tracking_links import issue, secret_from
from deliverer.contract import DeliveryState, LocationReport
from deliverer.local_broker import Mosquitto, free_port
from tests.helpers import ServiceProcess, as_messages, publish_all, wait_until
from tests.sse import SseStream

KEY = "live-key"


def reports(order_id: str, first: int, count: int, arrive: bool = False) -> list[LocationReport]:
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        LocationReport(
            msg_id=f"{order_id}-{i}", order_id=order_id, deliverer_id="c1",
            delivery_state=DeliveryState.ARRIVED if arrive and i == first + count - 1 else DeliveryState.ON_THE_WAY,
            timestamp=start + timedelta(seconds=i), latitude=45.0 + i * 1e-4, longitude=9.0, seq=i,
        )
        for i in range(first, first + count)
    ]


class Live:
    def __init__(self, broker: Mosquitto, process: ServiceProcess, port: int) -> None:
        self.broker = broker
        self.process = process
        self.port = port

    def publish(self, batch: list[LocationReport]) -> None:
        publish_all(self.broker.url, as_messages(batch))

    def stored(self, order_id: str, msg_id: str) -> None:
        """Wait until the store (read through this server) has the order's newest report."""
        def has() -> bool:
            url = f"http://127.0.0.1:{self.port}/v1/orders/{order_id}/last-location"
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    return bool(json.loads(answer.read())["msg_id"] == msg_id)
            except urllib.error.HTTPError:
                return False
        wait_until(has, 30, f"{msg_id} stored")

    def stream(self, path: str, **headers: str) -> SseStream:
        return SseStream(self.port, path, headers)


@pytest.fixture
def start_live(
    broker: Mosquitto, sqlite_url: str, services: Callable[..., ServiceProcess],
    subscriber: Callable[..., ServiceProcess],
) -> Callable[..., Live]:
    def start(*extra: str, env: dict[str, str] | None = None) -> Live:
        subscriber()
        port = free_port()
        process = services(
            "live", "--live-port", str(port), "--store", sqlite_url, "--mqtt-url", broker.url, "--poll", "0.05",
            *extra, env=env, name="live",
        )
        process.wait_ready(f"http://127.0.0.1:{port}/readyz")
        return Live(broker, process, port)

    return start


def test_a_stream_shows_the_last_location_then_every_stored_report_and_no_rejected_one(
    start_live: Callable[..., Live],
) -> None:
    live = start_live()
    live.publish(reports("o1", 0, 3))
    live.stored("o1", "o1-2")
    stream = live.stream("/v1/orders/o1/live")
    assert stream.status == 200
    first = stream.next()
    assert first is not None and first.event == "location" and first.json()["msg_id"] == "o1-2"

    later = reports("o1", 3, 4)
    bad = {**later[1].to_json_dict(), "latitude": 91}  # the subscriber dead-letters it
    publish_all(live.broker.url, [(later[0].topic, later[0].to_json()), (later[1].topic, json.dumps(bad).encode())])
    live.publish(reports("other", 0, 2) + later[2:])
    events = stream.events(3)
    assert [e.json()["msg_id"] for e in events] == ["o1-3", "o1-5", "o1-6"]
    ids = [int(e.id or 0) for e in (first, *events)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    stream.close()


def test_a_dropped_stream_resumes_from_its_last_event_id_without_losing_or_doubling_a_report(
    start_live: Callable[..., Live],
) -> None:
    live = start_live()
    live.publish(reports("o2", 0, 2))
    live.stored("o2", "o2-1")
    replay = live.stream("/v1/orders/o2/live?last_event_id=0")  # what the tracking page asks first
    seen = replay.events(2)
    assert [e.json()["msg_id"] for e in seen] == ["o2-0", "o2-1"]
    replay.close()

    live.publish(reports("o2", 2, 1200))  # arrives while nobody watches: more than a page to catch up
    live.stored("o2", "o2-1201")
    resumed = live.stream("/v1/orders/o2/live?last_event_id=0", **{"Last-Event-ID": seen[-1].id or ""})
    caught_up = resumed.events(1200)
    assert [e.json()["seq"] for e in caught_up] == list(range(2, 1202))
    live.publish(reports("o2", 1202, 1))
    after = resumed.next()
    assert after is not None and after.json()["seq"] == 1202
    resumed.close()


def test_heartbeats_on_a_quiet_stream_and_the_end_after_arrival(start_live: Callable[..., Live]) -> None:
    live = start_live("--heartbeat", "0.2", "--end-after-arrived", "0.5")
    live.publish(reports("o3", 0, 1))
    live.stored("o3", "o3-0")
    stream = live.stream("/v1/orders/o3/live")
    assert stream.next() is not None
    assert stream.comment() == "heartbeat"
    live.publish(reports("o3", 1, 1, arrive=True))
    arrived = stream.next()
    assert arrived is not None and arrived.json()["delivery_state"] == "arrived"
    started = time.monotonic()
    end = stream.next()
    assert end is not None and end.event == "end"
    assert time.monotonic() - started >= 0.3
    assert stream.next() is None, "the answer ends after the end event"


def test_keys_and_tracking_tokens_decide_who_may_watch(start_live: Callable[..., Live]) -> None:
    live = start_live(env={"DELIVERER_API_KEY": KEY, "DELIVERER_API_KEY_READS": "1"})
    live.publish(reports("mine", 0, 1) + reports("theirs", 0, 1))
    secret = secret_from(None, KEY)
    assert secret is not None
    token = issue(secret, "mine", int(time.time()) + 600)
    wait_until(lambda: live.stream("/v1/orders/mine/live", **{"X-API-Key": KEY}).status == 200, 20, "mine stored")

    refused = live.stream("/v1/orders/mine/live")
    assert (refused.status, json.loads(refused.body)["error"]) == (401, "unauthorized")
    allowed = live.stream(f"/v1/orders/mine/live?token={token}")
    assert allowed.status == 200 and (allowed.next() or pytest.fail("no event")).json()["order_id"] == "mine"
    allowed.close()
    expired = issue(secret, "mine", int(time.time()) - 1)
    for path in (f"/v1/orders/theirs/live?token={token}", f"/v1/orders/mine/live?token={expired}",
                 "/v1/orders/mine/live?token=v1.1.forged"):
        answer = live.stream(path, **{"X-API-Key": KEY})
        assert (answer.status, json.loads(answer.body)["error"]) == (403, "forbidden"), path
    page = urllib.request.urlopen(f"http://127.0.0.1:{live.port}/track/mine?token={token}", timeout=5)
    assert page.status == 200 and "Content-Security-Policy" in page.headers


def test_hostile_and_unknown_requests_get_a_json_error(start_live: Callable[..., Live]) -> None:
    live = start_live()
    live.publish(reports("o4", 0, 1))
    live.stored("o4", "o4-0")
    for path, headers, status, code in (
        ("/v1/orders/nobody/live", {}, 404, "order_not_found"),
        ("/v1/orders/a%20b/live", {}, 400, "invalid_order_id"),
        ("/v1/orders/o4/live", {"Last-Event-ID": "not-an-id"}, 400, "invalid_event_id"),
        ("/v1/orders/o4/live", {"Last-Event-ID": "9" * 5000}, 400, "invalid_event_id"),
        ("/v1/orders/o4/live?last_event_id=-1", {}, 400, "invalid_event_id"),
    ):
        answer = live.stream(path, **headers)
        assert (answer.status, json.loads(answer.body)["error"]) == (status, code), path
    request = urllib.request.Request(f"http://127.0.0.1:{live.port}/v1/orders/o4/live", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 405
    # An id from before the store was reset is newer than anything stored: the order is replayed.
    stale = live.stream("/v1/orders/o4/live", **{"Last-Event-ID": "999999999"})
    assert (stale.next() or pytest.fail("no event")).json()["msg_id"] == "o4-0"


def test_streams_hold_no_thread(start_live: Callable[..., Live]) -> None:
    live = start_live("--wsgi-threads", "2")
    live.publish(reports("o5", 0, 1))
    live.stored("o5", "o5-0")
    streams = [live.stream("/v1/orders/o5/live") for _ in range(40)]
    assert all(s.status == 200 and s.next() is not None for s in streams)
    with urllib.request.urlopen(f"http://127.0.0.1:{live.port}/v1/orders/o5/last-location", timeout=5) as answer:
        assert answer.status == 200
    live.publish(reports("o5", 1, 1))
    assert all((s.next() or pytest.fail("ended")).json()["msg_id"] == "o5-1" for s in streams)
    for s in streams:
        s.close()
