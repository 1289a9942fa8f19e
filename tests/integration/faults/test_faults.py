"""Faults survived with real processes: broker restart, store outage, replicas killed or scaled down."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from deliverer.local_broker import Mosquitto
from deliverer.mqtt import parse_mqtt_url
from deliverer.publishing import Delivery, WindowedPublisher
from deliverer.settings import PLAIN_TOPIC
from deliverer.store import open_store
from tests.helpers import ServiceProcess, as_messages, make_reports, publish_all, stored_ids, wait_until

pytestmark = pytest.mark.slow


class TrackedStream(threading.Thread):
    """Publishes reports at QoS 1 in the background and remembers which ones the broker acknowledged."""

    def __init__(self, mqtt_url: str, messages: list[tuple[str, bytes]], ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.messages, self.ids = messages, ids
        self.publisher = WindowedPublisher(parse_mqtt_url(mqtt_url), window=500)
        self.deliveries: list[Delivery] = []
        self.sent = 0

    def run(self) -> None:
        self.publisher.connect()
        for topic, payload in self.messages:
            self.deliveries.append(self.publisher.publish(topic, payload, qos=1, timeout=120))
            self.sent += 1
        self.publisher.flush(120)

    def acked_ids(self) -> set[str]:
        return {msg_id for msg_id, delivery in zip(self.ids, self.deliveries, strict=False) if delivery.accepted}


def test_broker_restart_mid_stream_loses_no_acknowledged_report(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    reports = make_reports(50_000, orders=500)
    # The plain filter: Mosquitto does not restore shared subscriptions after a restart (see
    # tests/integration/subscriber/test_broker_restart_subscriptions.py).
    sub = subscriber("--topic", PLAIN_TOPIC)
    store = open_store(sqlite_url)
    stream = TrackedStream(broker.url, as_messages(reports), [r.msg_id for r in reports])
    stream.start()
    wait_until(lambda: stream.sent >= 15_000, 60, "15,000 published before the restart")
    broker.stop()
    broker.start()
    stream.join(240)
    assert not stream.is_alive(), "the publisher never finished after the restart"
    acked = stream.acked_ids()
    assert len(acked) >= 45_000, f"only {len(acked)} acknowledged: the publisher did not recover"
    wait_until(lambda: store.counts().locations >= len(acked), 120, "every acknowledged report stored")
    ids = stored_ids(store)
    assert len(ids) == len(set(ids)), "a report was stored twice"
    assert acked <= set(ids), f"{len(acked - set(ids))} acknowledged reports lost"
    assert "connected to" in sub.log().split("disconnected from", 1)[-1], "the subscriber never reconnected"


def test_store_outage_holds_acks_retries_and_catches_up(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    reports = make_reports(20_000, orders=200)
    sub = subscriber("--batch-size", "500")
    store = open_store(sqlite_url)
    stream = TrackedStream(broker.url, as_messages(reports), [r.msg_id for r in reports])
    stream.start()
    wait_until(lambda: store.counts().locations >= 2_000, 60, "2,000 stored before the outage")

    lock = sqlite3.connect(f"{tmp_path}/store.db", isolation_level=None, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")
    during_outage = store.counts().locations
    wait_until(lambda: sub.metric("deliverer_subscriber_store_failures_total") >= 2, 60, "failed writes")
    # Held: at most the Receive Maximum (4 x batch). Waiting until the window is full and the broker
    # has accepted 3,000 more than that makes the check independent of the machine's speed.
    wait_until(lambda: sub.metric("deliverer_subscriber_unacked") == 2_000, 60, "the window of 2,000 filled")
    wait_until(lambda: len(stream.acked_ids()) >= during_outage + 5_000, 60, "3,000 more waiting at the broker")
    assert sub.metric("deliverer_subscriber_unacked") == 2_000
    assert store.counts().locations == during_outage, "nothing is stored while the store is locked"
    lock.execute("ROLLBACK")
    lock.close()

    stream.join(120)
    wait_until(lambda: store.counts().locations >= 20_000, 120, "catching up after the outage")
    ids = stored_ids(store)
    assert len(ids) == len(set(ids)) == 20_000
    assert sub.metric("deliverer_subscriber_unacked_peak") == 2_000, "never more held than the receive maximum"
    wait_until(lambda: sub.metric("deliverer_subscriber_unacked") == 0, 10, "every held message acknowledged")
    log = sub.log()
    assert log.count("store write failed") == 1, "one log line per outage, not per retry"
    assert "store recovered after" in log


def start_replicas(
    subscriber: Callable[..., ServiceProcess], *extra: str
) -> dict[str, ServiceProcess]:
    return {name: subscriber("--batch-size", "200", *extra, client_id=name) for name in ("r1", "r2", "r3")}


def test_replica_killed_and_restarted_with_its_id_strands_nothing(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    reports = make_reports(30_000, orders=300)
    replicas = start_replicas(subscriber)
    store = open_store(sqlite_url)
    stream = threading.Thread(target=publish_all, args=(broker.url, as_messages(reports)), daemon=True)
    stream.start()
    wait_until(lambda: store.counts().locations >= 5_000, 60, "5,000 stored before the kill")
    replicas["r2"].kill()
    stream.join(120)

    # While r2 is away its share waits in its session, and the survivors say so.
    survivor = replicas["r1"]
    wait_until(
        lambda: survivor.metric("deliverer_subscriber_broker_disconnected_sessions") == 1
        and survivor.metric("deliverer_subscriber_broker_stored_messages") > 0,
        30, "the survivors to report the killed replica's session and its stored backlog",
    )
    assert "keeps 1 persistent session(s) of disconnected clients" in survivor.log()
    assert store.counts().locations < 30_000, "nothing was stranded: the visibility check proves nothing"

    restarted = subscriber("--batch-size", "200", client_id="r2")
    wait_until(lambda: store.counts().locations >= 30_000, 120, "all 30,000 stored")
    ids = stored_ids(store)
    assert len(ids) == len(set(ids)) == 30_000
    assert restarted.alive and "session present: True" in restarted.log()
    wait_until(
        lambda: survivor.metric("deliverer_subscriber_broker_disconnected_sessions") == 0, 30,
        "the survivors to see the session back",
    )
    assert "no disconnected persistent sessions left" in survivor.log()


def test_replica_scaled_down_with_sigterm_leaves_its_share_to_the_others(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    reports = make_reports(30_000, orders=300)
    replicas = start_replicas(subscriber, "--leave-on-exit")
    store = open_store(sqlite_url)
    stream = threading.Thread(target=publish_all, args=(broker.url, as_messages(reports)), daemon=True)
    stream.start()
    wait_until(lambda: store.counts().locations >= 5_000, 60, "5,000 stored before the scale-down")
    assert replicas["r3"].terminate() == 0
    assert "left the share group" in replicas["r3"].log()
    stream.join(120)
    wait_until(lambda: store.counts().locations >= 30_000, 120, "all 30,000 stored by the two survivors")
    ids = stored_ids(store)
    assert len(ids) == len(set(ids)) == 30_000
