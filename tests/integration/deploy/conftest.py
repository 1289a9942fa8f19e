"""The container broker (a real mosquitto with the container config, see container_broker.py), one per
test module, and sessions opened on it as one account or another."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.integration.deploy.container_broker import UNBOUND_ACCOUNTS, ContainerBroker, running_container_broker
from tests.integration.deploy.mqtt_session import MqttSession


@pytest.fixture(scope="module")
def container_broker() -> Iterator[ContainerBroker]:
    with running_container_broker() as broker:
        yield broker


def own_client_id(username: str | None) -> str:
    """The client id an account connects with: its name where the broker binds it to one."""
    return "" if username is None or username in UNBOUND_ACCOUNTS else username


@pytest.fixture
def attempt(container_broker: ContainerBroker) -> Iterator[Callable[..., MqttSession]]:
    """Open an MQTT session as someone; whether the broker let us in is in ``session.connack``."""
    opened: list[MqttSession] = []

    def open_session(
        username: str | None, password: str | None = None, protocol: str = "5", client_id: str | None = None
    ) -> MqttSession:
        client_id = own_client_id(username) if client_id is None else client_id
        session = MqttSession(container_broker.url(username, password, protocol), client_id=client_id)
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


