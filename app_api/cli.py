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
from deliverer.settings import (
    ACTIVE_WITHIN,
    API_ACCESS_LOG,
    API_HOST,
    API_KEY,
    API_KEY_READS,
    API_PORT,
    API_SERVER,
    API_THREADS,
    API_WORKERS,
    LEGACY_TIMEZONE,
    LIVE_PORT,
    LIVE_URL,
    MQTT_URL,
    PUBLISH_TIMEOUT,
    STORE_URL,
    TILE_ATTRIBUTION,
    TILE_URL,
    TRACKING_SECRET,
)
from deliverer.settings.arguments import add_environment_settings, add_settings
from deliverer.store import refuse_process_local
from deliverer.usage import UsageError

log = logging.getLogger(__name__)

METRICS_DIR_PREFIX = "deliverer-api-metrics-"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "api",
        help="serve the HTTP API (ingest to MQTT, reads from the store)",
        description="Serve the HTTP API with gunicorn (gthread workers). Writes need the X-API-Key header when"
        " an API key is set, reads too when asked; tracking links are signed (see the environment below).",
    )
    add_settings(
        parser, API_HOST, API_PORT, STORE_URL, MQTT_URL, API_WORKERS, API_THREADS, API_SERVER, PUBLISH_TIMEOUT,
        LEGACY_TIMEZONE, API_ACCESS_LOG,
    )
    add_tracking_settings(parser)
    parser.set_defaults(func=run)


def add_tracking_settings(parser: argparse.ArgumentParser) -> None:
    """The keys, and the settings of the tracking pages and links, which the API and the live server share."""
    add_settings(parser, LIVE_URL, LIVE_PORT, TILE_URL, TILE_ATTRIBUTION, ACTIVE_WITHIN)
    add_environment_settings(parser, API_KEY, API_KEY_READS, TRACKING_SECRET)


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


def check_server_settings(args: argparse.Namespace) -> None:
    """What the API and the live server refuse to start with: a store only they could see, reads said to
    need a key that does not exist (they would be open), a key no client can send."""
    from app_api.auth import API_KEY_HEADER

    refuse_process_local(args.store)
    if args.api_key_reads and not args.api_key:
        raise UsageError(f"{API_KEY_READS.env} asks reads to need the API key, but {API_KEY.env} is not set")
    key = args.api_key
    if key and not (key.isascii() and key.isprintable() and key.strip() == key):
        # HTTP strips spaces around a header value and gives non-ASCII bytes back as Latin-1, so such a key
        # could never match; never echo it, it is a secret.
        raise UsageError(
            f"{API_KEY.env} must be printable ASCII with no space at either end: clients send it in the"
            f" {API_KEY_HEADER} header, which carries nothing else intact"
        )


def note_where_browsers_go(args: argparse.Namespace) -> None:
    """Redirects and tracking links never follow a request's Host header: without LIVE_URL they point at
    the address this server listens on, which on a wildcard address is this machine's loopback."""
    from app_api.tracking import WILDCARD_HOSTS, fallback_live_url

    if not args.live_url and args.host in WILDCARD_HOSTS:
        log.warning(
            "%s is not set: tracking links and redirects to the live server point at %s, which only this"
            " machine reaches; set it to the live server's public URL", LIVE_URL.env,
            fallback_live_url(args.host, args.live_port),
        )


def app_config(args: argparse.Namespace, metrics_dir: str | None) -> dict[str, Any]:
    """The app's configuration from the parsed flags and environment settings."""
    return {
        "STORE_URL": args.store,
        "MQTT_URL": args.mqtt_url,
        "API_KEY": args.api_key or None,
        "API_KEY_READS": args.api_key_reads,
        "PUBLISH_TIMEOUT_S": args.publish_timeout,
        "METRICS_MULTIPROC_DIR": metrics_dir,
        "LEGACY_TIMEZONE": zone_named(args.legacy_timezone),
        "TRACKING_SECRET": secret_from(args.tracking_secret or None, args.api_key or None),
        "LIVE_URL": args.live_url or None,
        "LISTEN_HOST": args.host,
        "LIVE_PORT": args.live_port,
        "TILE_URL": args.tile_url or None,
        "TILE_ATTRIBUTION": args.tile_attribution or None,
        "ACTIVE_WITHIN_MINUTES": args.active_within,
    }


def refuse_placeholder_secrets(args: argparse.Namespace) -> None:
    """The API key and the passwords in the broker and store URLs, as .env hands them to the container."""
    refuse_placeholders({
        API_KEY.env: args.api_key,
        TRACKING_SECRET.env: args.tracking_secret,
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
    check_server_settings(args)
    note_where_browsers_go(args)
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
