"""The container broker picks up rotated MQTT passwords without a restart (mqtt/run-broker.sh).

docker-compose.yml runs the broker through mqtt/run-broker.sh, which sends Mosquitto SIGHUP when the
one-shot mqtt-auth rewrites the password file or the ACL. Here the same script runs a real mosquitto
with the container config (listener and paths moved to the test's), and mqtt/prepare-auth.sh rotates
the passwords as mqtt-auth does on `docker compose up`. The script runs under every POSIX shell
found here: `sh` (dash on Debian) and, when installed, BusyBox's, which is the image's /bin/sh.

Observed with Mosquitto 2.0.11: after the reload a client logs in only with the new password; a
client that was connected with a password that has since changed is disconnected by the reload,
and every other client keeps its connection.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deliverer.local_broker import BrokerError, free_port, mosquitto_binary, wait_for_port
from tests.helpers import REPO, wait_until
from tests.integration.deploy.compose_project import ENV_EXAMPLE, load_compose, read_env_file
from tests.integration.deploy.mqtt_session import MqttSession
from tests.integration.deploy.test_mosquitto_container_auth import prepare_auth, render_container_config

RUN_BROKER = REPO / "mqtt" / "run-broker.sh"
POLL_SECONDS = "0.2"
SHELLS = [["sh"], *([["busybox", "sh"]] if shutil.which("busybox") else [])]


@dataclass
class ReloadingBroker:
    process: subprocess.Popen[bytes]
    port: int
    auth_dir: Path
    data_dir: Path
    log_path: Path
    settings: dict[str, str]

    def url(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@127.0.0.1:{self.port}"

    def rotate(self, **changes: str) -> None:
        """Rewrite the password file and ACL as the one-shot mqtt-auth does."""
        self.settings = {**self.settings, **changes}
        done = prepare_auth(self.auth_dir, self.settings)
        assert done.returncode == 0, done.stderr

    def reloads(self) -> int:
        return self.log_path.read_text().count("reloading the password file and ACL")


def logs_in(url: str) -> bool:
    session = MqttSession(url)
    try:
        return not session.open().is_failure
    finally:
        session.close()


@pytest.fixture(params=SHELLS, ids=lambda shell: shell[0])
def broker(request: pytest.FixtureRequest) -> Iterator[ReloadingBroker]:
    # World-readable like the container's volumes: mosquitto started as root reads the files as
    # the "mosquitto" user.
    root = Path(tempfile.mkdtemp(prefix="deliverer-reload-broker-"))
    root.chmod(0o755)
    settings = read_env_file(ENV_EXAMPLE)
    auth_dir, data_dir = root / "auth", root / "data"
    assert prepare_auth(auth_dir, settings).returncode == 0
    data_dir.mkdir()
    data_dir.chmod(0o777)
    port = free_port()
    config = root / "mosquitto.conf"
    config.write_text(render_container_config(port, auth_dir, data_dir))
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed (Debian: apt-get install -y mosquitto)")
    mosquitto_dir = str(Path(binary).parent)
    env = {
        "PATH": f"{mosquitto_dir}:{os.environ['PATH']}",
        "AUTH_POLL_SECONDS": POLL_SECONDS,
    }
    log_path = root / "run-broker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*request.param, str(RUN_BROKER), str(config), str(auth_dir)], stdout=log, stderr=log, env=env
        )
    try:
        try:
            wait_for_port(port, 10, process)
        except BrokerError as exc:
            raise AssertionError(f"{exc}:\n{log_path.read_text()}") from None
        yield ReloadingBroker(process, port, auth_dir, data_dir, log_path, settings)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(15)
        shutil.rmtree(root)


def test_a_rotated_courier_password_works_without_a_restart(broker: ReloadingBroker) -> None:
    (d1, old), (d2, unchanged) = (pair.partition(":")[::2] for pair in broker.settings["MQTT_COURIERS"].split(","))
    rotated = MqttSession(broker.url(d1, old), client_id="reload-test-rotated")
    kept = MqttSession(broker.url(d2, unchanged), client_id="reload-test-kept")
    try:
        assert not rotated.open().is_failure and not kept.open().is_failure
        broker.rotate(MQTT_COURIERS=f"{d1}:rotated-courier-secret,{d2}:{unchanged}")

        wait_until(lambda: logs_in(broker.url(d1, "rotated-courier-secret")), 15, "the new password to work")
        assert not logs_in(broker.url(d1, old)), "the old password still works"
        wait_until(lambda: not rotated.client.is_connected(), 10, "the client with the old password to be dropped")
        assert kept.client.is_connected(), "the reload dropped a client whose password did not change"
        assert broker.process.poll() is None, "the broker restarted instead of reloading"
    finally:
        rotated.close()
        kept.close()
    assert broker.reloads() == 1


def test_each_change_is_reloaded_once_and_service_accounts_rotate_too(broker: ReloadingBroker) -> None:
    broker.rotate(MQTT_SUBSCRIBER_PASSWORD="rotated-subscriber-1")
    wait_until(lambda: logs_in(broker.url("svc~subscriber", "rotated-subscriber-1")), 15, "the first rotation")
    broker.rotate(MQTT_SUBSCRIBER_PASSWORD="rotated-subscriber-2")
    wait_until(lambda: logs_in(broker.url("svc~subscriber", "rotated-subscriber-2")), 15, "the second rotation")
    assert not logs_in(broker.url("svc~subscriber", "rotated-subscriber-1"))
    assert broker.reloads() == 2, broker.log_path.read_text()


def test_sigterm_stops_the_broker_which_saves_its_sessions(broker: ReloadingBroker) -> None:
    persistent = MqttSession(broker.url("svc~subscriber", broker.settings["MQTT_SUBSCRIBER_PASSWORD"]),
                             client_id="reload-test-session", session_expiry=3600)
    assert not persistent.open().is_failure
    persistent.close()

    broker.process.send_signal(signal.SIGTERM)
    assert broker.process.wait(15) == 0, broker.log_path.read_text()
    # Mosquitto writes its persistence file on a clean exit only.
    assert (broker.data_dir / "mosquitto.db").is_file(), broker.log_path.read_text()
    with pytest.raises(BrokerError):
        wait_for_port(broker.port, 0.5)


def test_compose_runs_the_container_broker_through_the_reloading_script() -> None:
    mqtt = load_compose()["services"]["mqtt"]
    command = mqtt["command"]
    assert command[:2] == ["/bin/sh", "/mqtt/run-broker.sh"]
    assert command[2:] == ["/mosquitto/config/mosquitto.conf", "/mosquitto/auth"]
    assert "entrypoint" not in mqtt, "keep the image's entrypoint, which prepares /mosquitto for its user"
