"""``deliverer publish``: a burst of simulated couriers over MQTT or the HTTP API, then a summary."""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deliverer.mqtt import parse_mqtt_url
from deliverer.publishing import MAX_WINDOW
from deliverer.settings import default_api_url, default_mqtt_url, env
from publisher.burst import Burst, BurstConfig, BurstResult, ProgressCallback
from publisher.http_transport import HttpTransport
from publisher.latency import LatencyHistogram
from publisher.mqtt_transport import MqttTransport
from publisher.summary import print_table, summary_json
from publisher.transport import Transport

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
MAX_WORKERS = 100_000
MAX_BATCH = 1000
"""The API takes at most this many reports per POST."""


def _int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum:,}" if maximum is not None else ""
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{upper}, got {value}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _seed(text: str) -> int | None:
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "publish",
        help="run a burst of simulated couriers (load generator)",
        description="Simulate couriers riding orders across Milan and publish their location reports over"
        " MQTT or the HTTP API, then print a summary (sent, acknowledged, latency, order ids). Exit code 0"
        " when every sent report was acknowledged, 1 otherwise, 2 for bad arguments.",
    )

    def option(flag: str, name: str, default: str, help_text: str, **kwargs: object) -> None:
        var = f"DELIVERER_PUBLISH_{name}"
        parser.add_argument(flag, default=env(var, default), help=f"{help_text} [${var}]", **kwargs)  # type: ignore[arg-type]

    option("--workers", "WORKERS", "10", "simultaneous couriers (default 10)", type=_int_at_least(1, MAX_WORKERS))
    option("--interval", "INTERVAL", "1.0",
           "seconds between one courier's reports; 0 = as fast as possible, timestamps 1 s apart (default 1.0)",
           type=_seconds)
    option("--locations", "LOCATIONS", "20", "reports per order, start to arrived (default 20)", type=_int_at_least(2))
    option("--orders-per-worker", "ORDERS_PER_WORKER", "1", "orders each courier delivers in turn (default 1)",
           type=_int_at_least(1))
    option("--transport", "TRANSPORT", "mqtt", "mqtt (to the broker) or http (through the API)",
           choices=("mqtt", "http"))
    option("--qos", "QOS", "1", "MQTT QoS (default 1)", type=int, choices=(0, 1))
    option("--rate", "RATE", "0", "cap in reports/s across all couriers; 0 = no cap", type=_seconds)
    option("--duration", "DURATION", "0", "stop sending after this many seconds; 0 = no limit", type=_seconds)
    option("--seed", "SEED", "", "same seed, same routes, order ids and msg ids (default: random, printed)",
           type=_seed)
    option("--window", "WINDOW", "1000", "most reports in flight (unacknowledged) at once (default 1000)",
           type=_int_at_least(1, MAX_WINDOW))
    option("--batch", "BATCH", "1", f"reports per POST with --transport http (1..{MAX_BATCH}, default 1)",
           type=_int_at_least(1, MAX_BATCH))
    option("--connections", "CONNECTIONS", "4", "keep-alive HTTP connections, one sender thread each (default 4)",
           type=_int_at_least(1, 256))
    option("--flush-timeout", "FLUSH_TIMEOUT", "30",
           "seconds to wait at the end (or after Ctrl-C) for in-flight reports (default 30)", type=_seconds)
    option("--client-id", "CLIENT_ID", f"deliverer-publisher-{socket.gethostname()}-{os.getpid()}", "MQTT client id")
    parser.add_argument("--mqtt-url", default=default_mqtt_url(),
                        help="broker (default mqtt://127.0.0.1:$DELIVERER_MQTT_PORT) [$DELIVERER_MQTT_URL]")
    parser.add_argument("--api-url", default=default_api_url(),
                        help="API (default http://127.0.0.1:$DELIVERER_API_PORT) [$DELIVERER_API_URL]")
    parser.add_argument("--api-key", default=env("DELIVERER_API_KEY", ""),
                        help="sent as X-API-Key with --transport http [$DELIVERER_API_KEY]")
    parser.add_argument("--json", action="store_true", default=env("DELIVERER_PUBLISH_JSON", "") == "1",
                        help="print the summary as one JSON line on stdout [$DELIVERER_PUBLISH_JSON=1]")
    parser.set_defaults(func=run)


def build_transport(args: argparse.Namespace, latencies: LatencyHistogram) -> Transport:
    if args.transport == "http":
        if args.qos != 1:
            log.warning("--qos applies to --transport mqtt only; the API always publishes at QoS 1")
        return HttpTransport(args.api_url, args.batch, args.connections, args.window, latencies, args.api_key or None)
    if args.batch != 1:
        log.warning("--batch applies to --transport http only")
    return MqttTransport(parse_mqtt_url(args.mqtt_url), args.qos, args.window, latencies, args.client_id)


@contextmanager
def stop_on_signals(stop: threading.Event, abort: threading.Event) -> Iterator[None]:
    """First SIGINT/SIGTERM stops sending and flushes; a second one skips the flush."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            abort.set()
            log.warning("%s again: not waiting for in-flight reports", signal.Signals(signum).name)
            return
        stop.set()
        log.warning("%s: stopping; waiting for in-flight reports (again to skip)", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def progress_bar(planned: int, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A progress bar on stderr when it is a terminal; nothing otherwise."""
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("[bold]publishing"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[acked]:,} acked"), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    )
    task = progress.add_task("publish", total=planned, acked=0)

    def update(sent: int, acked: int) -> None:
        progress.update(task, completed=sent, acked=acked)

    with progress:
        yield update


def run(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    config = BurstConfig(
        workers=args.workers, interval_s=args.interval, locations=args.locations,
        orders_per_worker=args.orders_per_worker, seed=seed, rate=args.rate, duration_s=args.duration,
        flush_timeout_s=args.flush_timeout,
    )
    latencies = LatencyHistogram()
    transport = build_transport(args, latencies)
    target = args.api_url if args.transport == "http" else str(parse_mqtt_url(args.mqtt_url))  # no password
    log.info(
        "publishing %s reports: %s couriers, %s order(s) each, %s reports per order, over %s to %s (seed %d)",
        f"{config.planned:,}", f"{config.workers:,}", f"{config.orders_per_worker:,}", f"{config.locations:,}",
        args.transport, target, seed,
    )
    stop, abort = threading.Event(), threading.Event()
    try:
        transport.connect(CONNECT_TIMEOUT_S)
    except ConnectionError as exc:
        log.error("%s", exc)
        result = BurstResult(config, 0, 0, 0.0, latencies.summary_ms(), [], stopped="error", error=str(exc))
    else:
        with stop_on_signals(stop, abort), progress_bar(config.planned, sys.stderr.isatty()) as on_progress:
            result = Burst(config, transport, latencies, stop, abort).run(on_progress)
    if args.json:
        print(summary_json(result, args.transport, args.qos), flush=True)
    else:
        print_table(result, args.transport, args.qos, Console())
    return 0 if result.ok else 1
