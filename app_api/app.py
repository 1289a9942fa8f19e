"""The Flask application factory: configuration in, a WSGI app with every blueprint out.

Nothing connects here: the broker and the store are opened on first use in each worker process
(see :mod:`app_api.resources`), unless the caller gives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app_api import couriers, health, ingest, legacy, lookups, openapi, reads, tracking, tracks
from app_api.errors import register_error_handlers
from app_api.metrics import init_metrics
from app_api.resources import EXTENSION_KEY, ResourceSettings, WorkerResources
from deliverer.publishing import ReportPublisher
from deliverer.settings import ACTIVE_WITHIN, LIVE_PORT, MAX_REPORTS_PER_POST, MQTT_URL, PUBLISH_TIMEOUT, STORE_URL
from deliverer.store import Store

DEFAULT_CONFIG: dict[str, Any] = {
    "STORE_URL": STORE_URL.default_value,
    "MQTT_URL": MQTT_URL.default_value,
    "API_KEY": None,
    "API_KEY_READS": False,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "MAX_BATCH": MAX_REPORTS_PER_POST,
    "PUBLISH_TIMEOUT_S": PUBLISH_TIMEOUT.default_value,
    "BROKER_WAIT_S": 1.0,
    "PUBLISH_WINDOW": 5000,
    "MQTT_CLIENT_ID_PREFIX": "deliverer-api",
    "METRICS_MULTIPROC_DIR": None,
    "LEGACY_TIMEZONE": None,
    "TRACKING_SECRET": None,
    "SERVES_LIVE": False,
    "LIVE_URL": None,
    "LISTEN_HOST": "127.0.0.1",
    "LIVE_PORT": LIVE_PORT.default_value,
    "ACTIVE_WITHIN_MINUTES": ACTIVE_WITHIN.default_value,
    "TILE_URL": None,
    "TILE_ATTRIBUTION": None,
}
"""``PUBLISH_TIMEOUT_S``: how long a POST waits for the broker's PUBACKs; ``BROKER_WAIT_S``: how
long a request waits for a (re)connection before answering 503; ``PUBLISH_WINDOW``: most
unacknowledged publishes per worker process; ``LEGACY_TIMEZONE``: the ``tzinfo`` the original
system's routes read and write timestamps without offset in, ``None`` for the server's local time;
``TRACKING_SECRET``: the key tracking links are signed with (bytes; ``None``: no links);
``SERVES_LIVE``: this app runs inside the live server, which serves the tracking pages (else they
redirect there); ``LIVE_URL``: where browsers reach the live server (``None``: ``LISTEN_HOST``, the address this
server listens on, at ``LIVE_PORT``); ``ACTIVE_WITHIN_MINUTES``: an order is active with a report this recent;
``TILE_URL``/``TILE_ATTRIBUTION``: map tiles for the tracking page (``None``: drawn without)."""


def create_app(
    config: Mapping[str, Any] | None = None, *, store: Store | None = None, publisher: ReportPublisher | None = None
) -> Flask:
    """The app for ``config`` (over :data:`DEFAULT_CONFIG`). The store and the publisher are opened from
    ``STORE_URL`` and ``MQTT_URL`` in each worker process, unless given here: then they are used as they
    are, and whoever gave them closes them (tests pass an in-memory store and a stand-in publisher)."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULT_CONFIG)
    if config:
        app.config.from_mapping(config)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION_KEY] = WorkerResources(
        ResourceSettings(
            store_url=app.config["STORE_URL"],
            mqtt_url=app.config["MQTT_URL"],
            publish_window=app.config["PUBLISH_WINDOW"],
            client_id_prefix=app.config["MQTT_CLIENT_ID_PREFIX"],
        ),
        store=store,
        publisher=publisher,
    )
    init_metrics(app, app.config["METRICS_MULTIPROC_DIR"])
    register_error_handlers(app)
    for blueprint in (
        ingest.bp, reads.bp, couriers.bp, tracks.bp, lookups.bp, tracking.bp, legacy.bp, health.bp, openapi.bp,
    ):
        app.register_blueprint(blueprint)
    return app
