"""Reports through the HTTP API: batches of reports per POST over a few keep-alive connections.

The burst thread fills batches and hands them to a small pool of sender threads through a
bounded queue, which is the in-flight window here: when the API is slower than the burst,
the burst waits instead of queueing without limit.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import threading
import time
from urllib.parse import urlsplit

from deliverer.usage import UsageError
from publisher.latency import LatencyHistogram

log = logging.getLogger(__name__)

LOCATIONS_PATH = "/v1/locations"
READY_PATH = "/readyz"
QUEUE_POLL_S = 0.25
MAX_LOGGED_ERRORS = 5


class HttpTransport:
    """POSTs batches to ``/v1/locations``; acknowledged means the API answered 202."""

    def __init__(
        self,
        api_url: str,
        batch: int,
        connections: int,
        window: int,
        latencies: LatencyHistogram,
        api_key: str | None = None,
        request_timeout_s: float = 30.0,
    ) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"unsupported API URL {api_url!r}: use http://host:port")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")
        self.api_url = api_url
        self.batch = batch
        self._latencies = latencies
        self._timeout = request_timeout_s
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["X-API-Key"] = api_key
        self._batches: queue.Queue[tuple[bytes, int] | None] = queue.Queue(maxsize=max(1, window // batch))
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        self._sent = 0
        self._acked = 0
        self._errors_logged = 0
        self._abandon = threading.Event()
        self._senders = [
            threading.Thread(target=self._send_batches, name=f"http-sender-{i}", daemon=True)
            for i in range(connections)
        ]

    @property
    def sent(self) -> int:
        return self._sent

    @property
    def acked(self) -> int:
        return self._acked

    def _connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self._timeout)

    def connect(self, timeout: float) -> None:
        """Check that the API answers, then start the sender threads."""
        conn = self._connection()
        conn.timeout = timeout
        try:
            conn.request("GET", self._base + READY_PATH)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ConnectionError(f"cannot reach the API at {self.api_url}: {exc}") from exc
        finally:
            conn.close()
        if response.status != 200:
            log.warning(
                "the API at %s is not ready (%d): %s",
                self.api_url, response.status, body[:300].decode(errors="replace"),
            )
        for sender in self._senders:
            sender.start()

    def send(self, topic: str, payload: bytes, stop: threading.Event) -> bool:
        """Never refuses: a batch the full queue did not take before ``stop`` goes out in ``finish``."""
        self._pending.append(payload)
        if len(self._pending) >= self.batch:
            self._submit(stop)
        return True

    def idle(self) -> None:
        """Hand over a partial batch if a sender can take it now; otherwise it goes with the next one."""
        if not self._pending:
            return
        try:
            self._batches.put_nowait(self._batch())
        except queue.Full:
            return
        self._pending = []

    def _batch(self) -> tuple[bytes, int]:
        return b"[" + b",".join(self._pending) + b"]", len(self._pending)

    def _submit(self, stop: threading.Event, deadline: float | None = None) -> None:
        """Queue the pending batch, waiting for room until ``stop`` or ``deadline`` (then it stays pending)."""
        item = self._batch()
        while True:
            try:
                self._batches.put(item, timeout=QUEUE_POLL_S)
            except queue.Full:
                if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                    return
                continue
            self._pending = []
            return

    def finish(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if self._pending:
            self._submit(threading.Event(), deadline)
        for _ in self._senders:
            try:
                self._batches.put(None, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                return

    def wait_answered(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        for sender in self._senders:
            sender.join(max(0.0, deadline - time.monotonic()))
        return not any(sender.is_alive() for sender in self._senders)

    def close(self) -> None:
        self._abandon.set()

    def _send_batches(self) -> None:
        conn = self._connection()
        try:
            while (item := self._batches.get()) is not None:
                if self._abandon.is_set():
                    continue
                body, count = item
                with self._lock:
                    self._sent += count
                accepted = self._post(conn, body, count)
                with self._lock:
                    self._acked += accepted
        finally:
            conn.close()

    def _post(self, conn: http.client.HTTPConnection, body: bytes, count: int) -> int:
        """POST one batch; the number of reports the API accepted (0 on any error)."""
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                conn.request("POST", self._base + LOCATIONS_PATH, body=body, headers=self._headers)
                response = conn.getresponse()
                answer = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                # A keep-alive connection the server closed while idle fails on first use; the
                # batch is idempotent (msg_ids), so one retry on a fresh connection is safe.
                conn.close()
                if attempt == 2:
                    self._log_error(f"POST {LOCATIONS_PATH} failed: {exc}")
                    return 0
        if response.status != 202:
            detail = answer[:300].decode(errors="replace")
            self._log_error(f"POST {LOCATIONS_PATH} answered {response.status}: {detail}")
            return 0
        self._latencies.record(time.monotonic() - started, count)
        try:
            return int(json.loads(answer).get("accepted", count))
        except (ValueError, AttributeError):
            return count

    def _log_error(self, message: str) -> None:
        with self._lock:
            self._errors_logged += 1
            if self._errors_logged > MAX_LOGGED_ERRORS:
                return
        log.error("%s%s", message, " (further errors not logged)" if self._errors_logged == MAX_LOGGED_ERRORS else "")
