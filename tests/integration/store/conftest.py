"""The ``store`` fixture: every contract test runs on SQLite and, where a server is reachable, MongoDB."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from deliverer.store import Store, open_store

MONGO_ENV = "DELIVERER_TEST_MONGO_URL"


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def mongo_server_url() -> Iterator[str]:
    """A reachable MongoDB: $DELIVERER_TEST_MONGO_URL, else a testcontainer, else skip with the reason."""
    url = os.environ.get(MONGO_ENV)
    if url:
        yield url
        return
    if not docker_engine_answers():
        pytest.skip(f"MongoDB backend not tested: {MONGO_ENV} is unset and no Docker engine answers")
    from testcontainers.mongodb import MongoDbContainer

    with MongoDbContainer("mongo:7") as container:
        yield container.get_connection_url()


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@pytest.fixture
def mongo_url(request: pytest.FixtureRequest) -> Iterator[str]:
    server = request.getfixturevalue("mongo_server_url")
    database = f"deliverer_test_{uuid.uuid4().hex[:12]}"
    yield with_database(server, database)
    from pymongo import MongoClient

    with MongoClient(server) as client:
        client.drop_database(database)


@pytest.fixture(params=["sqlite", "mongodb"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db"
    return str(request.getfixturevalue("mongo_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()
