"""The long-lived connections of one worker process: one MQTT publisher and one store client.

They are opened lazily on first use, never at import or app creation, and re-opened when the
process id changes, so a gunicorn worker forked from a parent that already had them still gets
its own (a paho socket or a SQLite connection must never be shared across a fork).

A store or publisher given to :func:`app_api.app.create_app` is used as it is instead: its owner
(a test, a benchmark) opened it and closes it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass

from flask import Flask, current_app

from deliverer.mqtt import parse_mqtt_url
from deliverer.publishing import ReportPublisher, WindowedPublisher
from deliverer.store import Store, StoreUnavailable, open_store

log = logging.getLogger(__name__)

EXTENSION_KEY = "deliverer_api"


@dataclass(frozen=True)
class ResourceSettings:
    store_url: str
    mqtt_url: str
    publish_window: int
    client_id_prefix: str


class WorkerResources:
    def __init__(
        self, settings: ResourceSettings, store: Store | None = None, publisher: ReportPublisher | None = None
    ) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._given_store = store
        self._given_publisher = publisher
        self._publisher: ReportPublisher | None = None
        self._store: Store | None = None

    def _forget_if_forked(self) -> None:
        """Called with the lock held. The parent's objects are dropped, not closed: closing them
        here would disconnect the parent's socket."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._publisher = None
            self._store = None

    def publisher(self) -> ReportPublisher:
        """This process's publisher; its network loop (re)connects on its own, with backoff."""
        if self._given_publisher is not None:
            return self._given_publisher
        publisher = self._publisher
        if publisher is not None and self._pid == os.getpid():
            return publisher
        with self._lock:
            self._forget_if_forked()
            if self._publisher is None:
                client_id = "-".join(
                    (self.settings.client_id_prefix, socket.gethostname(), str(os.getpid()), uuid.uuid4().hex[:6])
                )
                endpoint = parse_mqtt_url(self.settings.mqtt_url)
                self._publisher = WindowedPublisher(
                    endpoint, client_id=client_id, window=self.settings.publish_window
                ).start()
                log.info("publishing to %s as %s", endpoint, client_id)
            return self._publisher

    def store(self) -> Store:
        if self._given_store is not None:
            return self._given_store
        store = self._store
        if store is not None and self._pid == os.getpid():
            return store
        with self._lock:
            self._forget_if_forked()
            if self._store is None:
                try:
                    # The API only reads: the subscriber creates the store, the API never does.
                    self._store = open_store(self.settings.store_url, create=False)
                except OSError as exc:  # e.g. the SQLite file's folder cannot be created
                    raise StoreUnavailable(f"cannot open the store: {exc}") from exc
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._pid != os.getpid():
                return
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None
            if self._store is not None:
                self._store.close()
                self._store = None


def close_resources(app: Flask) -> None:
    """Close this process's connections of ``app`` (gunicorn's worker_exit hook, tests)."""
    resources: WorkerResources = app.extensions[EXTENSION_KEY]
    resources.close()


def resources() -> WorkerResources:
    resources: WorkerResources = current_app.extensions[EXTENSION_KEY]
    return resources


def get_publisher() -> ReportPublisher:
    return resources().publisher()


def get_store() -> Store:
    return resources().store()
