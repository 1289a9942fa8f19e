"""A stand-in for the API's MQTT publisher, for tests about the API rather than the broker: every
message is acknowledged at once, or refused, and kept for the test to read."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class Answered:
    refusal: str | None = None

    def wait(self, timeout: float) -> bool:
        return True


class PublisherDouble:
    endpoint = "mqtt://publisher-double"

    def __init__(self, refusal: str | None = None, connected: bool = True) -> None:
        self.refusal = refusal
        self.connected = threading.Event()
        if connected:
            self.connected.set()
        self.last_error: str | None = None if connected else "the double is not connected"
        self.published: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float | None = None) -> Answered:
        self.published.append((topic, payload))
        return Answered(self.refusal)

    def close(self) -> None:
        pass
