from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deliverer.local_broker import Mosquitto, free_port
from tests.helpers import ServiceProcess

_ids = itertools.count()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "mosquitto").start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/store.db"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start ``deliverer`` subcommands as processes; all are stopped at the end of the test."""
    started: list[ServiceProcess] = []

    def start(
        *args: str, env: dict[str, str] | None = None, name: str = "service", module: str = "deliverer_cli.main"
    ) -> ServiceProcess:
        proc = ServiceProcess(list(args), tmp_path / f"{name}-{next(_ids)}.log", env, module=module).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.alive:
            proc.kill()


@pytest.fixture
def subscriber(
    broker: Mosquitto, sqlite_url: str, services: Callable[..., ServiceProcess]
) -> Callable[..., ServiceProcess]:
    """Start a subscriber on the test's broker and store, waiting until it has subscribed."""

    def start(*extra: str, client_id: str = "test-subscriber", store: str | None = None) -> ServiceProcess:
        port = free_port()
        proc = services(
            "subscribe", "--mqtt-url", broker.url, "--store", store or sqlite_url,
            "--client-id", client_id, "--metrics-port", str(port), *extra, name=f"subscriber-{client_id}",
        )
        proc.metrics_port = port
        proc.wait_subscribed()
        return proc

    return start
