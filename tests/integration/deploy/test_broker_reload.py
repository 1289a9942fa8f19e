"""The running container broker takes changed accounts and a new certificate without a restart.

docker-compose.yml runs the broker through mqtt/run-broker.sh, and on every `docker compose up` the
one-shot mqtt-auth runs ``deliverer broker-accounts`` against it: the dynamic security plugin reads
its file only at start, so the changes go through its control API, only those that changed. Here the
same script runs a real mosquitto with the container config, under every POSIX shell found here:
`sh` (dash on Debian) and, when installed, BusyBox's, which is the image's /bin/sh.

A restart is not free: Mosquitto 2.0 forgets shared subscriptions on restart, and what couriers
publish before a replica subscribes again is lost. Observed with Mosquitto 2.0.11: the plugin
disconnects the clients of an account whose password or role a command changes, and no other.
"""

from __future__ import annotations

import shutil
import socket
import ssl
from collections.abc import Iterator

import pytest

from deliverer.local_broker import BrokerError, wait_for_port
from deliverer.settings import SUBSCRIBE_TOPIC
from tests.helpers import wait_until
from tests.integration.deploy.compose_project import load_compose
from tests.integration.deploy.container_broker import (
    RUN_BROKER,
    ContainerBroker,
    broker_certs,
    container_broker_files,
)
from tests.integration.deploy.mqtt_session import MqttSession

POLL_SECONDS = "0.2"
SHELLS = [["sh"], *([["busybox", "sh"]] if shutil.which("busybox") else [])]


@pytest.fixture(params=SHELLS, ids=lambda shell: shell[0])
def broker(request: pytest.FixtureRequest) -> Iterator[ContainerBroker]:
    with container_broker_files() as files:
        config = files.root / "mosquitto.conf"
        files.start([*request.param, str(RUN_BROKER), str(config), str(files.cert_dir)],
                    env={"AUTH_POLL_SECONDS": POLL_SECONDS})
        yield files


def session(broker: ContainerBroker, username: str, password: str | None = None, client_id: str = "") -> MqttSession:
    opened = MqttSession(broker.url(username, password), client_id=client_id or username)
    opened.open()
    return opened


def logs_in(broker: ContainerBroker, username: str, password: str) -> bool:
    attempt = MqttSession(broker.url(username, password), client_id=f"{username}")
    try:
        return not attempt.open().is_failure
    finally:
        attempt.close()


def couriers(broker: ContainerBroker) -> dict[str, str]:
    return dict(pair.split(":", 1) for pair in broker.settings["MQTT_COURIERS"].split(","))


def test_a_rotated_courier_password_applies_to_the_running_broker_alone(broker: ContainerBroker) -> None:
    old = couriers(broker)
    rotated = session(broker, "d1")
    kept = session(broker, "d2")
    subscriber = session(broker, "svc~subscriber", client_id="reload-test-subscriber")
    try:
        assert not rotated.connack.is_failure and not kept.connack.is_failure  # type: ignore[union-attr]
        assert not subscriber.subscribe(SUBSCRIBE_TOPIC).is_failure

        done = broker.accounts(MQTT_COURIERS=f"d1:rotated-courier-secret,d2:{old['d2']}")

        assert done.returncode == 0 and "applied to the running broker (1 change)" in done.stdout, done
        assert logs_in(broker, "d1", "rotated-courier-secret")
        assert not logs_in(broker, "d1", old["d1"]), "the old password still works"
        wait_until(lambda: not rotated.client.is_connected(), 10, "the client with the old password to be dropped")
        assert kept.client.is_connected() and subscriber.client.is_connected(), "an unchanged account was dropped"
        # The shared subscription lives on: the broker did not restart.
        assert not kept.publish("deliverers/d2/location", b"after the rotation").is_failure
        assert subscriber.next_message().payload == b"after the rotation"
        assert broker.running
    finally:
        for opened in (rotated, kept, subscriber):
            opened.close()


def test_an_unchanged_env_changes_nothing_and_drops_no_one(broker: ContainerBroker) -> None:
    connected = [session(broker, "d1"), session(broker, "svc~subscriber", client_id="reload-test-unchanged")]
    try:
        done = broker.accounts()
        assert done.returncode == 0 and "(0 changes)" in done.stdout, done
        assert all(opened.client.is_connected() for opened in connected)
    finally:
        for opened in connected:
            opened.close()


def test_couriers_added_and_removed_and_a_service_password_rotated(broker: ContainerBroker) -> None:
    removed = session(broker, "d2")
    d1 = couriers(broker)["d1"]
    done = broker.accounts(MQTT_COURIERS=f"d1:{d1},d3:new-courier-secret", MQTT_API_PASSWORD="rotated-api-1")
    assert done.returncode == 0, done.stderr
    try:
        assert logs_in(broker, "d3", "new-courier-secret")
        wait_until(lambda: not removed.client.is_connected(), 10, "the removed courier to be disconnected")
        assert not logs_in(broker, "d2", "anything")
        assert logs_in(broker, "svc~api", "rotated-api-1")
    finally:
        removed.close()


def test_the_accounts_are_the_same_after_a_restart(broker: ContainerBroker) -> None:
    assert broker.accounts(MQTT_SUBSCRIBER_PASSWORD="rotated-subscriber-1").returncode == 0
    assert broker.stop() == 0, broker.log()
    broker.start()
    assert logs_in(broker, "svc~subscriber", "rotated-subscriber-1")
    assert logs_in(broker, "d1", couriers(broker)["d1"])


def test_a_broker_without_the_administrator_gets_the_accounts_at_its_restart(broker: ContainerBroker) -> None:
    """As when upgrading from the password-file broker: the first run cannot log in, and says so."""
    for name in ("dynamic-security.json", "accounts-admin.password"):
        (broker.auth_dir / name).unlink()
    done = broker.accounts(MQTT_API_PASSWORD="after-the-upgrade")
    assert done.returncode == 0, done.stderr
    assert "no accounts administrator yet" in done.stderr
    assert not logs_in(broker, "svc~api", "after-the-upgrade")
    assert broker.stop() == 0, broker.log()
    broker.start()
    assert logs_in(broker, "svc~api", "after-the-upgrade")
    assert broker.accounts().stdout.endswith("(0 changes)\n"), "the administrator works after the restart"


def tls_handshake(broker: ContainerBroker, server_name: str) -> bool:
    context = ssl.create_default_context(cafile=broker.cert_dir / "ca.crt")
    try:
        with socket.create_connection(("127.0.0.1", broker.tls_port), timeout=5) as raw, context.wrap_socket(
            raw, server_hostname=server_name
        ):
            return True
    except ssl.SSLCertVerificationError:
        return False


def test_a_reissued_certificate_is_served_without_a_restart(broker: ContainerBroker) -> None:
    d1 = session(broker, "d1")
    try:
        assert not tls_handshake(broker, "broker.example.test")
        done = broker_certs(broker.cert_dir, "broker.example.test,localhost,127.0.0.1")
        assert done.returncode == 0 and "issued the server certificate again" in done.stdout, done

        wait_until(lambda: tls_handshake(broker, "broker.example.test"), 15, "the new certificate to be served")
        assert "reloading the TLS certificate" in broker.log()
        assert d1.client.is_connected(), "the reload dropped a client"
        assert logs_in(broker, "d2", couriers(broker)["d2"]), "the reload lost the accounts"
    finally:
        d1.close()


def test_sigterm_stops_the_broker_which_saves_its_sessions(broker: ContainerBroker) -> None:
    persistent = MqttSession(broker.url("svc~subscriber"), client_id="reload-test-session", session_expiry=3600)
    assert not persistent.open().is_failure
    persistent.close()

    assert broker.stop() == 0, broker.log()
    # Mosquitto writes its persistence file on a clean exit only.
    assert (broker.data_dir / "mosquitto.db").is_file(), broker.log()
    with pytest.raises(BrokerError):
        wait_for_port(broker.port, 0.5)


def test_compose_runs_the_container_broker_through_the_reloading_script() -> None:
    mqtt = load_compose()["services"]["mqtt"]
    command = mqtt["command"]
    assert command[:2] == ["/bin/sh", "/mqtt/run-broker.sh"]
    assert command[2:] == ["/mosquitto/config/mosquitto.conf", "/mosquitto/certs"]
    assert "entrypoint" not in mqtt, "keep the image's entrypoint, which prepares /mosquitto for its user"
