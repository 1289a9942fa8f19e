"""Make a stranded backlog visible: what the broker holds for members that are not connected.

A shared-subscription member that stops without leaving the group (killed, or stopped without
``--leave-on-exit``) keeps receiving its round-robin share into its persistent session until it
reconnects with the same client id; the other members never see those reports. No member can
read another's session, but Mosquitto publishes, retained under ``$SYS``, how many persistent
sessions are disconnected and how many messages it holds for them. Every subscriber follows both,
serves them as metrics and logs when the number of disconnected sessions changes.
"""

from __future__ import annotations

import logging
from typing import Any

import paho.mqtt.client as mqtt
from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger(__name__)

DISCONNECTED_SESSIONS_TOPIC = "$SYS/broker/clients/disconnected"
STORED_MESSAGES_TOPIC = "$SYS/broker/store/messages/count"
TOPICS = (DISCONNECTED_SESSIONS_TOPIC, STORED_MESSAGES_TOPIC)


class BrokerWatch:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.disconnected_sessions = Gauge(
            "deliverer_subscriber_broker_disconnected_sessions",
            "Persistent sessions the broker keeps for clients that are not connected (-1: not reported"
            " yet); a subscriber replica among them keeps its share of the stream until it returns",
            registry=registry,
        )
        self.stored_messages = Gauge(
            "deliverer_subscriber_broker_stored_messages",
            "Messages the broker holds: queued for persistent sessions, in flight, retained (-1: not reported yet)",
            registry=registry,
        )
        self.disconnected_sessions.set(-1)
        self.stored_messages.set(-1)
        self._sessions: int | None = None
        self._stored: int | None = None
        self._subscribe_mid: int | None = None

    def attach(self, client: mqtt.Client) -> None:
        for topic in TOPICS:
            client.message_callback_add(topic, self._on_message)

    def subscribe(self, client: mqtt.Client) -> None:
        """Ask for the counters; retained, so the current values arrive at once."""
        _rc, self._subscribe_mid = client.subscribe([(topic, 0) for topic in TOPICS])

    def handles(self, mid: int, reasons: list[Any]) -> bool:
        """Whether a SUBACK is ours; a refusal (an ACL without ``$SYS``) is noted, not fatal."""
        if mid != self._subscribe_mid:
            return False
        if any(r.is_failure for r in reasons):
            log.info("the broker does not let us read %s: stranded backlogs will not be reported", ", ".join(TOPICS))
        return True

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            value = int(message.payload)
        except ValueError:
            return
        if message.topic == STORED_MESSAGES_TOPIC:
            self._stored = value
            self.stored_messages.set(value)
            return
        self.disconnected_sessions.set(value)
        if value == self._sessions:
            return
        previous, self._sessions = self._sessions, value
        if value > 0:
            log.warning(
                "the broker keeps %d persistent session(s) of disconnected clients, %s messages stored:"
                " a subscriber replica that stopped without --leave-on-exit keeps its share of the stream"
                " until it reconnects with the same client id",
                value, "?" if self._stored is None else self._stored,
            )
        elif previous:
            log.info("no disconnected persistent sessions left at the broker")
