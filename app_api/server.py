"""Serve the app with gunicorn, in-process (no gunicorn command line, no import-string app).

Workers are ``gthread``: each worker process has a pool of threads sharing that process's one
MQTT connection and store client. The app is built in each worker after the fork
(``preload_app`` off), so nothing made in the master is inherited.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker
from prometheus_client import multiprocess

from app_api.resources import close_resources
from app_api.slow_clients import REQUEST_READ_TIMEOUT_S, deadline_worker

log = logging.getLogger(__name__)

WsgiApp = Callable[..., Any]



class GunicornServer(BaseApplication):
    def __init__(self, app_factory: Callable[[], WsgiApp], options: dict[str, Any]) -> None:
        self._app_factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> WsgiApp:
        return self._app_factory()


def gunicorn_options(
    host: str, port: int, workers: int, threads: int, *, metrics_dir: str | None, access_log: bool,
    log_level: str, request_read_timeout_s: float = REQUEST_READ_TIMEOUT_S,
) -> dict[str, Any]:
    def when_ready(server: Arbiter) -> None:
        for listener in server.LISTENERS:
            log.info("API listening on %s (gunicorn, %d workers x %d threads)", listener, workers, threads)

    def worker_exit(_server: Arbiter, worker: Worker) -> None:
        # After in-flight requests finished: leave the broker with a clean DISCONNECT.
        app = getattr(worker, "wsgi", None)
        if isinstance(app, Flask):
            close_resources(app)

    def child_exit(_server: Arbiter, worker: Worker) -> None:
        if metrics_dir:
            multiprocess.mark_process_dead(worker.pid, metrics_dir)

    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": deadline_worker(request_read_timeout_s),
        "preload_app": False,
        "keepalive": 5,
        "timeout": 30,
        "graceful_timeout": 10,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": log_level.lower(),
        "proc_name": "deliverer-api",
        # The default control socket is one path per user: two servers on one machine would fight.
        "control_socket_disable": True,
        "when_ready": when_ready,
        "worker_exit": worker_exit,
        "child_exit": child_exit,
    }
