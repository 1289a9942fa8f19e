"""``deliverer live``: the live server (order streams and tracking pages) on gunicorn's asyncio worker."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from typing import Any

from app_api.cli import (
    _fresh_metrics_dir,
    add_tracking_flags,
    app_config,
    check_tracking_flags,
    refuse_placeholder_secrets,
)
from deliverer.settings import DEFAULT_STORE_URL, ENV_STORE_URL, default_mqtt_url, env
from deliverer.usage import UsageError

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "live",
        help="serve live order streams and tracking pages (and the whole API, for browsers)",
        description="Serve GET /v1/orders/{order_id}/live (Server-Sent Events), the tracking pages"
        " /track/ and /track/{order_id}, and every API route beside them, on gunicorn's asyncio"
        " worker: a stream holds no thread. Same keys and tokens as `deliverer api`: $DELIVERER_API_KEY,"
        " $DELIVERER_API_KEY_READS, $DELIVERER_TRACKING_SECRET.",
    )
    parser.add_argument("--host", default=env("DELIVERER_LIVE_HOST", "127.0.0.1"), help="[$DELIVERER_LIVE_HOST]")
    parser.add_argument("--store", default=env(ENV_STORE_URL, DEFAULT_STORE_URL),
                        help="store URL [$DELIVERER_STORE_URL]")
    parser.add_argument("--mqtt-url", default=default_mqtt_url(),
                        help="broker, for the API's POSTs served here too [$DELIVERER_MQTT_URL]")
    parser.add_argument("--workers", type=int, default=int(env("DELIVERER_LIVE_WORKERS", "1")),
                        help="worker processes, each an event loop with its own tail of the store"
                        " [$DELIVERER_LIVE_WORKERS]")
    parser.add_argument("--wsgi-threads", type=int, default=int(env("DELIVERER_LIVE_WSGI_THREADS", "8")),
                        help="threads per worker for the routes that are not streams [$DELIVERER_LIVE_WSGI_THREADS]")
    parser.add_argument("--poll", type=float, default=float(env("DELIVERER_LIVE_POLL_S", "0.1")),
                        help="seconds between two reads of the store's new reports [$DELIVERER_LIVE_POLL_S]")
    parser.add_argument("--heartbeat", type=float, default=float(env("DELIVERER_LIVE_HEARTBEAT_S", "15")),
                        help="seconds between keep-alive comments on a quiet stream [$DELIVERER_LIVE_HEARTBEAT_S]")
    parser.add_argument(
        "--end-after-arrived", type=float, default=float(env("DELIVERER_LIVE_END_AFTER_ARRIVED_S", "10")),
        help="seconds a stream goes on after the order's 'arrived' before it ends"
        " [$DELIVERER_LIVE_END_AFTER_ARRIVED_S]",
    )
    parser.add_argument("--max-streams", type=int, default=int(env("DELIVERER_LIVE_MAX_STREAMS", "5000")),
                        help="streams one worker holds before answering 503 [$DELIVERER_LIVE_MAX_STREAMS]")
    parser.add_argument("--publish-timeout", type=float, default=float(env("DELIVERER_API_PUBLISH_TIMEOUT", "5")),
                        help="as for `deliverer api` [$DELIVERER_API_PUBLISH_TIMEOUT]")
    parser.add_argument("--legacy-timezone", default=env("DELIVERER_LEGACY_TIMEZONE", "local"),
                        help="as for `deliverer api` [$DELIVERER_LEGACY_TIMEZONE]")
    add_tracking_flags(parser)
    # The live server listens on --live-port: the same flag tells the API where to send browsers.
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.wsgi_threads < 1 or args.max_streams < 1:
        raise UsageError("--workers, --wsgi-threads and --max-streams must be at least 1")
    if args.poll <= 0 or args.heartbeat <= 0 or args.end_after_arrived < 0:
        raise UsageError("--poll and --heartbeat must be positive, --end-after-arrived not negative")
    check_tracking_flags(args)
    refuse_placeholder_secrets(args)
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
