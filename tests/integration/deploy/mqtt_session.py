"""One MQTT client that records what the broker answers: CONNACK, SUBACK and PUBACK reason codes."""

from __future__ import annotations

import queue
import ssl
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from deliverer.mqtt import new_client, parse_mqtt_url

ANSWER_TIMEOUT_S = 10


class MqttSession:
    """Connect with ``open()``; every call waits for the broker's answer, never longer than 10 s."""

    def __init__(self, url: str, client_id: str = "", session_expiry: int = 0, ca_file: Path | None = None) -> None:
        """``session_expiry`` > 0: a persistent MQTT 5 session that resumes under ``client_id``;
        ``ca_file``: TLS to an ``mqtt://`` URL's port, trusting that CA (a device of the Compose stack)."""
        self.endpoint = parse_mqtt_url(url)
        self.client = new_client(self.endpoint, client_id)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED)
        self.session_expiry = session_expiry
        self.connack: ReasonCode | None = None
        self.session_present = False
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._answered = threading.Condition()
        self._pubacks: dict[int, ReasonCode] = {}
        self._subacks: dict[int, list[ReasonCode]] = {}
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            client.disconnect()  # refused: stop here rather than retry in the background
        with self._answered:
            self.session_present = flags.session_present
            self.connack = reason
            self._answered.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._answered:
            self._pubacks[mid] = reason
            self._answered.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        with self._answered:
            self._subacks[mid] = reasons
            self._answered.notify_all()

    def _wait_for(self, answers: dict[int, Any], mid: int, what: str) -> Any:
        with self._answered:
            if not self._answered.wait_for(lambda: mid in answers, ANSWER_TIMEOUT_S):
                raise AssertionError(f"the broker never answered {what}")
            return answers.pop(mid)

    def open(self) -> ReasonCode:
        """Connect and return the CONNACK reason code (a failure when the broker refused us)."""
        if self.session_expiry:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry
            self.client.connect(self.endpoint.host, self.endpoint.port, clean_start=False, properties=props)
        else:
            self.client.connect(self.endpoint.host, self.endpoint.port)
        self.client.loop_start()
        with self._answered:
            if not self._answered.wait_for(lambda: self.connack is not None, ANSWER_TIMEOUT_S):
                raise AssertionError("no CONNACK")
        assert self.connack is not None
        return self.connack

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        reason: ReasonCode = self._wait_for(self._pubacks, info.mid, f"the publish to {topic}")
        return reason

    def subscribe(self, topic_filter: str) -> ReasonCode:
        """Subscribe at QoS 1 and return the SUBACK reason code."""
        _result, mid = self.client.subscribe(topic_filter, qos=1)
        assert mid is not None
        reasons: list[ReasonCode] = self._wait_for(self._subacks, mid, f"the subscription to {topic_filter}")
        return reasons[0]

    def next_message(self, timeout: float = ANSWER_TIMEOUT_S) -> mqtt.MQTTMessage:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s") from None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
