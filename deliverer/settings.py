"""Defaults of the embedded local setup and the environment variable behind every flag.

Only the command-line edge reads the environment (through :func:`env`); everything below it
receives plain values.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

DEFAULT_STORE_URL = "sqlite:///var/deliverer.db"
DEFAULT_MQTT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_LAKE_URL = "var/lake"
PLAIN_TOPIC = "deliverers/+/location"
"""Every courier's topic. A single subscriber uses it: Mosquitto restores it after a restart."""
SUBSCRIBE_TOPIC = f"$share/ingest/{PLAIN_TOPIC}"
"""The replicas' shared subscription: splits the stream, but Mosquitto 2.0 forgets it on restart."""

ENV_STORE_URL = "DELIVERER_STORE_URL"
ENV_MQTT_URL = "DELIVERER_MQTT_URL"
ENV_API_URL = "DELIVERER_API_URL"
ENV_LAKE_URL = "DELIVERER_LAKE_URL"
ENV_MQTT_PORT = "DELIVERER_MQTT_PORT"
ENV_API_PORT = "DELIVERER_API_PORT"
DEFAULT_MQTT_PORT = "1883"
DEFAULT_API_PORT = "8000"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
ENV_LOG_LEVEL = "DELIVERER_LOG_LEVEL"
ENV_LOG_FORMAT = "DELIVERER_LOG_FORMAT"


def env(name: str, default: str) -> str:
    """The value of ``name`` in the environment, or ``default`` when unset or empty."""
    return os.environ.get(name) or default


def default_mqtt_url() -> str:
    """Where every command finds the broker: ``$DELIVERER_MQTT_URL``, else the local broker on
    ``$DELIVERER_MQTT_PORT``. So one exported variable moves the broker, its clients and start.sh."""
    return env(ENV_MQTT_URL, f"mqtt://127.0.0.1:{local_mqtt_port()}")


def default_api_url() -> str:
    """Where clients find the API: ``$DELIVERER_API_URL``, else the local API on ``$DELIVERER_API_PORT``."""
    return env(ENV_API_URL, f"http://127.0.0.1:{local_api_port()}")


def local_mqtt_port() -> str:
    """The port the local broker listens on: ``$DELIVERER_MQTT_PORT``, else the port of a loopback
    ``$DELIVERER_MQTT_URL``, else 1883."""
    return env(ENV_MQTT_PORT, "") or _loopback_port(env(ENV_MQTT_URL, "")) or DEFAULT_MQTT_PORT


def local_api_port() -> str:
    """The port the API listens on: ``$DELIVERER_API_PORT``, else the port of a loopback
    ``$DELIVERER_API_URL``, else 8000."""
    return env(ENV_API_PORT, "") or _loopback_port(env(ENV_API_URL, "")) or DEFAULT_API_PORT


def _loopback_port(url: str) -> str:
    """The explicit port of a URL on this machine; '' for none, another host or a malformed URL
    (whose own parser reports it where the URL is used)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ""
    return str(port) if port is not None and parts.hostname in LOOPBACK_HOSTS else ""
