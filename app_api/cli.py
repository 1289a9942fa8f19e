"""``deliverer api``: serve the HTTP API with gunicorn (or the Flask dev server for debugging)."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app_api.legacy_dialect import zone_label, zone_named
from app_api.tracking_links import secret_from
from deliverer.placeholders import refuse_placeholders
from deliverer.settings import DEFAULT_STORE_URL, ENV_STORE_URL, default_mqtt_url, env, local_api_port
from deliverer.usage import UsageError

log = logging.getLogger(__name__)

METRICS_DIR_PREFIX = "deliverer-api-metrics-"
ENV_API_KEY = "DELIVERER_API_KEY"
ENV_API_KEY_READS = "DELIVERER_API_KEY_READS"
ENV_LEGACY_TIMEZONE = "DELIVERER_LEGACY_TIMEZONE"
ENV_TRACKING_SECRET = "DELIVERER_TRACKING_SECRET"
DEFAULT_LIVE_PORT = "8001"


DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
"""``deliverer api`` without ``--workers``; the benchmarks serve with the same."""
DEFAULT_THREADS = 8

def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "api",
        help="serve the HTTP API (ingest to MQTT, reads from the store)",
        description="Serve the HTTP API with gunicorn (gthread workers). Writes need the X-API-Key"
        f" header when ${ENV_API_KEY} is set; reads too when ${ENV_API_KEY_READS}=1. Tracking links are"
        f" signed with ${ENV_TRACKING_SECRET} (else a key derived from ${ENV_API_KEY}).",
    )
    parser.add_argument("--host", default=env("DELIVERER_API_HOST", "127.0.0.1"),
                        help="address [$DELIVERER_API_HOST]")
    parser.add_argument("--port", type=int, default=local_api_port(),
                        help="port (default 8000, or the port of a local $DELIVERER_API_URL) [$DELIVERER_API_PORT]")
    parser.add_argument("--store", default=env(ENV_STORE_URL, DEFAULT_STORE_URL),
                        help="store URL [$DELIVERER_STORE_URL]")
    parser.add_argument("--mqtt-url", default=default_mqtt_url(),
                        help="broker (default mqtt://127.0.0.1:$DELIVERER_MQTT_PORT) [$DELIVERER_MQTT_URL]")
    parser.add_argument(
        "--workers", type=int, default=int(env("DELIVERER_API_WORKERS", str(DEFAULT_WORKERS))),
        help="worker processes, each with one MQTT connection and one store client [$DELIVERER_API_WORKERS]",
    )
    parser.add_argument("--threads", type=int, default=int(env("DELIVERER_API_THREADS", str(DEFAULT_THREADS))),
                        help="threads per worker [$DELIVERER_API_THREADS]")
    parser.add_argument(
        "--server", choices=("gunicorn", "flask"), default=env("DELIVERER_API_SERVER", "gunicorn"),
        help="gunicorn for real use; flask = the single-process dev server, for debugging only"
        " [$DELIVERER_API_SERVER]",
    )
    parser.add_argument(
        "--publish-timeout", type=float, default=float(env("DELIVERER_API_PUBLISH_TIMEOUT", "5")),
        help="seconds a POST waits for the broker's acknowledgements before answering 503"
        " [$DELIVERER_API_PUBLISH_TIMEOUT]",
    )
    parser.add_argument(
        "--legacy-timezone", default=env(ENV_LEGACY_TIMEZONE, "local"),
        help="the zone the original system's route (POST /v1/deliverer_location/) reads timestamps without"
        " offset in, and its GET writes them in: an IANA name such as Europe/Rome, or 'local' for this"
        " server's zone (default, what the original assumed) [$DELIVERER_LEGACY_TIMEZONE]",
    )
    parser.add_argument(
        "--access-log", action="store_true", default=env("DELIVERER_API_ACCESS_LOG", "") == "1",
        help="log every request (gunicorn) [$DELIVERER_API_ACCESS_LOG=1]",
    )
    add_tracking_flags(parser)
    parser.set_defaults(func=run)


def add_tracking_flags(parser: argparse.ArgumentParser) -> None:
    """Flags of the tracking pages and links, which the API and the live server both serve."""
    parser.add_argument(
        "--live-url", default=env("DELIVERER_LIVE_URL", ""),
        help="where browsers reach the live server, for tracking links and redirects (default: the"
        " request's host on --live-port) [$DELIVERER_LIVE_URL]",
    )
    parser.add_argument("--live-port", type=int, default=int(env("DELIVERER_LIVE_PORT", DEFAULT_LIVE_PORT)),
                        help="the live server's port [$DELIVERER_LIVE_PORT]")
    parser.add_argument(
        "--tile-url", default=env("DELIVERER_TILE_URL", ""),
        help="map tiles for the tracking page, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        " (default none: the route is drawn to scale without a map) [$DELIVERER_TILE_URL]",
    )
    parser.add_argument("--tile-attribution", default=env("DELIVERER_TILE_ATTRIBUTION", ""),
                        help="the tiles' attribution, shown on the map [$DELIVERER_TILE_ATTRIBUTION]")
    parser.add_argument(
        "--active-within", type=int, default=int(env("DELIVERER_ACTIVE_WITHIN_MINUTES", "30")),
        help="an order is active with a report this many minutes old or newer [$DELIVERER_ACTIVE_WITHIN_MINUTES]",
    )


def check_tracking_flags(args: argparse.Namespace) -> None:
    placeholders = ("{z}", "{x}", "{y}")
    if args.tile_url and not (
        args.tile_url.startswith(("https://", "http://")) and all(part in args.tile_url for part in placeholders)
    ):
        raise UsageError(f"--tile-url {args.tile_url!r} is not an http(s) URL with {{z}}, {{x}} and {{y}}")
    if not 1 <= args.active_within <= 7 * 24 * 60:
        raise UsageError("--active-within is 1 to 10080 minutes")
    if not 0 <= args.live_port <= 65535:
        raise UsageError(f"--live-port {args.live_port} is not a TCP port")


def app_config(args: argparse.Namespace, metrics_dir: str | None) -> dict[str, Any]:
    """The app's configuration from flags and the environment: the only place either is read."""
    return {
        "STORE_URL": args.store,
        "MQTT_URL": args.mqtt_url,
        "API_KEY": env(ENV_API_KEY, "") or None,
        "API_KEY_READS": env(ENV_API_KEY_READS, "") == "1",
        "PUBLISH_TIMEOUT_S": args.publish_timeout,
        "METRICS_MULTIPROC_DIR": metrics_dir,
        "LEGACY_TIMEZONE": zone_named(args.legacy_timezone),
        "TRACKING_SECRET": secret_from(env(ENV_TRACKING_SECRET, "") or None, env(ENV_API_KEY, "") or None),
        "LIVE_URL": getattr(args, "live_url", "") or None,
        "LIVE_PORT": getattr(args, "live_port", int(DEFAULT_LIVE_PORT)),
        "TILE_URL": getattr(args, "tile_url", "") or None,
        "TILE_ATTRIBUTION": getattr(args, "tile_attribution", "") or None,
        "ACTIVE_WITHIN_MINUTES": getattr(args, "active_within", 30),
    }


def refuse_placeholder_secrets(args: argparse.Namespace) -> None:
    """The API key and the passwords in the broker and store URLs, as .env hands them to the container."""
    refuse_placeholders({
        ENV_API_KEY: env(ENV_API_KEY, ""),
        ENV_TRACKING_SECRET: env(ENV_TRACKING_SECRET, ""),
        "the password in --mqtt-url": urlsplit(args.mqtt_url).password or "",
        "the password in --store": urlsplit(args.store).password or "",
    })


def run(args: argparse.Namespace) -> int:
    refuse_placeholder_secrets(args)
    if args.workers < 1 or args.threads < 1 or args.publish_timeout <= 0:
        raise UsageError("--workers and --threads must be at least 1, --publish-timeout positive")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port")
    check_tracking_flags(args)
    log.info("the original system's route reads timestamps without offset in %s",
             zone_label(zone_named(args.legacy_timezone)))
    if args.server == "flask":
        return _run_flask(args)
    return _run_gunicorn(args)


def _run_flask(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from app_api.app import create_app

    app = create_app(app_config(args, metrics_dir=None))
    log.warning("the Flask dev server is for debugging; use --server gunicorn for real use")
    server = make_server(args.host, args.port, app, threaded=True)  # binds here, so the log is true
    log.info("API listening on http://%s:%d (flask dev server)", args.host, server.server_port)
    server.serve_forever()
    return 0


def _run_gunicorn(args: argparse.Namespace) -> int:
    from app_api.app import create_app
    from app_api.metrics import enable_multiprocess
    from app_api.server import GunicornServer, gunicorn_options

    master_pid = os.getpid()
    metrics_dir = _fresh_metrics_dir()
    enable_multiprocess(metrics_dir)
    config = app_config(args, metrics_dir)
    options = gunicorn_options(
        args.host, args.port, args.workers, args.threads, metrics_dir=metrics_dir,
        access_log=args.access_log, log_level=args.log_level,
    )
    try:
        GunicornServer(lambda: create_app(config), options).run()
    finally:
        # Workers are forked inside run() and leave through here too: only the master cleans up.
        if os.getpid() == master_pid:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _fresh_metrics_dir() -> str:
    """A new directory for this server's worker metrics, named after this process. Directories
    of servers that died without cleaning up (SIGKILL) are removed on the way."""
    for old in Path(tempfile.gettempdir()).glob(f"{METRICS_DIR_PREFIX}*-*"):
        owner = old.name.removeprefix(METRICS_DIR_PREFIX).split("-")[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(old, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
