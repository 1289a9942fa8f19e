"""The Compose stack for real (MongoDB, Mosquitto, the subscriber and the API), through testcontainers.

Runs only where a Docker engine answers (``docker info``) and Compose 2.7 or later is installed;
skips with the reason elsewhere. The project gets its own name, free host ports and fresh secrets,
so it runs beside a developer's own stack, and ``down --volumes`` removes everything it made.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from testcontainers.compose import DockerCompose

from deliverer.contract import DeliveryState, LocationReport
from deliverer.local_broker import free_port
from deliverer.store.mongo import INDEXES
from tests.helpers import REPO, http_status, make_reports, wait_until
from tests.integration.deploy.compose_project import ENV_EXAMPLE, docker_unavailable, read_env_file
from tests.integration.deploy.mqtt_session import MqttSession

STARTUP_TIMEOUT_S = 300  # the first run builds the images and pulls mongo and mosquitto


UNAVAILABLE = docker_unavailable()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(UNAVAILABLE is not None, reason=str(UNAVAILABLE))]


@dataclass(frozen=True)
class Stack:
    settings: dict[str, str]
    compose: DockerCompose
    env_file: Path
    ca_file: Path
    """The CA mqtt-certs made, which devices trust: they reach the broker over TLS only."""

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.settings['API_PORT']}"

    def mqtt_url(self, username: str, password: str) -> str:
        return f"mqtt://{username}:{password}@127.0.0.1:{self.settings['MQTT_TLS_PORT']}"

    def device(self, username: str, password: str) -> MqttSession:
        """A TLS session to the devices' listener, trusting the stack's CA."""
        return MqttSession(self.mqtt_url(username, password), ca_file=self.ca_file)

    def courier(self) -> tuple[str, str]:
        courier, _, password = self.settings["MQTT_COURIERS"].split(",")[0].partition(":")
        return courier, password


def stack_settings() -> dict[str, str]:
    """.env.example with fresh secrets and free host ports."""
    settings = read_env_file(ENV_EXAMPLE)
    for name, value in settings.items():
        if "change-me" in value and name != "MQTT_COURIERS":
            settings[name] = secrets.token_hex(16)
    settings["MQTT_COURIERS"] = f"d1:{secrets.token_hex(16)},d2:{secrets.token_hex(16)}"
    settings["MQTT_CERTS"] = "mqtt-certs"
    for name in ("API_PORT", "MQTT_TLS_PORT", "MONGO_PORT", "MINIO_API_PORT", "MINIO_CONSOLE_PORT"):
        settings[name] = str(free_port())
    return settings


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = stack_settings()
    env_file = tmp_path_factory.mktemp("stack") / "stack.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    compose = DockerCompose(
        context=REPO, compose_file_name="docker-compose.yml", env_file=str(env_file),
        build=True, wait=False, services=["api", "subscriber"],
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("COMPOSE_PROJECT_NAME", f"deliverer-test-{secrets.token_hex(4)}")
        try:
            compose.start()
            ca_file = env_file.parent / "ca.crt"
            copy = [*compose.compose_command_property, "cp", "mqtt:/mosquitto/certs/ca.crt", str(ca_file)]
            subprocess.run(copy, check=True, capture_output=True, timeout=60, cwd=REPO)
            stack = Stack(settings, compose, env_file, ca_file)
            wait_until(lambda: http_status(f"{stack.api}/readyz") == 200, STARTUP_TIMEOUT_S, "the API to be ready")
        except Exception as exc:
            stdout, stderr = compose.get_logs()
            compose.services = None
            compose.stop(down=True)
            raise AssertionError(f"{exc}\n--- compose logs ---\n{stdout[-6000:]}{stderr[-2000:]}") from exc
        yield stack
        compose.services = None  # `down` the whole project, one-shot services and volumes included
        compose.stop(down=True)


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_a_couriers_report_goes_through_the_stack_and_a_spoofed_one_does_not(stack: Stack) -> None:
    courier, password = stack.courier()
    now = datetime.now(UTC) - timedelta(minutes=1)
    own = LocationReport(
        msg_id="stack-own", order_id="stack-order-1", deliverer_id=courier,
        delivery_state=DeliveryState.ON_THE_WAY, timestamp=now, latitude=45.4642, longitude=9.19,
    )
    spoofed = own.model_copy(update={"msg_id": "stack-spoofed", "order_id": "stack-order-2", "deliverer_id": "d2"})

    session = stack.device(courier, password)
    assert not session.open().is_failure
    try:
        assert session.publish(spoofed.topic, spoofed.to_json()).getName() == "Not authorized"
        assert not session.publish(own.topic, own.to_json()).is_failure
    finally:
        session.close()

    last = f"{stack.api}/v1/orders/{own.order_id}/last-location"
    wait_until(lambda: http_status(last) == 200, 60, "the report to be readable through the API")
    assert get_json(last) == own.to_json_dict()
    assert http_status(f"{stack.api}/v1/orders/{spoofed.order_id}/last-location") == 404

    stranger = stack.device("nobody", "guess")
    try:
        assert stranger.open().is_failure
    finally:
        stranger.close()


def mongo(stack: Stack) -> MongoClient[dict[str, Any]]:
    s = stack.settings
    return MongoClient(
        f"mongodb://{s['MONGO_APP_USERNAME']}:{s['MONGO_APP_PASSWORD']}@127.0.0.1:{s['MONGO_PORT']}/"
        f"{s['MONGO_APP_DATABASE']}", serverSelectionTimeoutMS=10_000,
    )


def test_the_application_account_logs_in_and_the_store_made_its_indexes(stack: Stack) -> None:
    with mongo(stack) as client:
        database = client.get_default_database()
        for collection, models in INDEXES.items():
            names = set(database[collection].index_information())
            assert {model.document["name"] for model in models} <= names, collection


def subscriber_health(stack: Stack, replica: int) -> dict[str, Any]:
    # The body says why when the answer is 503 (not yet connected or subscribed).
    probe = (
        "import urllib.error, urllib.request\n"
        "try: print(urllib.request.urlopen('http://127.0.0.1:9100/healthz').read().decode())\n"
        "except urllib.error.HTTPError as error: print(error.read().decode())"
    )
    command = [*stack.compose.compose_command_property, "exec", "-T", "--index", str(replica), "subscriber"]
    done = subprocess.run([*command, "python", "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_scaled_subscribers_split_the_reports_under_their_own_client_ids(stack: Stack) -> None:
    scale = [*stack.compose.compose_command_property, "up", "-d", "--no-build", "--scale", "subscriber=2", "subscriber"]
    subprocess.run(scale, check=True, capture_output=True, timeout=300, cwd=REPO)
    wait_until(
        lambda: all(subscriber_health(stack, i).get("subscribed") for i in (1, 2)), 120, "both replicas subscribed"
    )
    reports = make_reports(400, orders=20, prefix="scaled")
    publisher = stack.device("svc~publisher", stack.settings["MQTT_PUBLISHER_PASSWORD"])
    try:
        assert not publisher.open().is_failure
        assert not any(publisher.publish(r.topic, r.to_json()).is_failure for r in reports)
    finally:
        publisher.close()

    with mongo(stack) as client:
        locations = client.get_default_database()["locations"]
        wait_until(
            lambda: locations.count_documents({"order_id": {"$regex": "^scaled-"}}) == 400, 120, "all reports stored"
        )
    health = [subscriber_health(stack, i) for i in (1, 2)]
    assert health[0]["client_id"] != health[1]["client_id"]
    assert all(h["client_id"].startswith("deliverer-subscriber-") for h in health)
    assert all(h["received"] > 0 for h in health), "the shared subscription gave one replica nothing"


def rotate(stack: Stack, **changes: str) -> None:
    """Change .env and run `up` again, as a person rotating a secret does."""
    stack.settings.update(changes)
    stack.env_file.write_text("".join(f"{name}={value}\n" for name, value in stack.settings.items()))
    up = [*stack.compose.compose_command_property, "up", "-d", "--no-build", "--wait", "api", "subscriber"]
    done = subprocess.run(up, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr


def test_a_rotated_mongodb_application_password_is_applied_by_the_next_up(stack: Stack) -> None:
    old = stack.settings["MONGO_APP_PASSWORD"]
    rotate(stack, MONGO_APP_PASSWORD=secrets.token_hex(16))
    with mongo(stack) as client:
        assert client.get_default_database().command("ping")["ok"] == 1
    s = stack.settings
    stale: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://{s['MONGO_APP_USERNAME']}:{old}@127.0.0.1:{s['MONGO_PORT']}/{s['MONGO_APP_DATABASE']}",
        serverSelectionTimeoutMS=10_000,
    )
    with stale, pytest.raises(OperationFailure):
        stale.get_default_database().command("ping")
    assert http_status(f"{stack.api}/readyz") == 200, "the services did not follow the new password"


def test_a_rotated_courier_password_works_without_restarting_the_broker(stack: Stack) -> None:
    courier, old = stack.courier()
    started_at = broker_started_at(stack)
    new = secrets.token_hex(16)
    rotate(stack, MQTT_COURIERS=f"{courier}:{new},d2:{secrets.token_hex(16)}")
    assert logs_in(stack.device(courier, new)), "mqtt-auth applies it to the running broker before `up` ends"
    assert not logs_in(stack.device(courier, old))
    assert broker_started_at(stack) == started_at, "the broker was restarted"


def broker_started_at(stack: Stack) -> str:
    command = [*stack.compose.compose_command_property, "ps", "--format", "json", "mqtt"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=REPO, check=True)
    container = json.loads(done.stdout.splitlines()[0])["ID"]
    inspect = ["docker", "inspect", "--format", "{{.State.StartedAt}}", container]
    return subprocess.run(inspect, capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def logs_in(session: MqttSession) -> bool:
    try:
        return not session.open().is_failure
    finally:
        session.close()
