"""``deliverer publish``: a burst of simulated couriers over MQTT or the HTTP API, then a summary."""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deliverer.mqtt import parse_mqtt_url
from deliverer.settings import (
    API_KEY,
    API_URL,
    MQTT_URL,
    PUBLISH_BATCH,
    PUBLISH_CLIENT_ID,
    PUBLISH_CONNECTIONS,
    PUBLISH_DURATION,
    PUBLISH_FLUSH_TIMEOUT,
    PUBLISH_INTERVAL,
    PUBLISH_JSON,
    PUBLISH_LOCATIONS,
    PUBLISH_ORDERS_PER_WORKER,
    PUBLISH_QOS,
    PUBLISH_RATE,
    PUBLISH_SEED,
    PUBLISH_TRANSPORT,
    PUBLISH_WINDOW,
    PUBLISH_WORKERS,
)
from deliverer.settings.arguments import add_settings
from publisher.burst import Burst, BurstConfig, BurstResult, ProgressCallback
from publisher.http_transport import HttpTransport
from publisher.latency import LatencyHistogram
from publisher.mqtt_transport import MqttTransport
from publisher.summary import print_table, summary_json
from publisher.transport import Transport

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "publish",
        help="run a burst of simulated couriers (load generator)",
        description="Simulate couriers riding orders across Milan and publish their location reports over"
        " MQTT or the HTTP API, then print a summary (sent, acknowledged, latency, order ids). Exit code 0"
        " when every sent report was acknowledged, 1 otherwise, 2 for bad arguments.",
    )
    add_settings(
        parser, PUBLISH_WORKERS, PUBLISH_INTERVAL, PUBLISH_LOCATIONS, PUBLISH_ORDERS_PER_WORKER, PUBLISH_TRANSPORT,
        PUBLISH_QOS, PUBLISH_RATE, PUBLISH_DURATION, PUBLISH_SEED, PUBLISH_WINDOW, PUBLISH_BATCH, PUBLISH_CONNECTIONS,
        PUBLISH_FLUSH_TIMEOUT, PUBLISH_CLIENT_ID, MQTT_URL, API_URL, API_KEY, PUBLISH_JSON,
    )
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
