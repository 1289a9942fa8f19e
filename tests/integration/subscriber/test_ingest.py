"""A real Mosquitto, a real subscriber process and a real SQLite file: nothing lost, nothing doubled."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from deliverer.local_broker import Mosquitto
from deliverer.store import open_store
from deliverer.store.base import Store
from tests.helpers import (
    ServiceProcess,
    as_messages,
    make_reports,
    newest_per_order,
    publish_all,
    stored_ids,
    wait_until,
)


def assert_last_locations_are_newest(store: Store, reports: list) -> None:
    for order_id, newest in newest_per_order(reports).items():
        last = store.last_location(order_id)
        assert last is not None, order_id
        assert (last.msg_id, last.timestamp) == (newest.msg_id, newest.timestamp), order_id


@pytest.mark.slow
def test_20000_reports_are_stored_exactly_once(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    reports = make_reports(20_000, orders=400)
    proc = subscriber()
    store = open_store(sqlite_url)
    started = time.monotonic()
    assert publish_all(broker.url, as_messages(reports)) == 20_000
    wait_until(lambda: store.counts().locations >= 20_000, 120, "20,000 stored locations")
    elapsed = time.monotonic() - started
    print(f"\ningest: 20,000 reports in {elapsed:.2f} s = {20_000 / elapsed:,.0f} reports/s")
    counts = store.counts()
    assert (counts.locations, counts.orders, counts.rejected) == (20_000, 400, 0)
    assert sorted(stored_ids(store)) == sorted(r.msg_id for r in reports)
    assert_last_locations_are_newest(store, reports)
    assert proc.terminate() == 0


def test_duplicates_and_late_reports_change_nothing(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    reports = make_reports(5_000, orders=50)
    twice = reports + reports
    random.Random(7).shuffle(twice)
    subscriber()
    store = open_store(sqlite_url)
    publish_all(broker.url, as_messages(twice))
    sentinel = make_reports(1, orders=1, prefix="sentinel")
    publish_all(broker.url, as_messages(sentinel))
    wait_until(lambda: store.last_location("sentinel-0"), 60, "the sentinel behind the duplicates")
    assert store.counts().locations == 5_001
    assert_last_locations_are_newest(store, reports)

    oldest_first_half = sorted(reports, key=lambda r: r.timestamp)[:2_500]
    publish_all(broker.url, as_messages(oldest_first_half) + as_messages(make_reports(1, 1, prefix="sentinel2")))
    wait_until(lambda: store.last_location("sentinel2-0"), 60, "the second sentinel")
    assert store.counts().locations == 5_002
    assert_last_locations_are_newest(store, reports)


@pytest.mark.slow
def test_subscriber_killed_mid_stream_loses_and_doubles_nothing(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    reports = make_reports(30_000, orders=300)
    proc = subscriber("--batch-size", "500")
    store = open_store(sqlite_url)
    published: list[int] = []
    stream = threading.Thread(target=lambda: published.append(publish_all(broker.url, as_messages(reports))))
    stream.start()
    wait_until(lambda: store.counts().locations >= 5_000, 60, "5,000 stored before the kill")
    proc.kill()
    killed_at = store.counts().locations
    stream.join(120)
    assert published == [30_000]
    assert killed_at < 30_000, "the stream ended before the kill: the test proves nothing"
    subscriber("--batch-size", "500")
    wait_until(lambda: store.counts().locations >= 30_000, 120, "30,000 stored after the restart")
    ids = stored_ids(store)
    assert len(ids) == len(set(ids)) == 30_000
    assert set(ids) == {r.msg_id for r in reports}
    assert_last_locations_are_newest(store, reports)


def test_reports_queued_while_subscriber_is_away_exceed_the_default_queue_limit(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    """Mosquitto's default max_queued_messages (1000) would silently drop most of these."""
    proc = subscriber()
    assert proc.terminate() == 0
    assert "session kept" in proc.log()
    reports = make_reports(12_000, orders=120)
    publish_all(broker.url, as_messages(reports))
    store = open_store(sqlite_url)
    assert store.counts().locations == 0
    subscriber()
    wait_until(lambda: store.counts().locations >= 12_000, 90, "the queued 12,000 reports")
    assert store.counts().locations == 12_000


def test_sigterm_drains_and_exits_zero(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    proc = subscriber("--batch-ms", "60000", "--batch-size", "100000")
    store = open_store(sqlite_url)
    publish_all(broker.url, as_messages(make_reports(300, orders=3)))
    wait_until(lambda: proc.metric("deliverer_subscriber_unacked") == 300, 20, "300 held unacknowledged")
    assert store.counts().locations == 0, "the 60 s batch window is still open"
    assert proc.terminate() == 0
    assert store.counts().locations == 300
    assert "subscriber stopped" in proc.log()
