"""The API app built by its factory on an in-memory store and a publisher double: no broker, no file."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app_api.app import create_app
from deliverer.store.memory import MemoryStore
from tests.unit.app_api.publisher_double import PublisherDouble


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def publisher() -> PublisherDouble:
    return PublisherDouble()


@pytest.fixture
def app(store: MemoryStore, publisher: PublisherDouble) -> Flask:
    return create_app(store=store, publisher=publisher)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
