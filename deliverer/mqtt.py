"""MQTT endpoints by URL and paho-mqtt 2 clients built the same way for every service.

``mqtt://user:pass@host:1883`` (``mqtts://`` for TLS). ``?protocol=3.1.1`` selects MQTT 3.1.1
for brokers without MQTT 5, such as the embedded ``amqtt`` fallback.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from deliverer.redact import without_secrets
from deliverer.usage import UsageError


@dataclass(frozen=True)
class MqttEndpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5

    @property
    def is_v5(self) -> bool:
        return self.protocol == mqtt.MQTTv5

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """The endpoint a URL names; a :class:`UsageError` (that does not show the password) for any URL
    that does not name one."""
    shown = without_secrets(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a bracket left open, a port that is not a number or out of range
        raise UsageError(f"invalid MQTT URL {shown!r}: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts", "tcp"):
        raise UsageError(f"unsupported MQTT URL {shown!r}: use mqtt://host:port")
    if not parts.hostname:
        raise UsageError(f"MQTT URL {shown!r} has no host")
    if port == 0:
        raise UsageError(f"MQTT URL {shown!r}: port 0 is not a port a broker listens on")
    tls = parts.scheme == "mqtts"
    protocol_name = parse_qs(parts.query).get("protocol", ["5"])[0]
    protocols = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311, "311": mqtt.MQTTv311}
    if protocol_name not in protocols:
        raise UsageError(f"unsupported MQTT protocol {protocol_name!r}: use 5 or 3.1.1")
    return MqttEndpoint(
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        tls=tls,
        protocol=protocols[protocol_name],
    )


def checked_mqtt_url(url: str) -> str:
    """The URL as given, once it is known to name an endpoint: the type of ``--mqtt-url``, so that a
    bad URL stops a command at its start (an API would otherwise start, then fail every request)."""
    parse_mqtt_url(url)
    return url


def new_client(endpoint: MqttEndpoint, client_id: str = "", *, clean_session: bool = True) -> mqtt.Client:
    """A paho client for the endpoint; for MQTT 3.1.1 ``clean_session`` applies, for 5 see connect."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=endpoint.protocol,
        clean_session=None if endpoint.is_v5 else clean_session,
    )
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set(cert_reqs=ssl.CERT_REQUIRED)
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client
