"""What a logged-in courier could do to other people's data on the container broker, tried against a
real mosquitto with the container config and a real subscriber writing SQLite.

Both attacks worked with Mosquitto's acl_file: it grants any SUBSCRIBE and checks the read right only
when it delivers, so a courier in ``$share/ingest`` took its round-robin share of every courier's
reports, which the broker then dropped (about half of them); and any account could connect under the
subscriber's client id and take its session over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from deliverer.local_broker import free_port
from deliverer.mqtt import parse_mqtt_url
from deliverer.publishing import WindowedPublisher
from deliverer.settings import SUBSCRIBE_TOPIC
from deliverer.store import open_store
from tests.helpers import ServiceProcess, make_reports, wait_until
from tests.integration.deploy.container_broker import ContainerBroker
from tests.integration.deploy.mqtt_session import MqttSession

SUBSCRIBER_ID = "svc~subscriber~attack-test"


@pytest.fixture
def subscriber(
    container_broker: ContainerBroker, services: Callable[..., ServiceProcess], sqlite_url: str
) -> Iterator[ServiceProcess]:
    """The subscriber service on the ingest group, logged in as its account."""
    metrics_port = free_port()
    process = services(
        "subscribe", "--mqtt-url", container_broker.url("svc~subscriber"), "--store", sqlite_url,
        "--client-id", SUBSCRIBER_ID, "--metrics-port", str(metrics_port), "--leave-on-exit",
        name="subscriber",
    )
    process.metrics_port = metrics_port
    process.wait_subscribed()
    yield process
    assert process.terminate() == 0, process.log()


def publish_as_courier(container_broker: ContainerBroker, courier: str, count: int, prefix: str) -> int:
    """``count`` reports of ``courier`` over its own login and client id; returns how many were acknowledged."""
    endpoint = parse_mqtt_url(container_broker.url(courier))
    publisher = WindowedPublisher(endpoint, client_id=courier, window=200).connect()
    try:
        for report in make_reports(count, orders=10, prefix=prefix):
            mine = report.model_copy(update={"deliverer_id": courier})
            publisher.publish(mine.topic, mine.to_json(), qos=1, timeout=30)
        assert publisher.flush(30), f"{publisher.outstanding} reports never acknowledged"
        return publisher.acked
    finally:
        publisher.close()


def stored_count(sqlite_url: str) -> int:
    store = open_store(sqlite_url)
    try:
        return store.counts().locations
    finally:
        store.close()


def wait_for_stored(sqlite_url: str, expected: int) -> None:
    try:
        wait_until(lambda: stored_count(sqlite_url) == expected, 20, f"{expected} reports in the store")
    except AssertionError:
        raise AssertionError(f"{stored_count(sqlite_url)} of {expected} acknowledged reports stored") from None


def test_a_courier_cannot_join_the_ingest_group_and_every_report_is_stored(
    container_broker: ContainerBroker, subscriber: ServiceProcess, attempt: Callable[..., MqttSession],
    sqlite_url: str,
) -> None:
    intruder = attempt("d1", client_id="d1")
    joined = intruder.subscribe(SUBSCRIBE_TOPIC)

    assert publish_as_courier(container_broker, "d2", 1000, "ingest-intruder") == 1000

    wait_for_stored(sqlite_url, 1000)
    assert joined.is_failure, f"the broker let a courier into the ingest group: {joined}"
    assert intruder.messages.empty()


def test_a_courier_cannot_take_the_subscribers_client_id(
    container_broker: ContainerBroker, subscriber: ServiceProcess, attempt: Callable[..., MqttSession],
    sqlite_url: str,
) -> None:
    published: list[int] = []
    courier = threading.Thread(
        target=lambda: published.append(publish_as_courier(container_broker, "d2", 200, "takeover"))
    )
    courier.start()
    takeovers = [attempt("d1", client_id=SUBSCRIBER_ID) for _ in range(5)]
    courier.join(60)

    assert published == [200]
    wait_for_stored(sqlite_url, 200)
    assert [session.connack.getName() for session in takeovers if session.connack] == ["Not authorized"] * 5
    assert subscriber.log().count("connected to ") == 1, "the subscriber lost its connection"
