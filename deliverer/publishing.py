"""Publishing to MQTT with a bounded in-flight window and acknowledgement tracking.

paho numbers QoS 1 messages with 16-bit ids and queues without limit, so a fast producer
either stalls past 65,535 outstanding messages or grows memory without bound. Every
producer here (the load generator, the API, the tests) goes through :class:`WindowedPublisher`,
which blocks ``publish`` while ``window`` messages await their PUBACK.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from deliverer.mqtt import MqttEndpoint, new_client

MAX_WINDOW = 60_000


class PublishTimeout(TimeoutError):
    pass


class BrokerUnavailable(Exception):
    """The MQTT broker is unreachable, did not acknowledge in time, or refused a report."""


class Acknowledgement(Protocol):
    """The broker's answer to one published message, once it comes."""

    @property
    def refusal(self) -> str | None:
        """Why the broker did not take the message; None when it did (or has not answered yet)."""

    def wait(self, timeout: float) -> bool:
        """Wait for the answer; False when ``timeout`` passed first."""


class ReportPublisher(Protocol):
    """What publishing reports needs of a broker connection: a :class:`WindowedPublisher`, or a test's
    stand-in when the broker is not what a test is about."""

    @property
    def endpoint(self) -> object:
        """Where it publishes, as it is named in messages."""

    @property
    def connected(self) -> threading.Event:
        """Set while connected."""

    @property
    def last_error(self) -> str | None:
        """Why it is not connected, when known."""

    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float | None = None) -> Acknowledgement:
        """Queue one message; raise PublishTimeout when it cannot be queued within ``timeout``."""

    def close(self) -> None: ...


class Delivery:
    """One published message: paho's handle, and the broker's refusal when its PUBACK carried one."""

    __slots__ = ("info", "refusal")

    def __init__(self, info: mqtt.MQTTMessageInfo) -> None:
        self.info = info
        self.refusal: str | None = None
        """The reason the broker gave for not taking the message (MQTT 5 only, e.g. "Not authorized")."""

    def wait(self, timeout: float) -> bool:
        """Wait for the broker's answer (for QoS 0: the write); False when ``timeout`` passed first.

        paho's own ``wait_for_publish``/``is_published`` raise for a message queued while the
        connection was down (its ``rc`` stays "not connected") even after paho resent it on
        reconnect and the broker answered; the answer itself is what counts.
        """
        info = self.info
        with info._condition:
            return info._condition.wait_for(lambda: info._published, timeout)

    @property
    def accepted(self) -> bool:
        """Answered, and not refused."""
        return self.wait(0) and self.refusal is None


class WindowedPublisher:
    """One long-lived MQTT connection for publishing; thread-safe.

    ``on_ack(latency_seconds)`` is called from paho's network thread for every acknowledged
    message (for QoS 0: when written to the socket). A message the broker refuses (an MQTT 5
    PUBACK with a failure reason, e.g. an ACL) frees its slot and counts in ``refused``, not ``acked``.
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str = "",
        window: int = 1000,
        on_ack: Callable[[float], None] | None = None,
    ) -> None:
        if not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"in-flight window must be 1..{MAX_WINDOW}, got {window}")
        self.endpoint = endpoint
        self.window = window
        self._on_ack = on_ack
        self._slots = threading.BoundedSemaphore(window)
        self._lock = threading.Lock()
        self._in_flight: dict[int, tuple[float, Delivery]] = {}
        self._answered_early: dict[int, tuple[float, str | None]] = {}
        self._outstanding = 0
        self._idle = threading.Condition(self._lock)
        self.acked = 0
        self.refused = 0
        self.connected = threading.Event()
        self.last_error: str | None = None
        self._client = new_client(endpoint, client_id)
        # 0: paho sends at once; with a limit it rescans every queued message on each PUBACK
        # (O(window) per ack). The semaphore is the window instead.
        self._client.max_inflight_messages_set(0)
        self._client.max_queued_messages_set(0)
        self._client.on_publish = self._handle_ack
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect

    def _handle_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
        else:
            self.last_error = None
            self.connected.set()

    def _handle_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.connected.clear()
        self.last_error = f"disconnected: {reason}"

    def _handle_ack(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        """paho calls this before it marks the message answered, so a waiter sees the refusal."""
        now = time.monotonic()
        refusal = str(reason) if getattr(reason, "is_failure", False) else None
        with self._lock:
            entry = self._in_flight.pop(mid, None)
            if entry is None:
                self._answered_early[mid] = (now, refusal)
                return
            sent, delivery = entry
            self._settle(delivery, now - sent, refusal)

    def _settle(self, delivery: Delivery, latency: float, refusal: str | None) -> None:
        """Called with the lock held, once per answered message."""
        self._outstanding -= 1
        self._slots.release()
        if self._outstanding == 0:
            self._idle.notify_all()
        if refusal is not None:
            delivery.refusal = refusal
            self.refused += 1
            return
        self.acked += 1
        if self._on_ack is not None:
            self._on_ack(latency)

    def connect(self, timeout: float = 10) -> WindowedPublisher:
        """Connect and start the network loop; raise ConnectionError when not connected in time."""
        try:
            self._client.connect(self.endpoint.host, self.endpoint.port, keepalive=30)
        except OSError as exc:
            raise ConnectionError(f"cannot reach MQTT broker {self.endpoint}: {exc}") from exc
        self._client.loop_start()
        if not self.connected.wait(timeout):
            self.close()
            raise ConnectionError(self.last_error or f"no CONNACK from {self.endpoint} within {timeout} s")
        return self

    def start(self) -> WindowedPublisher:
        """Connect in the background and return at once: the network loop keeps retrying, with
        backoff, until the broker answers. For long-lived servers that must start (and stay up)
        while the broker is down; watch ``connected`` to know when publishing can succeed."""
        self._client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30)
        self._client.loop_start()
        return self

    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float | None = None) -> Delivery:
        """Queue one message, waiting for a free in-flight slot first."""
        if not self._slots.acquire(timeout=timeout):
            raise PublishTimeout(f"no free in-flight slot within {timeout} s ({self.window} unacknowledged)")
        sent = time.monotonic()
        with self._lock:
            self._outstanding += 1
        delivery = Delivery(self._client.publish(topic, payload, qos=qos))
        mid = delivery.info.mid
        with self._lock:
            early = self._answered_early.pop(mid, None)
            if early is not None:
                answered, refusal = early
                self._settle(delivery, answered - sent, refusal)
            else:
                self._in_flight[mid] = (sent, delivery)
        return delivery

    @property
    def outstanding(self) -> int:
        with self._lock:
            return self._outstanding

    def flush(self, timeout: float) -> bool:
        """Wait until every published message is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._outstanding:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._idle.wait(remaining):
                    return self._outstanding == 0
        return True

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
