"""Every setting of every ``deliverer`` command, declared once: flag, environment variable, default,
help and type.

Commands build their parsers from this table (:func:`deliverer.settings.arguments.add_settings`);
each flag's help, ``deliverer settings`` and README's Configuration table are generated from it.
Flags win over variables, which win over the defaults: the embedded local setup.

Names: ``DELIVERER_<NAME>`` for what several commands share (where the store, the broker, the API
and the lake are; logging; the API's keys and tracking pages), ``DELIVERER_<COMMAND>_<NAME>`` for
one command's own flags (``DELIVERER_SUBSCRIBE_BATCH_SIZE``, ``DELIVERER_PUBLISH_WORKERS``), where
a family of commands shares the first word (``broker``, ``broker-accounts`` and ``broker-certs``
read ``DELIVERER_BROKER_*``; ``athena`` and ``query`` read ``DELIVERER_ATHENA_*``).

Only the command-line edge reads the environment; everything below it receives plain values.
A setting whose default the lake library owns (Spark's master, the export's settle time, ...) has
no default here: its command supplies it from that library when it adds the flag.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from deliverer.durations import parse_duration, positive_duration
from deliverer.mqtt import checked_mqtt_url
from deliverer.publishing import MAX_WINDOW
from deliverer.redact import without_secrets
from deliverer.settings.setting import (
    PORT,
    PORT_OR_ZERO,
    Environment,
    FromVariable,
    Setting,
    number,
    optional_path,
    optional_whole_number,
    seconds,
    whole_number,
)
from deliverer.store.base import DEFAULT_REJECTED_MAX_AGE, DEFAULT_REJECTED_MAX_COUNT
from deliverer.topic_filters import checked_topic_filter
from deliverer.usage import UsageError

PLAIN_TOPIC = "deliverers/+/location"
"""Every courier's topic. A single subscriber uses it: Mosquitto restores it after a restart."""
SUBSCRIBE_TOPIC = f"$share/ingest/{PLAIN_TOPIC}"
"""The replicas' shared subscription: splits the stream, but Mosquitto 2.0 forgets it on restart."""
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
MAX_REPORTS_PER_POST = 1000
"""The API takes at most this many reports in one POST."""


def _loopback_port(environ: Environment, url_setting: Setting) -> str:
    """The explicit port of the URL variable ``url_setting`` when it is on this machine; '' for none
    or another host. A port that is not one comes back as it is, marked as that variable's, so the
    port's own type refuses it naming the variable rather than the default port taking its place.
    A URL that does not parse at all is reported where the URL is used."""
    url = environ.get(url_setting.env, "")
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.hostname not in LOOPBACK_HOSTS:
        return ""
    try:
        port = parts.port
    except ValueError:
        return FromVariable(parts.netloc.rpartition(":")[2], url_setting.env)
    return str(port) if port is not None else ""


def _local_url(scheme: str, port_setting: Setting, environ: Environment) -> str:
    """The default URL of a service on this machine, at its port setting (whose variable an error names)."""
    port = port_setting.text(environ)
    url = f"{scheme}://127.0.0.1:{port}"
    return FromVariable(url, port.variable) if isinstance(port, FromVariable) else url


def _schedule(text: str) -> str:
    """An export schedule as given, once it is a positive duration or has a cron expression's five
    fields (whether they make one is croniter's to say, where the schedule is used)."""
    if not text:
        return text
    try:
        positive_duration(text)
    except UsageError as exc:
        if len(text.split()) == 5:
            return text
        raise UsageError(f"{exc}, nor a five-field cron expression ('*/15 * * * *')") from None
    return text


def _checked_http_url(url: str) -> str:
    """The URL as given, once its port (if any) is a port."""
    try:
        _ = urlsplit(url).port  # parsed on access
    except ValueError as exc:
        raise UsageError(f"invalid URL {without_secrets(url)!r}: {exc}") from None
    return url


# --- every command ---------------------------------------------------------------------------

LOG_LEVEL = Setting("DELIVERER_LOG_LEVEL", "--log-level", "DEBUG, INFO, WARNING or ERROR", default="INFO")
LOG_FORMAT = Setting(
    "DELIVERER_LOG_FORMAT", "--log-format", "json for one JSON object per line", default="text",
    choices=("text", "json"),
)

# --- where the store, the broker, the API and the lake are ------------------------------------
# One exported port or URL moves a service and every client of it alike (start.sh included).

STORE_URL = Setting(
    "DELIVERER_STORE_URL", "--store",
    "the store: sqlite:///relative.db, sqlite:////absolute.db (WAL) or mongodb://user:pass@host/db",
    default="sqlite:///var/deliverer.db",
)
MQTT_URL = Setting(
    "DELIVERER_MQTT_URL", "--mqtt-url",
    "the broker: mqtt://user:pass@host:port, mqtts:// for TLS, ?protocol=3.1.1 for brokers without MQTT 5;"
    " on 127.0.0.1 its port is the local broker's too",
    default=lambda environ: _local_url("mqtt", MQTT_PORT, environ),
    shown="mqtt://127.0.0.1:$DELIVERER_MQTT_PORT", type=checked_mqtt_url,
)
MQTT_PORT: Setting = Setting(
    "DELIVERER_MQTT_PORT", "--port",
    "the local broker's port (unset: that of a $DELIVERER_MQTT_URL on 127.0.0.1, else 1883); every client's"
    " default broker URL uses it too",
    default=lambda environ: _loopback_port(environ, MQTT_URL) or "1883", shown="1883", type=PORT,
)
API_URL = Setting(
    "DELIVERER_API_URL", "--api-url",
    "where clients find the API (deliverer publish --transport http); on 127.0.0.1 its port is where the"
    " API listens too",
    default=lambda environ: _local_url("http", API_PORT, environ),
    shown="http://127.0.0.1:$DELIVERER_API_PORT", type=_checked_http_url,
)
API_PORT: Setting = Setting(
    "DELIVERER_API_PORT", "--port",
    "the API's port (unset: that of a $DELIVERER_API_URL on 127.0.0.1, else 8000); every client's default"
    " API URL uses it too",
    default=lambda environ: _loopback_port(environ, API_URL) or "8000", shown="8000", type=PORT_OR_ZERO,
)
LAKE_URL = Setting(
    "DELIVERER_LAKE_URL", "--lake",
    "the lake: a directory, file:///path or s3://bucket/prefix (endpoint: $AWS_ENDPOINT_URL)",
    default="var/lake",
)

# --- deliverer subscribe ----------------------------------------------------------------------

SUBSCRIBE_TOPIC_FILTER = Setting(
    "DELIVERER_SUBSCRIBE_TOPIC", "--topic",
    "topic filter: the shared subscription splits the stream between replicas; a single subscriber should"
    f" use the plain '{PLAIN_TOPIC}', which Mosquitto keeps across its restarts (it forgets shared ones) and"
    " brokers without shared subscriptions need",
    default=SUBSCRIBE_TOPIC, type=checked_topic_filter,
)
SUBSCRIBE_CLIENT_ID = Setting(
    "DELIVERER_SUBSCRIBE_CLIENT_ID", "--client-id",
    "stable MQTT client id: a restarted replica must reuse it to get its session back",
    default=lambda _environ: f"deliverer-subscriber-{socket.gethostname()}",
    shown="deliverer-subscriber-<hostname>", formerly=("DELIVERER_CLIENT_ID",),
)
SUBSCRIBE_BATCH_SIZE = Setting(
    "DELIVERER_SUBSCRIBE_BATCH_SIZE", "--batch-size", "most reports per store write",
    default="1000", type=whole_number(1, 100_000), formerly=("DELIVERER_BATCH_SIZE",),
)
SUBSCRIBE_BATCH_MS = Setting(
    "DELIVERER_SUBSCRIBE_BATCH_MS", "--batch-ms", "longest wait to fill a batch, milliseconds",
    default="50", type=number(0, 60_000), formerly=("DELIVERER_BATCH_MS",),
)
SUBSCRIBE_LEAVE_ON_EXIT = Setting(
    "DELIVERER_SUBSCRIBE_LEAVE_ON_EXIT", "--leave-on-exit",
    "on SIGTERM, unsubscribe and end the session so other replicas take over (scale-down); never use it"
    " with a single subscriber",
    switch=True, formerly=("DELIVERER_LEAVE_ON_EXIT",),
)
SUBSCRIBE_METRICS_PORT = Setting(
    "DELIVERER_SUBSCRIBE_METRICS_PORT", "--metrics-port",
    "serve /metrics and /healthz (200 once subscribed) on this port; 0 = off",
    default="0", type=PORT_OR_ZERO, formerly=("DELIVERER_METRICS_PORT",),
)
SUBSCRIBE_METRICS_HOST = Setting(
    "DELIVERER_SUBSCRIBE_METRICS_HOST", "--metrics-host", "address for --metrics-port",
    default="127.0.0.1", formerly=("DELIVERER_METRICS_HOST",),
)
SUBSCRIBE_REJECTED_MAX_AGE = Setting(
    "DELIVERER_SUBSCRIBE_REJECTED_MAX_AGE", "--rejected-max-age",
    "drop dead letters older than this (90m, 12h, 7d, ...; more than 0)",
    default=f"{DEFAULT_REJECTED_MAX_AGE.days}d", type=positive_duration, formerly=("DELIVERER_REJECTED_MAX_AGE",),
)
SUBSCRIBE_REJECTED_MAX_COUNT = Setting(
    "DELIVERER_SUBSCRIBE_REJECTED_MAX_COUNT", "--rejected-max-count",
    "keep at most this many dead letters, the newest (at least 1)",
    default=str(DEFAULT_REJECTED_MAX_COUNT), type=whole_number(1), formerly=("DELIVERER_REJECTED_MAX_COUNT",),
)

# --- deliverer api and deliverer live (which serves the API's routes too) ---------------------

API_KEY = Setting(
    "DELIVERER_API_KEY", "--api-key",
    "when set, writes need the header X-API-Key (deliverer publish --transport http sends it)",
    secret=True,
)
API_KEY_READS = Setting("DELIVERER_API_KEY_READS", None, "reads need the API key too", switch=True)
TRACKING_SECRET = Setting(
    "DELIVERER_TRACKING_SECRET", None,
    "signs tracking links (the API and the live server must share it; changing it revokes them);"
    " unset, a key derived from $DELIVERER_API_KEY",
    secret=True,
)
LEGACY_TIMEZONE = Setting(
    "DELIVERER_LEGACY_TIMEZONE", "--legacy-timezone",
    "the zone the original system's route (POST /v1/deliverer_location/) reads timestamps without offset in,"
    " and its GET writes them in: an IANA name such as Europe/Rome, or 'local' for this server's zone (what"
    " the original assumed)",
    default="local",
)
PUBLISH_TIMEOUT = Setting(
    "DELIVERER_API_PUBLISH_TIMEOUT", "--publish-timeout",
    "seconds a POST waits for the broker's acknowledgements before answering 503",
    default="5", type=number(0.001, 3_600),
)
LIVE_URL = Setting(
    "DELIVERER_LIVE_URL", "--live-url",
    "where browsers reach the live server, for tracking links and redirects (unset: the address the server"
    " listens on, 127.0.0.1 for 0.0.0.0, on --live-port; never the request's Host header)",
)
LIVE_PORT = Setting(
    "DELIVERER_LIVE_PORT", "--live-port",
    "the live server's port: where deliverer live listens, and where the API sends browsers",
    default="8001", type=PORT_OR_ZERO,
)
TILE_URL = Setting(
    "DELIVERER_TILE_URL", "--tile-url",
    "map tiles for the tracking page, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png (unset: the route"
    " is drawn to scale without a map)",
)
TILE_ATTRIBUTION = Setting(
    "DELIVERER_TILE_ATTRIBUTION", "--tile-attribution", "the tiles' attribution, shown on the map",
)
ACTIVE_WITHIN = Setting(
    "DELIVERER_ACTIVE_WITHIN_MINUTES", "--active-within",
    "an order is active with a report this many minutes old or newer (and not arrived)",
    default="30", type=whole_number(1, 525_600),
)

# --- deliverer api ----------------------------------------------------------------------------

API_HOST = Setting("DELIVERER_API_HOST", "--host", "the API's address", default="127.0.0.1")
API_WORKERS = Setting(
    "DELIVERER_API_WORKERS", "--workers",
    "worker processes, each with one MQTT connection and one store client",
    default=lambda _environ: str(min(4, os.cpu_count() or 1)), shown="min(4, CPUs)", type=whole_number(1, 1_024),
)
API_THREADS = Setting(
    "DELIVERER_API_THREADS", "--threads", "threads per worker", default="8", type=whole_number(1, 10_000),
)
API_SERVER = Setting(
    "DELIVERER_API_SERVER", "--server",
    "gunicorn for real use; flask = the single-process dev server, for debugging only",
    default="gunicorn", choices=("gunicorn", "flask"),
)
API_ACCESS_LOG = Setting("DELIVERER_API_ACCESS_LOG", "--access-log", "log every request (gunicorn)", switch=True)

# --- deliverer live ---------------------------------------------------------------------------

LIVE_HOST = Setting("DELIVERER_LIVE_HOST", "--host", "the live server's address", default="127.0.0.1")
LIVE_WORKERS = Setting(
    "DELIVERER_LIVE_WORKERS", "--workers",
    "worker processes, each an event loop with its own tail of the store", default="1",
    type=whole_number(1, 1_024),
)
LIVE_WSGI_THREADS = Setting(
    "DELIVERER_LIVE_WSGI_THREADS", "--wsgi-threads",
    "threads per worker for the routes that are not streams", default="8", type=whole_number(1, 10_000),
)
LIVE_POLL = Setting(
    "DELIVERER_LIVE_POLL_S", "--poll", "seconds between two reads of the store's new reports",
    default="0.1", type=number(0.001, 3_600),
)
LIVE_HEARTBEAT = Setting(
    "DELIVERER_LIVE_HEARTBEAT_S", "--heartbeat", "seconds between keep-alive comments on a quiet stream",
    default="15", type=number(0.001, 3_600),
)
LIVE_END_AFTER_ARRIVED = Setting(
    "DELIVERER_LIVE_END_AFTER_ARRIVED_S", "--end-after-arrived",
    "seconds a stream goes on after the order's 'arrived' before it ends", default="10",
    type=number(0, 86_400),
)
LIVE_MAX_STREAMS = Setting(
    "DELIVERER_LIVE_MAX_STREAMS", "--max-streams", "streams one worker holds before answering 503",
    default="5000", type=whole_number(1, 1_000_000),
)

# --- deliverer publish ------------------------------------------------------------------------

PUBLISH_WORKERS = Setting(
    "DELIVERER_PUBLISH_WORKERS", "--workers", "simultaneous couriers", default="10", type=whole_number(1, 100_000),
)
PUBLISH_INTERVAL = Setting(
    "DELIVERER_PUBLISH_INTERVAL", "--interval",
    "seconds between one courier's reports; 0 = as fast as possible, timestamps 1 s apart",
    default="1.0", type=seconds,
)
PUBLISH_LOCATIONS = Setting(
    "DELIVERER_PUBLISH_LOCATIONS", "--locations", "reports per order, start to arrived",
    default="20", type=whole_number(2),
)
PUBLISH_ORDERS_PER_WORKER = Setting(
    "DELIVERER_PUBLISH_ORDERS_PER_WORKER", "--orders-per-worker", "orders each courier delivers in turn",
    default="1", type=whole_number(1),
)
PUBLISH_TRANSPORT = Setting(
    "DELIVERER_PUBLISH_TRANSPORT", "--transport", "mqtt (to the broker) or http (through the API)",
    default="mqtt", choices=("mqtt", "http"),
)
PUBLISH_QOS = Setting("DELIVERER_PUBLISH_QOS", "--qos", "MQTT QoS", default="1", type=whole_number(0, 1))
PUBLISH_RATE = Setting(
    "DELIVERER_PUBLISH_RATE", "--rate", "cap in reports/s across all couriers; 0 = no cap", default="0", type=seconds,
)
PUBLISH_DURATION = Setting(
    "DELIVERER_PUBLISH_DURATION", "--duration", "stop sending after this many seconds; 0 = no limit",
    default="0", type=seconds,
)
PUBLISH_SEED = Setting(
    "DELIVERER_PUBLISH_SEED", "--seed", "same seed, same routes, order ids and msg ids (unset: random, printed)",
    type=optional_whole_number,
)
PUBLISH_WINDOW = Setting(
    "DELIVERER_PUBLISH_WINDOW", "--window", "most reports in flight (unacknowledged) at once",
    default="1000", type=whole_number(1, MAX_WINDOW),
)
PUBLISH_BATCH = Setting(
    "DELIVERER_PUBLISH_BATCH", "--batch", f"reports per POST with --transport http (1..{MAX_REPORTS_PER_POST})",
    default="1", type=whole_number(1, MAX_REPORTS_PER_POST),
)
PUBLISH_CONNECTIONS = Setting(
    "DELIVERER_PUBLISH_CONNECTIONS", "--connections", "keep-alive HTTP connections, one sender thread each",
    default="4", type=whole_number(1, 256),
)
PUBLISH_FLUSH_TIMEOUT = Setting(
    "DELIVERER_PUBLISH_FLUSH_TIMEOUT", "--flush-timeout",
    "seconds to wait at the end (or after Ctrl-C) for in-flight reports", default="30", type=seconds,
)
PUBLISH_CLIENT_ID = Setting(
    "DELIVERER_PUBLISH_CLIENT_ID", "--client-id", "MQTT client id",
    default=lambda _environ: f"deliverer-publisher-{socket.gethostname()}-{os.getpid()}",
    shown="deliverer-publisher-<hostname>-<pid>",
)
PUBLISH_JSON = Setting(
    "DELIVERER_PUBLISH_JSON", "--json", "print the summary as one JSON line on stdout", switch=True,
)

# --- deliverer broker, broker-accounts, broker-certs ------------------------------------------

BROKER_DIR = Setting(
    "DELIVERER_BROKER_DIR", "--data-dir", "the local broker's persistence and rendered config",
    default="var/mosquitto", type=Path,
)
BROKER_ACCOUNTS_URL = Setting(
    "DELIVERER_BROKER_ACCOUNTS_URL", "--broker",
    "the running broker whose accounts broker-accounts changes in place, mqtt://host:port (unset: only"
    " write the file)",
)
BROKER_FILE_OWNER = Setting(
    "DELIVERER_BROKER_FILE_OWNER", "--owner",
    "USER[:GROUP] the broker runs as, to own the files written for it (needs root)",
)
BROKER_TLS_NAMES = Setting(
    "DELIVERER_BROKER_TLS_NAMES", "--names",
    "comma-separated host names and addresses devices connect to; the first is the certificate's common name",
    default="localhost,127.0.0.1",
)

# --- the lake commands: export, transform, prune, query, athena -------------------------------

EXPORT_EVERY = Setting(
    "DELIVERER_EXPORT_EVERY", "--every",
    "keep running: export every interval (15m; first run at start) or on a UTC cron expression"
    " ('*/15 * * * *', five fields) until SIGTERM",
    type=_schedule,
)
EXPORT_SETTLE = Setting(
    "DELIVERER_EXPORT_SETTLE", "--settle",
    "the watermark stays this far behind the clock, for batches still being committed", default=None,
    type=parse_duration,
)
EXPORT_SLICES = Setting(
    "DELIVERER_EXPORT_SLICES", "--slices",
    "most time slices a day is read in, in parallel, one Parquet file each; 0 = Spark's default parallelism"
    " (the cores). A slice gets a minimum of rows, so a small day is one file",
    default="0", type=whole_number(0, 100_000),
)
EXPORT_WORK_DIR = Setting(
    "DELIVERER_EXPORT_WORK_DIR", "--work-dir",
    "where an S3 lake's days are staged before upload (unset: the system's temp directory)", type=optional_path,
)
EXPORT_NO_TRANSFORM = Setting(
    "DELIVERER_EXPORT_NO_TRANSFORM", "--no-transform",
    "do not rebuild the silver and gold tables of the days written (deliverer transform does it later)",
    switch=True,
)
SPARK_MASTER = Setting("DELIVERER_SPARK_MASTER", "--master", "Spark master", default=None)
SPARK_CONF = Setting(
    "DELIVERER_SPARK_CONF", "--conf", "Spark configuration, repeatable (the variable: space-separated)",
    many=True, metavar="KEY=VALUE",
)
HOTSPOT_CELL_M = Setting(
    "DELIVERER_HOTSPOT_CELL_M", "--cell-m", "hotspot grid cell size, metres", default=None,
    type=whole_number(1, 1_000_000),
)
PRUNE_OLDER_THAN = Setting(
    "DELIVERER_PRUNE_OLDER_THAN", "--older-than", "prune keeps everything newer than this (30d, 12h, ...)",
    default="30d", type=parse_duration,
)
QUERY_ENGINE = Setting(
    "DELIVERER_QUERY_ENGINE", "--engine", "local (DuckDB over the lake's files) or athena",
    default="local", choices=("local", "athena"),
)
ATHENA_DATABASE = Setting(
    "DELIVERER_ATHENA_DATABASE", "--database",
    "the database the tables are in (Athena; a DuckDB schema locally)", default=None,
)
ATHENA_WORKGROUP = Setting(
    "DELIVERER_ATHENA_WORKGROUP", "--workgroup", "Athena workgroup (unset: the account's 'primary')",
)
ATHENA_OUTPUT = Setting(
    "DELIVERER_ATHENA_OUTPUT", "--output-location",
    "where Athena writes query results, s3://bucket/prefix/ (unset: the workgroup's)", metavar="S3_URL",
)
ATHENA_FIRST_DAY = Setting(
    "DELIVERER_ATHENA_FIRST_DAY", "--first-day", "oldest dt the tables project, YYYY-MM-DD", default=None,
)

TABLE: tuple[Setting, ...] = tuple(value for value in list(globals().values()) if isinstance(value, Setting))
"""Every setting, in the order declared above."""


def renamed_in(environ: Environment) -> list[tuple[str, str]]:
    """(former name, current name) of every variable set under a name it no longer has."""
    return [(old, setting.env) for setting in TABLE for old in setting.renamed_in(environ)]


def shadowed_in(environ: Environment) -> list[tuple[str, str]]:
    """(former name, name read) of every former name set beside its setting's name to another value."""
    return [
        (old, setting.source(environ) or setting.env) for setting in TABLE for old in setting.shadowed_in(environ)
    ]

