"""The container broker's config and the accounts ``deliverer broker-accounts`` writes for it, loaded by a
real mosquitto (tests/integration/deploy/container_broker.py): who may connect, under which client id,
and what each may publish and subscribe to.

Observed with Mosquitto 2.0.11 and its dynamic security plugin: a courier publishing on another
courier's topic gets, over MQTT 5, a PUBACK with reason "Not authorized" (135); over MQTT 3.1.1, which
has no reason codes, a plain PUBACK. Either way the broker drops the message. A SUBSCRIBE the account
may not make gets a SUBACK failure ("Not authorized"), and a CONNECT under a client id the account is
not bound to gets a CONNACK "Not authorized".
"""

from __future__ import annotations

import json
import stat
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app_api.app import create_app
from app_api.resources import close_resources
from deliverer.contract import ID_PATTERN, DeliveryState, LocationReport, parse_report
from deliverer.local_broker import free_port
from deliverer.mqtt import parse_mqtt_url
from deliverer.publishing import WindowedPublisher
from deliverer.settings import SUBSCRIBE_TOPIC
from deliverer.store import open_store
from tests.helpers import ServiceProcess, wait_until
from tests.integration.deploy.compose_project import environment, load_compose
from tests.integration.deploy.container_broker import (
    SERVICE_PASSWORDS,
    UNBOUND_ACCOUNTS,
    ContainerBroker,
    broker_accounts,
    deployable_settings,
)
from tests.integration.deploy.mqtt_session import MqttSession

NOT_AUTHORIZED = 135
ADMIN = "svc~accounts"


def report(deliverer_id: str, order_id: str) -> LocationReport:
    return LocationReport(
        msg_id=f"{order_id}-{deliverer_id}",
        order_id=order_id,
        deliverer_id=deliverer_id,
        delivery_state=DeliveryState.ON_THE_WAY,
        timestamp=datetime.now(UTC) - timedelta(minutes=1),
        latitude=45.4642,
        longitude=9.19,
    )


def test_broker_accounts_writes_every_account_hashed_for_the_broker_only(container_broker: ContainerBroker) -> None:
    config_path = container_broker.auth_dir / "dynamic-security.json"
    config = json.loads(config_path.read_text())
    clients = {client["username"]: client for client in config["clients"]}
    assert set(clients) == set(container_broker.passwords) | {ADMIN}
    assert set(SERVICE_PASSWORDS) | {ADMIN} == {name for name in clients if ID_PATTERN.fullmatch(name) is None}
    for name, client in clients.items():
        assert client.get("clientid") == (None if name in UNBOUND_ACCOUNTS else name), name
        assert len(client["salt"]) == 16 and client["iterations"] >= 101, "PBKDF2 with a 12-byte salt"
    for password in container_broker.passwords.values():
        assert password not in config_path.read_text()
    assert config["defaultACLAccess"] == {
        "publishClientSend": False, "publishClientReceive": False, "subscribe": False, "unsubscribe": True,
    }
    for path in container_broker.auth_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_unchanged_env_rewrites_the_same_accounts(tmp_path: Path) -> None:
    settings = deployable_settings()
    assert broker_accounts(tmp_path / "auth", settings).returncode == 0
    first = (tmp_path / "auth" / "dynamic-security.json").read_text()
    assert broker_accounts(tmp_path / "auth", settings).returncode == 0
    assert (tmp_path / "auth" / "dynamic-security.json").read_text() == first, "salts and hashes kept"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MQTT_API_PASSWORD": ""}, "MQTT_API_PASSWORD is empty"),
        ({"MQTT_SUBSCRIBER_PASSWORD": "p@ss/word"}, "MQTT_SUBSCRIBER_PASSWORD may only contain"),
        ({"MQTT_COURIERS": "d1:secret,d2"}, "courier 'd2' has no password"),
        ({"MQTT_COURIERS": "d1/x:secret"}, "courier id 'd1/x' must be"),
        ({"MQTT_COURIERS": "d1:secret,d1:other"}, "courier 'd1' is listed twice"),
        ({"MQTT_PUBLISHER_PASSWORD": "change-me-mqtt-publisher"}, "placeholder from .env.example: MQTT_PUBLISHER_PAS"),
        ({"MQTT_COURIERS": "d1:secret,d2:change-me-courier-d2"}, "placeholder from .env.example: MQTT_COURIERS (cour"),
    ],
)
def test_broker_accounts_refuses_unusable_or_placeholder_secrets_and_writes_nothing(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    done = broker_accounts(tmp_path / "auth", {**deployable_settings(), **change})
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert not (tmp_path / "auth").exists()
    if "placeholder" in message:
        assert "openssl rand -hex 16" in done.stderr


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
@pytest.mark.parametrize(("username", "password"), [(None, None), ("d1", "wrong"), ("nobody", "secret")])
def test_clients_without_valid_credentials_are_refused(
    attempt: Callable[..., MqttSession], username: str | None, password: str | None, protocol: str
) -> None:
    session = attempt(username, password, protocol)
    assert session.connack is not None and session.connack.is_failure
    assert session.connack.getName() == "Not authorized"


def test_a_courier_report_reaches_the_subscriber_account_through_the_shared_subscription(
    login: Callable[..., MqttSession],
) -> None:
    subscriber = login("svc~subscriber")
    assert subscriber.subscribe(SUBSCRIBE_TOPIC).getName() == "Granted QoS 1"
    own = report("d1", "acl-own")

    assert not login("d1").publish(own.topic, own.to_json()).is_failure

    message = subscriber.next_message()
    assert (message.topic, message.payload) == (own.topic, own.to_json())
    assert parse_report(bytes(message.payload), message.topic) == own


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_a_courier_cannot_publish_on_another_couriers_topic(login: Callable[..., MqttSession], protocol: str) -> None:
    subscriber = login("svc~subscriber")
    subscriber.subscribe(SUBSCRIBE_TOPIC)
    courier = login("d1", protocol=protocol)
    spoofed, own = report("d2", f"acl-spoofed-{protocol}"), report("d1", f"acl-after-spoof-{protocol}")

    answer = courier.publish(spoofed.topic, spoofed.to_json())
    assert not courier.publish(own.topic, own.to_json()).is_failure

    if protocol == "5":
        assert answer.value == NOT_AUTHORIZED
    else:
        assert not answer.is_failure, "MQTT 3.1.1 has no way to refuse a publish; the broker drops it"
    # Sent first on the same connection, the spoofed report would have arrived first.
    assert subscriber.next_message().payload == own.to_json()
    assert subscriber.messages.empty()


def test_the_subscriber_account_cannot_publish_reports(login: Callable[..., MqttSession]) -> None:
    forged = report("d1", "acl-forged-by-subscriber")
    assert login("svc~subscriber").publish(forged.topic, forged.to_json()).value == NOT_AUTHORIZED


def assert_no_report_delivered(session: MqttSession) -> None:
    """The broker answers a publish after sending what it routed to the session earlier, so once
    the PUBACK of a (refused) publish is back, any report routed to the session has arrived."""
    session.publish("deploy-test/barrier", b"")
    received = []
    while not session.messages.empty():
        received.append(session.messages.get().topic)
    assert [topic for topic in received if topic.startswith("deliverers/")] == []


def test_a_courier_cannot_read_the_reports(login: Callable[..., MqttSession]) -> None:
    courier = login("d1")
    for topic_filter in ("deliverers/+/location", SUBSCRIBE_TOPIC, "deliverers/d2/location", "#"):
        assert courier.subscribe(topic_filter).getName() == "Not authorized", topic_filter
    other, own = report("d2", "acl-read-other"), report("d1", "acl-read-own")

    assert not login("d2").publish(other.topic, other.to_json()).is_failure
    assert not courier.publish(own.topic, own.to_json()).is_failure

    assert_no_report_delivered(courier)


@pytest.mark.parametrize("account", ["d1", "svc~api", "svc~publisher", "svc~healthcheck", ADMIN])
def test_only_the_subscriber_account_may_join_the_ingest_group(
    container_broker: ContainerBroker, attempt: Callable[..., MqttSession], account: str
) -> None:
    password = (container_broker.auth_dir / "accounts-admin.password").read_text().strip() if account == ADMIN else None
    intruder = attempt(account, password)
    assert intruder.connack is not None and not intruder.connack.is_failure
    for topic_filter in (SUBSCRIBE_TOPIC, "deliverers/+/location"):
        assert intruder.subscribe(topic_filter).getName() == "Not authorized", topic_filter


def test_the_subscriber_account_subscribes_to_what_it_reads_and_nothing_else(login: Callable[..., MqttSession]) -> None:
    subscriber = login("svc~subscriber")
    for granted in (SUBSCRIBE_TOPIC, "deliverers/+/location", "$SYS/broker/clients/disconnected"):
        assert subscriber.subscribe(granted).getName() == "Granted QoS 1", granted
    for refused in ("$share/other/deliverers/+/location", "#", "$CONTROL/dynamic-security/v1/response"):
        assert subscriber.subscribe(refused).getName() == "Not authorized", refused


@pytest.mark.parametrize("client_id", ["d2", "", "svc~subscriber~x", "deploy-test-subscriber"])
def test_a_courier_connects_only_under_its_own_client_id(
    attempt: Callable[..., MqttSession], client_id: str
) -> None:
    session = attempt("d1", client_id=client_id)
    assert session.connack is not None and session.connack.getName() == "Not authorized"
    assert not attempt("d1", client_id="d1").connack.is_failure  # type: ignore[union-attr]


@pytest.mark.parametrize("account", ["svc~api", "svc~publisher"])
def test_the_api_and_the_load_generator_write_any_courier_topic(
    login: Callable[..., MqttSession], account: str
) -> None:
    subscriber = login("svc~subscriber")
    subscriber.subscribe(SUBSCRIBE_TOPIC)
    relayed = report("d42", f"acl-relayed-by-{account.removeprefix('svc~')}")

    assert not login(account).publish(relayed.topic, relayed.to_json()).is_failure
    assert subscriber.next_message().payload == relayed.to_json()


def test_the_healthcheck_account_reads_the_broker_uptime_and_nothing_else(login: Callable[..., MqttSession]) -> None:
    healthcheck = login("svc~healthcheck")
    assert not healthcheck.subscribe("$SYS/broker/uptime").is_failure
    assert healthcheck.next_message().topic == "$SYS/broker/uptime"
    assert healthcheck.subscribe("deliverers/+/location").is_failure
    courier_report = report("d1", "acl-healthcheck")
    assert not login("d1").publish(courier_report.topic, courier_report.to_json()).is_failure
    assert_no_report_delivered(healthcheck)
    mqtt_service = load_compose()["services"]["mqtt"]
    probe = mqtt_service["healthcheck"]["test"][1].replace("$$", "$")
    assert "-u 'svc~healthcheck'" in probe and "-i 'svc~healthcheck'" in probe and "-t '$SYS/broker/uptime'" in probe
    assert "MQTT_HEALTHCHECK_PASSWORD" in environment(mqtt_service)


def test_a_refused_publish_is_a_refusal_not_an_acknowledgement(container_broker: ContainerBroker) -> None:
    publisher = WindowedPublisher(parse_mqtt_url(container_broker.url("d1")), "d1", window=10).connect()
    try:
        spoofed = publisher.publish(report("d2", "refused-spoofed").topic, b"{}")
        own = publisher.publish(report("d1", "refused-own").topic, b"{}")
        assert publisher.flush(10)
        assert spoofed.wait(0) and spoofed.refusal == "Not authorized" and not spoofed.accepted
        assert own.accepted and own.refusal is None
        assert (publisher.acked, publisher.refused, publisher.outstanding) == (1, 1, 0)
    finally:
        publisher.close()


def test_the_api_answers_503_for_a_report_the_broker_refuses(
    container_broker: ContainerBroker, sqlite_url: str
) -> None:
    # An API logged in with an account that may not publish reports, as a wrong setting would leave it.
    app = create_app({"STORE_URL": sqlite_url, "MQTT_URL": container_broker.url("svc~subscriber")})
    client = app.test_client()
    try:
        refused = client.post("/v1/locations", json=report("d2", "api-refused").to_json_dict())
        assert refused.status_code == 503, refused.get_data(as_text=True)
        assert refused.get_json()["error"] == "broker_unavailable"
        assert "refused report api-refused-d2" in refused.get_json()["message"]
    finally:
        close_resources(app)


def test_the_subscriber_service_stores_a_couriers_report_and_never_a_spoofed_one(
    container_broker: ContainerBroker,
    login: Callable[..., MqttSession],
    services: Callable[..., ServiceProcess],
    sqlite_url: str,
) -> None:
    metrics_port = free_port()
    process = services(
        "subscribe", "--mqtt-url", container_broker.url("svc~subscriber"), "--store", sqlite_url,
        "--client-id", "deploy-test-subscriber", "--metrics-port", str(metrics_port), "--leave-on-exit",
        name="subscriber",
    )
    process.metrics_port = metrics_port
    process.wait_subscribed()
    courier = login("d1")
    spoofed, own = report("d2", "store-spoofed"), report("d1", "store-own")

    assert courier.publish(spoofed.topic, spoofed.to_json()).value == NOT_AUTHORIZED
    assert not courier.publish(own.topic, own.to_json()).is_failure

    store = open_store(sqlite_url)
    try:
        assert wait_until(lambda: store.last_location(own.order_id), 20, "the courier's report in the store") == own
        assert store.last_location(spoofed.order_id) is None
        assert (store.counts().locations, store.counts().rejected) == (1, 0)
    finally:
        store.close()
    # The ACL lets it follow the broker's session counters (-1 until they arrive).
    wait_until(
        lambda: process.metric("deliverer_subscriber_broker_disconnected_sessions") >= 0, 20,
        "the broker's count of disconnected sessions",
    )
    assert "does not let us read" not in process.log()
    assert process.terminate() == 0, process.log()


def test_a_couriers_will_on_another_couriers_topic_is_never_delivered(
    container_broker: ContainerBroker, login: Callable[..., MqttSession]
) -> None:
    subscriber = login("svc~subscriber")
    subscriber.subscribe(SUBSCRIBE_TOPIC)
    forged = report("d2", "acl-will-forged")
    courier = MqttSession(container_broker.url("d1"), client_id="d1")
    courier.client.will_set(forged.topic, forged.to_json(), qos=1)
    assert not courier.open().is_failure
    # An abrupt end, as a lost device: the broker publishes the will, if the ACL lets it.
    sock = courier.client.socket()
    assert sock is not None
    sock.close()
    courier.client.loop_stop()
    own = report("d2", "acl-after-will")
    assert not login("d2").publish(own.topic, own.to_json()).is_failure
    assert subscriber.next_message().payload == own.to_json()
    assert_no_report_delivered(subscriber)


def test_a_subscriber_the_broker_refuses_to_subscribe_is_not_healthy(
    container_broker: ContainerBroker, services: Callable[..., ServiceProcess], sqlite_url: str
) -> None:
    """Connected is not ready: /healthz answers 200 only once the broker has granted the subscription."""
    metrics_port = free_port()
    process = services(
        "subscribe", "--mqtt-url", container_broker.url("svc~api"), "--store", sqlite_url,
        "--client-id", "svc~api~subscribing", "--metrics-port", str(metrics_port), name="subscriber",
    )
    process.wait_log("broker refused the subscription")  # the event itself: no endpoint tells it apart
    healthz = f"http://127.0.0.1:{metrics_port}/healthz"
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(healthz, timeout=5)
    assert answer.value.code == 503
    health = json.loads(answer.value.read())
    assert (health["connected"], health["subscribed"]) == (True, False)
    assert process.terminate() == 0, process.log()
