"""Defaults of the embedded local setup and the environment variable behind every flag.

Only the command-line edge reads the environment (through :func:`env`); everything below it
receives plain values.
"""

from __future__ import annotations

import os

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
ENV_LOG_LEVEL = "DELIVERER_LOG_LEVEL"
ENV_LOG_FORMAT = "DELIVERER_LOG_FORMAT"


def env(name: str, default: str) -> str:
    """The value of ``name`` in the environment, or ``default`` when unset or empty."""
    return os.environ.get(name) or default
