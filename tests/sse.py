"""A small Server-Sent Events client for the tests: one real HTTP connection, events as they come."""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SseEvent:
    id: str | None
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class SseStream:
    """``GET path`` on ``port``; ``next()`` gives the next event (comments are kept in ``comments``)."""

    port: int
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0
    body: bytes = b""
    comments: list[str] = field(default_factory=list)
    closed: bool = False

    def __post_init__(self) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        self._conn.request("GET", self.path, headers=self.headers)
        self._response = self._conn.getresponse()
        self.status = self._response.status
        if self.status != 200:
            self.body = self._response.read()
            self.closed = True

    def next(self, timeout: float = 10) -> SseEvent | None:
        """The next event, or None when the server ended the stream; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no event within {timeout} s on {self.path}")
            self._conn.sock.settimeout(remaining)  # type: ignore[union-attr]
            try:
                line = self._response.readline()  # through the chunked framing
            except TimeoutError:
                raise AssertionError(f"no event within {timeout} s on {self.path}") from None
            if not line:
                self.closed = True
                return None
            text = line.decode().rstrip("\r\n")
            if not text:
                if "data" in fields or "event" in fields:
                    return SseEvent(fields.get("id"), fields.get("event", "message"), fields.get("data", ""))
                continue
            if text.startswith(":"):
                self.comments.append(text[1:].strip())
                continue
            name, _, value = text.partition(":")
            fields[name] = value.removeprefix(" ")

    def comment(self, timeout: float = 10) -> str:
        """The next comment line (a heartbeat); an event before it fails."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._conn.sock.settimeout(max(0.01, deadline - time.monotonic()))  # type: ignore[union-attr]
            text = self._response.readline().decode().rstrip("\r\n")
            if text.startswith(":"):
                return text[1:].strip()
            assert not text, f"an event came before a comment: {text!r}"
        raise AssertionError(f"no comment within {timeout} s on {self.path}")

    def events(self, count: int, timeout: float = 10) -> list[SseEvent]:
        events = []
        for _ in range(count):
            event = self.next(timeout)
            assert event is not None, f"the stream ended after {len(events)} of {count} events"
            events.append(event)
        return events

    def close(self) -> None:
        self._conn.close()
