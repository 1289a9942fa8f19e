"""Turn a batch of raw MQTT messages into valid reports and dead letters, and store them.

Nothing one message holds may stop the stream: a message that fails to decode, validate or
store becomes a dead letter with its reason, and the rest of its batch is stored.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from deliverer.contract import LocationReport, Rejection, parse_report
from deliverer.store import InsertResult, RejectedReport, Store, StoreUnavailable
from subscriber.metrics import SubscriberMetrics

log = logging.getLogger(__name__)

UNEXPECTED_ERROR = "unexpected_error"
"""Dead-letter reason: validating the message raised something the contract does not know."""
UNSTORABLE = "unstorable"
"""Dead-letter reason: the store refused this message (not an outage) while it took the others."""
POISON = "poison"
"""Dead-letter reason: redelivered after the subscriber stopped while holding it, too often."""


@dataclass(frozen=True)
class RawMessage:
    topic: str
    payload: bytes
    redelivered: bool = False
    """The broker sent it before (DUP flag) or it is a retained copy: it may have been handled
    already, and may be what stopped the subscriber last time."""

    @property
    def key(self) -> str:
        """Identity of the message across redeliveries, whatever its content."""
        digest = hashlib.sha256(self.topic.encode("utf-8", "backslashreplace") + b"\0" + self.payload)
        return digest.hexdigest()[:40]


@dataclass
class SortedBatch:
    reports: list[LocationReport] = field(default_factory=list)
    sources: list[RawMessage] = field(default_factory=list)
    """The message each report came from, index for index."""
    rejected: list[RejectedReport] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.reports) + len(self.rejected)

    def halves(self) -> tuple[SortedBatch, SortedBatch]:
        """Two batches of about half the messages each (reports first, then dead letters)."""
        mid = len(self) // 2
        if mid <= len(self.reports):
            return (
                SortedBatch(self.reports[:mid], self.sources[:mid], []),
                SortedBatch(self.reports[mid:], self.sources[mid:], self.rejected),
            )
        cut = mid - len(self.reports)
        return (
            SortedBatch(self.reports, self.sources, self.rejected[:cut]),
            SortedBatch([], [], self.rejected[cut:]),
        )


def dead_letter(message: RawMessage, reason: str, text: str, now: datetime | None = None) -> RejectedReport:
    return RejectedReport.of(now or datetime.now(UTC), message.topic, reason, text, message.payload)


def sort_messages(messages: Sequence[RawMessage], poisoned: Sequence[RawMessage] = ()) -> SortedBatch:
    """Valid reports and dead letters; ``poisoned`` messages are dead-lettered without being read."""
    batch = SortedBatch()
    now = datetime.now(UTC)
    for message in poisoned:
        batch.rejected.append(
            dead_letter(
                message, POISON,
                "redelivered after the subscriber stopped while handling it, more often than allowed;"
                " dead-lettered unread so the stream goes on", now,
            )
        )
    for message in messages:
        try:
            report = parse_report(message.payload, message.topic)
        except Rejection as rejection:
            batch.rejected.append(dead_letter(message, rejection.reason.value, rejection.message, now))
        except Exception as exc:  # any failure of one message must not stop the stream
            log.exception("validating a message on %s raised", message.topic)
            batch.rejected.append(dead_letter(message, UNEXPECTED_ERROR, f"{type(exc).__name__}: {exc}", now))
        else:
            batch.reports.append(report)
            batch.sources.append(message)
    return batch


@dataclass(frozen=True)
class Written:
    """What a batch left in the store: the insert counts and the dead letters actually written."""

    result: InsertResult
    dead_letters: list[RejectedReport]

    def __add__(self, other: Written) -> Written:
        a, b = self.result, other.result
        return Written(
            InsertResult(
                a.inserted + b.inserted, a.duplicates + b.duplicates, a.rejected + b.rejected, a.refused + b.refused
            ),
            self.dead_letters + other.dead_letters,
        )


class StoreWriter:
    """Writes sorted batches: an outage is retried with backoff; anything else is narrowed down.

    Only :class:`StoreUnavailable` means "try again later". Any other failure of a batch write
    comes from what the batch holds: the batch is split until the messages that fail are alone,
    and those become dead letters (``unstorable``, with the error) while the rest is stored.
    An outage is logged once when it starts and once when it ends, not at every retry.
    """

    def __init__(self, store: Store, metrics: SubscriberMetrics, max_backoff: float = 5.0) -> None:
        self.store = store
        self.metrics = metrics
        self.max_backoff = max_backoff
        self.rejected_by_reason: Counter[str] = Counter()
        self.outage_started: float | None = None

    def write(
        self, batch: SortedBatch, give_up: threading.Event, wait: Callable[[float], None]
    ) -> InsertResult | None:
        """The insert result, or None when ``give_up`` was set before the store recovered.

        ``wait(seconds)`` passes the time between retries (the consumer services its
        connection meanwhile).
        """
        started = time.perf_counter()
        written = self._store(batch, give_up, wait)
        if written is None:
            return None
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        self.metrics.wrote()
        for rejected in written.dead_letters:
            if self.rejected_by_reason[rejected.reason] == 0:
                log.warning("first rejected report for reason %s: %s", rejected.reason, rejected.message)
            self.rejected_by_reason[rejected.reason] += 1
            self.metrics.rejected.labels(rejected.reason).inc()
        return written.result

    def call(self, action: Callable[[], object], give_up: threading.Event, wait: Callable[[float], None]) -> bool:
        """Run a store call through outages; False when ``give_up`` was set first."""
        delay = 0.1
        while True:
            try:
                action()
            except StoreUnavailable as exc:
                self.metrics.store_failures.inc()
                if self.outage_started is None:
                    self.outage_started = time.monotonic()
                    log.warning("store write failed, holding acknowledgements and retrying: %s", exc)
                wait(delay)
                if give_up.is_set():
                    return False
                delay = min(delay * 2, self.max_backoff)
                continue
            if self.outage_started is not None:
                log.info("store recovered after %.1f s", time.monotonic() - self.outage_started)
                self.outage_started = None
            return True

    def _insert(self, batch: SortedBatch, give_up: threading.Event, wait: Callable[[float], None]) -> Written | None:
        results: list[InsertResult] = []
        if not self.call(lambda: results.append(self.store.insert_batch(batch.reports, batch.rejected)), give_up, wait):
            return None
        return Written(results[0], [*batch.rejected, *results[0].refused])

    def _store(self, batch: SortedBatch, give_up: threading.Event, wait: Callable[[float], None]) -> Written | None:
        try:
            return self._insert(batch, give_up, wait)
        except Exception as exc:  # not an outage: something in this batch cannot be stored
            if len(batch) > 1:
                first, second = batch.halves()
                head = self._store(first, give_up, wait)
                tail = None if head is None else self._store(second, give_up, wait)
                return None if head is None or tail is None else head + tail
            return self._store_refused(batch, exc, give_up, wait)

    def _store_refused(
        self, batch: SortedBatch, error: Exception, give_up: threading.Event, wait: Callable[[float], None]
    ) -> Written | None:
        """One message the store refused: keep it as a dead letter saying why, or log it."""
        text = f"the store refused it: {type(error).__name__}: {error}"
        if batch.reports:
            letter = dead_letter(batch.sources[0], UNSTORABLE, text)
        else:
            refused = batch.rejected[0]
            letter = RejectedReport.of(
                refused.received_at, refused.topic, UNSTORABLE, f"{text} (was {refused.reason}: {refused.message})",
                refused.payload,
            )
        log.error("dead-lettering a message the store refused on %s: %s", letter.topic, text)
        try:
            return self._insert(SortedBatch(rejected=[letter]), give_up, wait)
        except Exception:  # even its dead letter is refused: say so, never stall
            log.exception("the store refused the dead letter too; message on %s dropped", letter.topic)
            self.metrics.dropped.inc()
            return Written(InsertResult(0, 0, 0), [])
