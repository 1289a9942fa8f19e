"""``deliverer live``: the live server (order streams and tracking pages) on gunicorn's asyncio worker."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from typing import Any

from app_api.cli import (
    _fresh_metrics_dir,
    add_tracking_settings,
    app_config,
    check_server_settings,
    check_tracking_flags,
    note_where_browsers_go,
    refuse_placeholder_secrets,
)
from deliverer.settings import (
    LEGACY_TIMEZONE,
    LIVE_END_AFTER_ARRIVED,
    LIVE_HEARTBEAT,
    LIVE_HOST,
    LIVE_MAX_STREAMS,
    LIVE_POLL,
    LIVE_WORKERS,
    LIVE_WSGI_THREADS,
    MQTT_URL,
    PUBLISH_TIMEOUT,
    STORE_URL,
)
from deliverer.settings.arguments import add_settings
from deliverer.usage import UsageError

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "live",
        help="serve live order streams and tracking pages (and the whole API, for browsers)",
        description="Serve GET /v1/orders/{order_id}/live (Server-Sent Events), the tracking pages"
        " /track/ and /track/{order_id}, and every API route beside them, on gunicorn's asyncio"
        " worker: a stream holds no thread. Same keys and tokens as `deliverer api` (see the environment below).",
    )
    add_settings(
        parser, LIVE_HOST, STORE_URL, MQTT_URL, LIVE_WORKERS, LIVE_WSGI_THREADS, LIVE_POLL, LIVE_HEARTBEAT,
        LIVE_END_AFTER_ARRIVED, LIVE_MAX_STREAMS, PUBLISH_TIMEOUT, LEGACY_TIMEZONE,
    )
    add_tracking_settings(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.wsgi_threads < 1 or args.max_streams < 1:
        raise UsageError("--workers, --wsgi-threads and --max-streams must be at least 1")
    if args.poll <= 0 or args.heartbeat <= 0 or args.end_after_arrived < 0:
        raise UsageError("--poll and --heartbeat must be positive, --end-after-arrived not negative")
    check_tracking_flags(args)
    check_server_settings(args)
    refuse_placeholder_secrets(args)
    note_where_browsers_go(args)
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker
    from prometheus_client import multiprocess

    from app_api.app import create_app
    from app_api.live.asgi import LiveApp
    from app_api.live.feed import LiveFeed
    from app_api.live.stream import StreamSettings
    from app_api.metrics import enable_multiprocess
    from app_api.resources import close_resources
    from app_api.server import GunicornServer
    from deliverer.store import open_store

    master_pid = os.getpid()
    metrics_dir = _fresh_metrics_dir()
    enable_multiprocess(metrics_dir)
    config = {**app_config(args, metrics_dir), "SERVES_LIVE": True}
    settings = StreamSettings(
        heartbeat_s=args.heartbeat, end_after_arrived_s=args.end_after_arrived, max_streams=args.max_streams
    )

    def build() -> LiveApp:
        feed = LiveFeed(lambda: open_store(args.store, create=False), poll_s=args.poll)
        return LiveApp(create_app(config), feed, settings, wsgi_threads=args.wsgi_threads)

    def when_ready(server: Arbiter) -> None:
        for listener in server.LISTENERS:
            log.info("live server listening on %s (gunicorn asgi, %d workers)", listener, args.workers)

    def worker_exit(_server: Arbiter, worker: Worker) -> None:
        app = getattr(worker, "asgi", None)
        if isinstance(app, LiveApp):
            close_resources(app.flask_app)

    def child_exit(_server: Arbiter, worker: Worker) -> None:
        multiprocess.mark_process_dead(worker.pid, metrics_dir)

    host = args.host
    options: dict[str, Any] = {
        "bind": f"[{host}]:{args.live_port}" if ":" in host else f"{host}:{args.live_port}",
        "workers": args.workers,
        "worker_class": "asgi",
        "worker_connections": args.max_streams + 1000,
        "preload_app": False,
        "keepalive": 5,
        "timeout": 30,
        # Streams never finish on their own; clients resume with Last-Event-ID, so cut them short.
        "graceful_timeout": 2,
        "errorlog": "-",
        "loglevel": args.log_level.lower(),
        "proc_name": "deliverer-live",
        "control_socket_disable": True,
        "when_ready": when_ready,
        "worker_exit": worker_exit,
        "child_exit": child_exit,
    }
    try:
        GunicornServer(build, options).run()
    finally:
        if os.getpid() == master_pid:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
