"""The container broker's config, ACL and a password file made by mqtt/prepare-auth.sh, loaded by a real
mosquitto: who may connect, write and read.

Only what ties the config to the container changes for the test: the listener becomes a free port on
127.0.0.1 and the auth, persistence and conf.d paths point into a temporary directory and the
repository. The credentials are those of .env.example.

Observed with Mosquitto 2.0: a courier publishing on another courier's topic gets, over MQTT 5, a
PUBACK with reason "Not authorized" (135); over MQTT 3.1.1, which has no reason codes, a plain PUBACK.
Either way the broker drops the message.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app_api.app import create_app
from app_api.resources import close_resources
from deliverer.contract import ID_PATTERN, DeliveryState, LocationReport, parse_report
from deliverer.local_broker import BrokerError, Mosquitto, free_port, wait_for_port
from deliverer.mqtt import parse_mqtt_url
from deliverer.publishing import WindowedPublisher
from deliverer.settings import SUBSCRIBE_TOPIC
from deliverer.store import open_store
from tests.helpers import REPO, ServiceProcess, wait_until
from tests.integration.deploy.compose_project import ENV_EXAMPLE, environment, load_compose, read_env_file
from tests.integration.deploy.mqtt_session import MqttSession

PREPARE_AUTH = REPO / "mqtt" / "prepare-auth.sh"
ACL = REPO / "mqtt" / "acl"
NOT_AUTHORIZED = 135
SERVICE_PASSWORDS = {
    "svc~subscriber": "MQTT_SUBSCRIBER_PASSWORD",
    "svc~api": "MQTT_API_PASSWORD",
    "svc~publisher": "MQTT_PUBLISHER_PASSWORD",
    "svc~healthcheck": "MQTT_HEALTHCHECK_PASSWORD",
}


@dataclass(frozen=True)
class ContainerBroker:
    port: int
    auth_dir: Path
    passwords: dict[str, str]

    def url(self, username: str | None, password: str | None = None, protocol: str = "5") -> str:
        if username is not None:
            password = self.passwords[username] if password is None else password
        credentials = f"{username}:{password}@" if username is not None else ""
        query = "?protocol=3.1.1" if protocol == "3.1.1" else ""
        return f"mqtt://{credentials}127.0.0.1:{self.port}{query}"


def account_passwords(settings: dict[str, str]) -> dict[str, str]:
    """Every MQTT username of the stack and its password, as .env sets them."""
    passwords = {user: settings[variable] for user, variable in SERVICE_PASSWORDS.items()}
    for pair in settings["MQTT_COURIERS"].split(","):
        courier, _, password = pair.partition(":")
        passwords[courier] = password
    return passwords


def prepare_auth(auth_dir: Path, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], **{k: v for k, v in settings.items() if k.startswith("MQTT_")}}
    return subprocess.run(["sh", str(PREPARE_AUTH), str(auth_dir)], env=env, capture_output=True, text=True, timeout=60)


def render_container_config(port: int, auth_dir: Path, data_dir: Path) -> str:
    """mosquitto-docker.conf with its container paths and listener moved to the test's."""
    text = (REPO / "mqtt" / "mosquitto-docker.conf").read_text()
    for key, value in {
        "listener": f"{port} 127.0.0.1",
        "password_file": f"{auth_dir}/passwd",
        "acl_file": f"{auth_dir}/acl",
        "persistence_location": f"{data_dir}/",
        "include_dir": str(REPO / "mqtt" / "conf.d"),
    }.items():
        text, count = re.subn(rf"(?m)^{key} .*$", f"{key} {value}", text)
        assert count == 1, f"mosquitto-docker.conf should set {key} once"
    return text


@pytest.fixture(scope="module")
def container_broker() -> Iterator[ContainerBroker]:
    # Not under pytest's base temp dir: that is private to its owner, and mosquitto started as root
    # continues as the "mosquitto" user, which must reach the password file as in the container.
    root = Path(tempfile.mkdtemp(prefix="deliverer-container-broker-"))
    root.chmod(0o755)
    settings = read_env_file(ENV_EXAMPLE)
    done = prepare_auth(root / "auth", settings)
    assert done.returncode == 0, done.stderr
    data_dir = root / "data"
    data_dir.mkdir()
    data_dir.chmod(0o777)
    port = free_port()
    config = root / "mosquitto.conf"
    config.write_text(render_container_config(port, root / "auth", data_dir))
    log_path = root / "mosquitto.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([Mosquitto(root).binary, "-c", str(config)], stdout=log, stderr=log)
    try:
        try:
            wait_for_port(port, 10, process)
        except BrokerError as exc:
            raise AssertionError(f"{exc}:\n{log_path.read_text()}") from None
        yield ContainerBroker(port, root / "auth", account_passwords(settings))
    finally:
        process.terminate()
        process.wait(10)
        log_text = log_path.read_text()
        shutil.rmtree(root)
    assert "Error" not in log_text, log_text


@pytest.fixture
def attempt(container_broker: ContainerBroker) -> Iterator[Callable[..., MqttSession]]:
    """Open an MQTT session as someone; whether the broker let us in is in ``session.connack``."""
    opened: list[MqttSession] = []

    def open_session(username: str | None, password: str | None = None, protocol: str = "5") -> MqttSession:
        session = MqttSession(container_broker.url(username, password, protocol))
        opened.append(session)
        session.open()
        return session

    yield open_session
    for session in opened:
        session.close()


@pytest.fixture
def login(attempt: Callable[..., MqttSession]) -> Callable[..., MqttSession]:
    def logged_in(username: str, protocol: str = "5") -> MqttSession:
        session = attempt(username, protocol=protocol)
        assert session.connack is not None and not session.connack.is_failure, f"{username}: {session.connack}"
        return session

    return logged_in


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


def test_prepare_auth_writes_every_account_for_the_broker_only(container_broker: ContainerBroker) -> None:
    passwd, acl = container_broker.auth_dir / "passwd", container_broker.auth_dir / "acl"
    usernames = {line.partition(":")[0] for line in passwd.read_text().splitlines()}
    acl_users = set(re.findall(r"(?m)^user (\S+)$", ACL.read_text()))
    assert usernames == set(container_broker.passwords) == acl_users | {"d1", "d2"}
    assert acl_users == set(SERVICE_PASSWORDS)
    for user in acl_users:
        assert ID_PATTERN.fullmatch(user) is None, f"{user} could pass for a courier on its pattern topic"
    for secret in passwd.read_text().splitlines():
        assert secret.partition(":")[2].startswith("$7$"), "passwords must be stored hashed (PBKDF2)"
    assert acl.read_text() == ACL.read_text()
    for path in (passwd, acl):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"MQTT_API_PASSWORD": ""}, "MQTT_API_PASSWORD is empty"),
        ({"MQTT_SUBSCRIBER_PASSWORD": "p@ss/word"}, "MQTT_SUBSCRIBER_PASSWORD may only contain"),
        ({"MQTT_COURIERS": "d1:secret,d2"}, "courier 'd2' has no password"),
        ({"MQTT_COURIERS": "d1/x:secret"}, "courier id 'd1/x' must be"),
    ],
)
def test_prepare_auth_refuses_unusable_credentials_and_writes_nothing(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    done = prepare_auth(tmp_path / "auth", {**read_env_file(ENV_EXAMPLE), **change})
    assert done.returncode != 0 and message in done.stderr, done.stderr
    assert list((tmp_path / "auth").iterdir()) == []


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


def assert_nothing_delivered(session: MqttSession) -> None:
    """The broker answers a publish after sending what it routed to the session earlier, so once
    the PUBACK of a (refused) publish is back, anything routed to the session has arrived."""
    session.publish("deploy-test/barrier", b"")
    assert session.messages.empty(), session.messages.get()


def test_a_courier_cannot_read_the_reports(login: Callable[..., MqttSession]) -> None:
    courier = login("d1")
    # Mosquitto 2.0 grants the subscription and checks the read right on every delivery.
    courier.subscribe("deliverers/+/location")
    courier.subscribe(SUBSCRIBE_TOPIC)
    other, own = report("d2", "acl-read-other"), report("d1", "acl-read-own")

    assert not login("d2").publish(other.topic, other.to_json()).is_failure
    assert not courier.publish(own.topic, own.to_json()).is_failure

    assert_nothing_delivered(courier)


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
    healthcheck.subscribe("deliverers/+/location")
    courier_report = report("d1", "acl-healthcheck")
    assert not login("d1").publish(courier_report.topic, courier_report.to_json()).is_failure
    assert_nothing_delivered(healthcheck)
    mqtt_service = load_compose()["services"]["mqtt"]
    probe = mqtt_service["healthcheck"]["test"][1].replace("$$", "$")
    assert "-u 'svc~healthcheck'" in probe and "-t '$SYS/broker/uptime'" in probe
    assert "MQTT_HEALTHCHECK_PASSWORD" in environment(mqtt_service)


def test_a_refused_publish_is_a_refusal_not_an_acknowledgement(container_broker: ContainerBroker) -> None:
    publisher = WindowedPublisher(parse_mqtt_url(container_broker.url("d1")), window=10).connect()
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
    # An API whose MQTT account may write only courier d1's topic, as a wrong ACL would leave it.
    app = create_app({"STORE_URL": sqlite_url, "MQTT_URL": container_broker.url("d1")})
    client = app.test_client()
    try:
        refused = client.post("/v1/locations", json=report("d2", "api-refused").to_json_dict())
        assert refused.status_code == 503, refused.get_data(as_text=True)
        assert refused.get_json()["error"] == "broker_unavailable"
        assert "refused report api-refused-d2" in refused.get_json()["message"]
        accepted = client.post("/v1/locations", json=report("d1", "api-accepted").to_json_dict())
        assert accepted.status_code == 202, accepted.get_data(as_text=True)
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
    process.wait_log("subscribed to")
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
