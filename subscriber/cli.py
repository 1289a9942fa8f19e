"""``deliverer subscribe``: run the MQTT → store consumer until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from deliverer.mqtt import parse_mqtt_url
from deliverer.settings import (
    MQTT_URL,
    STORE_URL,
    SUBSCRIBE_BATCH_MS,
    SUBSCRIBE_BATCH_SIZE,
    SUBSCRIBE_CLIENT_ID,
    SUBSCRIBE_LEAVE_ON_EXIT,
    SUBSCRIBE_METRICS_HOST,
    SUBSCRIBE_METRICS_PORT,
    SUBSCRIBE_REJECTED_MAX_AGE,
    SUBSCRIBE_REJECTED_MAX_COUNT,
    SUBSCRIBE_TOPIC_FILTER,
)
from deliverer.settings.arguments import add_settings
from deliverer.store import open_store, refuse_process_local
from deliverer.usage import UsageError
from subscriber import metrics
from subscriber.consumer import Subscriber, SubscriberConfig

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "subscribe",
        help="consume location reports from MQTT into the store",
        description="Consume location reports from MQTT (QoS 1, persistent session) into the store."
        " Reports are acknowledged only once stored; invalid ones go to the rejected store.",
    )
    add_settings(
        parser, MQTT_URL, STORE_URL, SUBSCRIBE_TOPIC_FILTER, SUBSCRIBE_CLIENT_ID, SUBSCRIBE_BATCH_SIZE,
        SUBSCRIBE_BATCH_MS, SUBSCRIBE_LEAVE_ON_EXIT, SUBSCRIBE_METRICS_PORT, SUBSCRIBE_METRICS_HOST,
        SUBSCRIBE_REJECTED_MAX_AGE, SUBSCRIBE_REJECTED_MAX_COUNT,
    )
    parser.set_defaults(func=run)


def serve_metrics(
    subscriber_metrics: metrics.SubscriberMetrics, host: str, port: int, health: Callable[[], dict[str, Any]]
) -> metrics.ThreadingWSGIServer:
    """The metrics server, or a usage error naming the flags when their address cannot be served."""
    try:
        return metrics.serve(subscriber_metrics, host, port, health)
    except OSError as exc:  # a host that does not resolve or is not this machine's, a port taken or privileged
        reason = exc.strerror or str(exc)
        raise UsageError(f"cannot serve metrics at --metrics-host {host} --metrics-port {port}: {reason}") from None


def run(args: argparse.Namespace) -> int:
    refuse_process_local(args.store)
    config = SubscriberConfig(
        endpoint=parse_mqtt_url(args.mqtt_url),
        client_id=args.client_id,
        topic=args.topic,
        batch_size=args.batch_size,
        batch_wait=args.batch_ms / 1000,
        leave_on_exit=args.leave_on_exit,
        rejected_max_age=args.rejected_max_age,
        rejected_max_count=args.rejected_max_count,
    )
    store = open_store(args.store)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    subscriber = Subscriber(config, store)
    server = None
    try:
        if args.metrics_port:
            server = serve_metrics(subscriber.metrics, args.metrics_host, args.metrics_port, subscriber.health)
            log.info("metrics on http://%s:%d/metrics", args.metrics_host, args.metrics_port)
        return subscriber.run(stop)
    finally:
        if server is not None:
            server.shutdown()
        store.close()
