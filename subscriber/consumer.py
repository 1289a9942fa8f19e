"""The MQTT consumer: receive at QoS 1, batch, store, and only then acknowledge.

Everything runs on the thread that calls :meth:`Subscriber.run`: paho's network loop is
driven by hand between batches. A second thread would fight the first for the GIL, and
paho's thread, which releases it on every socket call, loses each time: measured here, the
two-thread version drained a backlog at 2.6k reports/s, this one at 5-6k, 0.87 of a bare paho
subscriber that only parses and counts (``bench/ingest_bench.py``).

A batch is bounded by size and by time. The broker never sends more than
``receive_maximum`` unacknowledged messages, which bounds memory during a store outage; the
network loop keeps running through an outage so the connection stays alive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from deliverer.mqtt import MqttEndpoint, new_client
from deliverer.services.ingest import Handled, Ingest
from deliverer.services.messages import RawMessage
from deliverer.settings import SUBSCRIBE_TOPIC
from deliverer.store import Store
from deliverer.store.base import DEFAULT_REJECTED_MAX_AGE, DEFAULT_REJECTED_MAX_COUNT
from subscriber.broker_watch import BrokerWatch
from subscriber.metrics import SubscriberMetrics

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0


@dataclass(frozen=True)
class SubscriberConfig:
    endpoint: MqttEndpoint
    client_id: str
    topic: str = SUBSCRIBE_TOPIC
    batch_size: int = 1000
    batch_wait: float = 0.05
    session_expiry: int = 7 * 24 * 3600
    leave_on_exit: bool = False
    drain_timeout: float = 15.0
    stats_interval: float = 10.0
    rejected_max_age: timedelta = DEFAULT_REJECTED_MAX_AGE
    rejected_max_count: int = DEFAULT_REJECTED_MAX_COUNT
    trim_interval: float = 60.0
    """How often dead letters are trimmed to their bounds (and once at start)."""

    @property
    def receive_maximum(self) -> int:
        """Unacknowledged messages the broker may send us: a batch being written plus the next ones."""
        return min(65_535, self.batch_size * 4)


@dataclass
class Totals:
    received: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0


ClientFactory = Callable[[MqttEndpoint, str], mqtt.Client]
"""Makes the subscriber's paho client for an endpoint and a client id."""


def persistent_client(endpoint: MqttEndpoint, client_id: str) -> mqtt.Client:
    """A client whose session the broker keeps across disconnections."""
    return new_client(endpoint, client_id, clean_session=False)


class Subscriber:
    """The MQTT loop around :meth:`deliverer.services.ingest.Ingest.handle`: receive, hand each batch
    to the ingest service, acknowledge what it has stored."""

    def __init__(
        self,
        config: SubscriberConfig,
        store: Store,
        *,
        client_factory: ClientFactory = persistent_client,
        metrics: SubscriberMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or SubscriberMetrics()
        self.ingest = Ingest(store, self.metrics)
        self.totals = Totals()
        self.connected = False
        self.subscribed = False
        """The broker granted the subscription on the current connection: reports flow."""
        self._pending: list[mqtt.MQTTMessage] = []
        self._held = 0
        """Messages received on the current connection and not yet acknowledged."""
        self._generation = 0
        self._accepting = True
        self._leaving = False
        self._closing = False
        self._unsubscribed = False
        self._last_logged: Totals | None = None
        self._next_reconnect = 0.0
        self._reconnect_delay = RECONNECT_MIN_S
        self._client = client_factory(config.endpoint, config.client_id)
        self._client.manual_ack_set(True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_unsubscribe = self._on_unsubscribe
        self._broker_watch = BrokerWatch(self.metrics.registry)
        self._broker_watch.attach(self._client)

    # paho callbacks, all called from inside self._client.loop() on this thread

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self.config.endpoint, reason)
            return
        log.info(
            "connected to %s as %s (session present: %s)",
            self.config.endpoint, self.config.client_id, flags.session_present,
        )
        self._generation += 1
        self._reconnect_delay = RECONNECT_MIN_S
        if not self._leaving:
            if self.config.endpoint.is_v5:
                # Retained copies only with a new subscription, not each time the session resumes.
                client.subscribe(self.config.topic, options=SubscribeOptions(qos=1, retainHandling=1))
            else:
                client.subscribe(self.config.topic, qos=1)
            self._broker_watch.subscribe(client)
        self.connected = True
        self.metrics.connected.set(1)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        was_connected, self.connected = self.connected, False
        self.subscribed = False
        self.metrics.connected.set(0)
        # Unacknowledged messages, those being written included, come back from the session
        # under new packet ids: none is held on the next connection until it arrives again.
        self._pending.clear()
        self._set_held(0)
        if was_connected and not self._closing:
            log.warning("disconnected from %s (%s); reconnecting with backoff", self.config.endpoint, reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if self._accepting:
            self._pending.append(message)
            self.metrics.received.inc()
            self._set_held(self._held + 1)

    def _set_held(self, held: int) -> None:
        self._held = held
        self.metrics.unacked.set(held)
        if held > self.metrics.peak_unacked:
            self.metrics.peak_unacked = held

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, reasons: list[Any], _p: Any) -> None:
        if self._broker_watch.handles(mid, reasons):
            return
        if any(r.is_failure for r in reasons):
            log.error("broker refused the subscription to %s: %s", self.config.topic, reasons)
        else:
            self.subscribed = True
            log.info("subscribed to %s", self.config.topic)

    def _on_unsubscribe(self, *_args: Any) -> None:
        self._unsubscribed = True
        self.subscribed = False

    # the network

    def _connect(self) -> None:
        endpoint = self.config.endpoint
        if endpoint.is_v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.config.session_expiry
            props.ReceiveMaximum = self.config.receive_maximum
            self._client.connect(endpoint.host, endpoint.port, keepalive=30, clean_start=False, properties=props)
        else:
            self._client.connect(endpoint.host, endpoint.port, keepalive=30)

    def _network(self, timeout: float) -> None:
        """Run paho's loop once, then read whatever else is already waiting, up to a batch.

        Nothing is read while the subscriber holds its Receive Maximum: Mosquitto 2.0 keeps
        sending past the bound once acknowledgements have come in (measured: a bound of 2,000 and
        14,000 held during a store outage), so the bound is kept here, by leaving the rest in the
        socket and the broker's queue. The connection's housekeeping (pings) goes on meanwhile.
        """
        if self.connected and self._held >= self.config.receive_maximum:
            rc = self._client.loop_write()
            if rc == mqtt.MQTT_ERR_SUCCESS:
                rc = self._client.loop_misc()
            if rc == mqtt.MQTT_ERR_SUCCESS:
                time.sleep(timeout)
                return
        else:
            rc = self._client.loop(timeout)
        if rc == mqtt.MQTT_ERR_SUCCESS:
            while len(self._pending) < self.config.batch_size and self._held < self.config.receive_maximum:
                before = len(self._pending)
                if self._client.loop_read() != mqtt.MQTT_ERR_SUCCESS or len(self._pending) == before:
                    break
            return
        if self.connected:
            self._on_disconnect(self._client, None, None, rc, None)
        self._reconnect()

    def _reconnect(self) -> None:
        now = time.monotonic()
        if now < self._next_reconnect:
            time.sleep(min(0.1, self._next_reconnect - now))
            return
        try:
            if self._generation == 0:
                self._connect()
            else:
                self._client.reconnect()
        except OSError as exc:
            log.warning(
                "cannot reach %s (%s); retrying in %.1f s", self.config.endpoint, exc, self._reconnect_delay
            )
            self._next_reconnect = time.monotonic() + self._reconnect_delay
            self._reconnect_delay = min(self._reconnect_delay * 2, RECONNECT_MAX_S)

    def _pump_for(self, seconds: float) -> None:
        """Keep the connection serviced while the store is retried."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self._network(min(remaining, 0.1))

    # the work

    def run(self, stop: threading.Event) -> int:
        """Consume until ``stop`` is set, then drain what was received; 0 when nothing is left held."""
        log.info(
            "subscriber started: batches of up to %d reports or %.0f ms",
            self.config.batch_size, self.config.batch_wait * 1000,
        )
        self._reconnect()
        batch_deadline: float | None = None
        next_stats = time.monotonic() + self.config.stats_interval
        next_trim = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_trim:
                self.ingest.trim_dead_letters(self.config.rejected_max_age, self.config.rejected_max_count)
                next_trim = now + self.config.trim_interval
            if self._pending and batch_deadline is None:
                batch_deadline = now + self.config.batch_wait
            wait = 0.2 if batch_deadline is None else max(0.0, min(0.2, batch_deadline - now))
            self._network(wait)
            if self._pending and (
                len(self._pending) >= self.config.batch_size
                or (batch_deadline is not None and time.monotonic() >= batch_deadline)
            ):
                self._process(self._take_batch(), stop)
                batch_deadline = None
            if not self._pending:
                batch_deadline = None
            if now >= next_stats:
                self._log_stats()
                next_stats = now + self.config.stats_interval
        return self._shut_down()

    def _take_batch(self) -> list[mqtt.MQTTMessage]:
        batch = self._pending[: self.config.batch_size]
        del self._pending[: self.config.batch_size]
        return batch

    def _process(self, messages: list[mqtt.MQTTMessage], give_up: threading.Event) -> bool:
        """Store a batch and acknowledge it; False when ``give_up`` was set during a store outage."""
        generation = self._generation

        def acknowledge(handled: Handled) -> None:
            self._acknowledge([messages[index] for index in handled.indices], generation, handled)

        return self.ingest.handle([_raw_message(m) for m in messages], give_up, self._pump_for, acknowledge)

    def _acknowledge(self, messages: list[mqtt.MQTTMessage], generation: int, handled: Handled) -> None:
        """Messages received on a connection that has since dropped come back on the next one: not acked."""
        if generation == self._generation and self.connected:
            for message in messages:
                if message.qos > 0:
                    self._client.ack(message.mid, message.qos)
            self._set_held(max(0, self._held - len(messages)))
        result = handled.result
        totals = self.totals
        totals.received += len(messages)
        totals.stored += result.inserted
        totals.duplicates += result.duplicates
        totals.rejected += result.rejected + len(result.refused)
        totals.batches += 1
        m = self.metrics
        m.batch_size.observe(len(messages))
        m.stored.inc(result.inserted)
        m.duplicates.inc(result.duplicates)
        m.poisoned.inc(handled.poisoned)

    def _shut_down(self) -> int:
        """Stop taking messages, store and acknowledge those already received, then disconnect.

        With ``leave_on_exit`` (scaling down a replica group) the subscription is removed first
        and the session ends with the connection, so the broker hands the share to the
        remaining members instead of queueing it for a member that will not return. Such a
        member keeps taking what the broker had already queued for it until the stream goes
        quiet: anything left unacknowledged would end with its session.
        """
        self._leaving = self.config.leave_on_exit
        abandon = threading.Event()
        timer = threading.Timer(self.config.drain_timeout, abandon.set)
        timer.start()
        try:
            if self._leaving and self.connected:
                self._client.unsubscribe(self.config.topic)
                deadline = time.monotonic() + 5
                while not self._unsubscribed and time.monotonic() < deadline:
                    self._network(0.1)
                quiet_until = time.monotonic() + 1.0
                while time.monotonic() < quiet_until and not abandon.is_set():
                    before = len(self._pending)
                    self._network(0.1)
                    if len(self._pending) != before:
                        quiet_until = time.monotonic() + 1.0
                    if len(self._pending) >= self.config.batch_size:
                        self._process(self._take_batch(), abandon)
            self._accepting = False
            while self._pending and not abandon.is_set():
                if not self._process(self._take_batch(), abandon):
                    break
        finally:
            timer.cancel()
        held = len(self._pending)
        self._log_stats()
        if held:
            log.error("%d reports not stored before the drain deadline; the broker redelivers them", held)
        self._closing = True
        if self._leaving and self.config.endpoint.is_v5:
            props = Properties(PacketTypes.DISCONNECT)
            props.SessionExpiryInterval = 0
            self._client.disconnect(properties=props)
        else:
            self._client.disconnect()
        log.info("subscriber stopped (%s)", "left the share group" if self._leaving else "session kept")
        return 1 if held else 0

    def health(self) -> dict[str, object]:
        return {
            "connected": self.connected,
            "subscribed": self.subscribed,
            "client_id": self.config.client_id,
            "store_outage": self.ingest.in_outage,
            "received": self.totals.received,
            "stored": self.totals.stored,
        }

    def _log_stats(self) -> None:
        t = self.totals
        if not t.batches or t == self._last_logged:
            return
        self._last_logged = Totals(**vars(t))
        log.info(
            "received %d reports in %d batches (avg %.0f): stored %d, duplicates %d, rejected %d%s",
            t.received, t.batches, t.received / t.batches, t.stored, t.duplicates, t.rejected,
            f" {self.ingest.rejected_by_reason}" if t.rejected else "",
        )


def _raw_message(message: mqtt.MQTTMessage) -> RawMessage:
    try:
        topic = message.topic
    except UnicodeDecodeError:  # brokers check topics are UTF-8; this one did not
        topic = "<topic is not UTF-8>"
    return RawMessage(topic, bytes(message.payload), redelivered=bool(message.dup or message.retain))
