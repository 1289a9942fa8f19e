"""What the burst needs from a way of delivering reports (MQTT straight to the broker, or the HTTP API)."""

from __future__ import annotations

import threading
from typing import Protocol


class TransportError(RuntimeError):
    """Delivery cannot go on (the broker stopped acknowledging, the API cannot be reached)."""


class Transport(Protocol):
    """Used from the burst's one thread; implementations may send from threads of their own."""

    @property
    def sent(self) -> int:
        """Reports handed to the network."""
        ...

    @property
    def acked(self) -> int:
        """Reports the other side confirmed it has (MQTT PUBACK, HTTP 202)."""
        ...

    def connect(self, timeout: float) -> None:
        """Be ready to send; raise ConnectionError with a readable reason when not possible."""
        ...

    def send(self, topic: str, payload: bytes, stop: threading.Event) -> bool:
        """Send or queue one report, waiting while the in-flight window is full.

        False when ``stop`` was set while waiting (the report was not sent).
        """
        ...

    def idle(self) -> None:
        """Nothing else is due right now: push out anything held back (a partial batch)."""
        ...

    def finish(self, timeout: float) -> None:
        """No more reports will come: push out what is held back."""
        ...

    def wait_answered(self, timeout: float) -> bool:
        """Wait until every sent report is answered; False when some still are not."""
        ...

    def close(self) -> None: ...
