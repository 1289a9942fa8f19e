"""The API app in-process (Flask test client) on a real Mosquitto and a real SQLite file."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app_api.app import create_app
from app_api.resources import close_resources
from deliverer.local_broker import Mosquitto
from deliverer.mqtt import new_client, parse_mqtt_url
from deliverer.store import Store, open_store


@pytest.fixture
def make_app(broker: Mosquitto, sqlite_url: str) -> Iterator[Callable[..., Flask]]:
    """Build apps on the test's broker and store; their connections are closed at teardown.

    The store is created first, as the subscriber does in every deployment: the API never creates it.
    """
    open_store(sqlite_url).close()
    apps: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = create_app({"STORE_URL": sqlite_url, "MQTT_URL": broker.url, **config})
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_resources(app)


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app().test_client()


class TopicListener:
    """A real MQTT client subscribed to every courier topic, collecting what the API published."""

    def __init__(self, url: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = new_client(parse_mqtt_url(url), f"api-test-listener-{uuid.uuid4().hex[:8]}")
        self._client.on_connect = lambda c, *_: c.subscribe("deliverers/+/location", qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        endpoint = parse_mqtt_url(url)
        self._client.connect(endpoint.host, endpoint.port)
        self._client.loop_start()
        assert self._subscribed.wait(10), "the test listener never subscribed"

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def received(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def listener(broker: Mosquitto) -> Iterator[TopicListener]:
    topic_listener = TopicListener(broker.url)
    yield topic_listener
    topic_listener.close()


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    opened = open_store(sqlite_url)
    yield opened
    opened.close()
