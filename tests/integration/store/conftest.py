"""The ``store`` fixture: every contract test runs on SQLite, on the in-memory store and, where a server
answers, MongoDB.

MongoDB comes from :mod:`tests.mongo_server` (``$DELIVERER_TEST_MONGO_URL``, else a replica set of
one in a container of the image Compose pins, else skipped with the reason). Each test gets a fresh
database and an application account, as the Compose services do, and the database is migrated by
``deliverer store migrate``'s own code, with that account, before the store opens.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deliverer.store import Store, open_store
from deliverer_cli.store import migrate_store
from tests.mongo_server import application_database, mongo_server, unavailable_reason


@pytest.fixture(scope="session")
def mongo_server_url() -> Iterator[str]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"MongoDB backend not tested: {reason}")
    with mongo_server() as url:
        yield url


@pytest.fixture
def fresh_mongo_url(mongo_server_url: str) -> Iterator[str]:
    """A database nothing has touched yet, and the application account's URL for it."""
    with application_database(mongo_server_url, "deliverer_test") as url:
        yield url


@pytest.fixture
def mongo_url(fresh_mongo_url: str) -> str:
    migrate_store(fresh_mongo_url)
    return fresh_mongo_url


@pytest.fixture(params=["sqlite", "mongodb", "memory"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db"
    if request.param == "memory":
        return f"memory://contract-{uuid.uuid4().hex}"
    return str(request.getfixturevalue("mongo_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()
