"""``deliverer subscribe``: run the MQTT → store consumer until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import threading
from types import FrameType

from deliverer.durations import parse_duration
from deliverer.mqtt import parse_mqtt_url
from deliverer.settings import (
    DEFAULT_STORE_URL,
    ENV_STORE_URL,
    PLAIN_TOPIC,
    SUBSCRIBE_TOPIC,
    default_mqtt_url,
    env,
)
from deliverer.store import open_store
from deliverer.store.base import DEFAULT_REJECTED_MAX_COUNT
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
    parser.add_argument(
        "--mqtt-url", default=default_mqtt_url(),
        help="broker (default mqtt://127.0.0.1:$DELIVERER_MQTT_PORT) [$DELIVERER_MQTT_URL]",
    )
    parser.add_argument(
        "--store", default=env(ENV_STORE_URL, DEFAULT_STORE_URL), help="store URL [$DELIVERER_STORE_URL]"
    )
    parser.add_argument(
        "--topic", default=env("DELIVERER_SUBSCRIBE_TOPIC", SUBSCRIBE_TOPIC),
        help="topic filter: the shared subscription splits the stream between replicas; a single"
        f" subscriber should use the plain '{PLAIN_TOPIC}', which Mosquitto keeps across its restarts"
        " (it forgets shared ones) and brokers without shared subscriptions need [$DELIVERER_SUBSCRIBE_TOPIC]",
    )
    parser.add_argument(
        "--client-id", default=env("DELIVERER_CLIENT_ID", f"deliverer-subscriber-{socket.gethostname()}"),
        help="stable MQTT client id: a restarted replica must reuse it to get its session back"
        " [$DELIVERER_CLIENT_ID]",
    )
    parser.add_argument("--batch-size", type=int, default=int(env("DELIVERER_BATCH_SIZE", "1000")),
                        help="most reports per store write [$DELIVERER_BATCH_SIZE]")
    parser.add_argument("--batch-ms", type=float, default=float(env("DELIVERER_BATCH_MS", "50")),
                        help="longest wait to fill a batch, milliseconds [$DELIVERER_BATCH_MS]")
    parser.add_argument(
        "--leave-on-exit", action="store_true", default=env("DELIVERER_LEAVE_ON_EXIT", "") == "1",
        help="on SIGTERM, unsubscribe and end the session so other replicas take over (scale-down);"
        " never use it with a single subscriber [$DELIVERER_LEAVE_ON_EXIT=1]",
    )
    parser.add_argument(
        "--metrics-port", type=int, default=int(env("DELIVERER_METRICS_PORT", "0")),
        help="serve /metrics and /healthz on this port; 0 = off [$DELIVERER_METRICS_PORT]",
    )
    parser.add_argument("--metrics-host", default=env("DELIVERER_METRICS_HOST", "127.0.0.1"),
                        help="address for --metrics-port [$DELIVERER_METRICS_HOST]")
    parser.add_argument(
        "--rejected-max-age", type=parse_duration, default=env("DELIVERER_REJECTED_MAX_AGE", "7d"),
        help="drop dead letters older than this (90m, 12h, 7d, ...) [$DELIVERER_REJECTED_MAX_AGE, 7d]",
    )
    parser.add_argument(
        "--rejected-max-count", type=int,
        default=int(env("DELIVERER_REJECTED_MAX_COUNT", str(DEFAULT_REJECTED_MAX_COUNT))),
        help="keep at most this many dead letters, the newest"
        f" [$DELIVERER_REJECTED_MAX_COUNT, {DEFAULT_REJECTED_MAX_COUNT}]",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.batch_ms < 0:
        raise UsageError("--batch-size must be at least 1 and --batch-ms not negative")
    if args.rejected_max_count < 0:
        raise UsageError("--rejected-max-count must not be negative")
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
    if args.metrics_port:
        server = metrics.serve(subscriber.metrics, args.metrics_host, args.metrics_port, subscriber.health)
        log.info("metrics on http://%s:%d/metrics", args.metrics_host, args.metrics_port)
    try:
        return subscriber.run(stop)
    finally:
        if server is not None:
            server.shutdown()
        store.close()
