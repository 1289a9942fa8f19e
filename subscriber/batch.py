"""Turn a batch of raw MQTT messages into valid reports and dead letters, and store them."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from deliverer.contract import LocationReport, Rejection, parse_report
from deliverer.store import InsertResult, RejectedReport, Store
from subscriber.metrics import SubscriberMetrics

log = logging.getLogger("deliverer.subscriber")


@dataclass(frozen=True)
class RawMessage:
    topic: str
    payload: bytes


@dataclass
class SortedBatch:
    reports: list[LocationReport] = field(default_factory=list)
    rejected: list[RejectedReport] = field(default_factory=list)


def sort_messages(messages: Sequence[RawMessage]) -> SortedBatch:
    batch = SortedBatch()
    now = datetime.now(UTC)
    for message in messages:
        try:
            batch.reports.append(parse_report(message.payload, message.topic))
        except Rejection as rejection:
            batch.rejected.append(
                RejectedReport.of(now, message.topic, rejection.reason.value, rejection.message, message.payload)
            )
    return batch


class StoreWriter:
    """Writes sorted batches, retrying with backoff until the store takes them or a stop is asked.

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
        delay = 0.1
        while True:
            started = time.perf_counter()
            try:
                result = self.store.insert_batch(batch.reports, batch.rejected)
            except Exception as exc:
                self.metrics.store_failures.inc()
                if self.outage_started is None:
                    self.outage_started = time.monotonic()
                    log.warning("store write failed, holding acknowledgements and retrying: %s", exc)
                wait(delay)
                if give_up.is_set():
                    return None
                delay = min(delay * 2, self.max_backoff)
                continue
            self.metrics.write_seconds.observe(time.perf_counter() - started)
            self.metrics.wrote()
            if self.outage_started is not None:
                log.info("store recovered after %.1f s", time.monotonic() - self.outage_started)
                self.outage_started = None
            for rejected in batch.rejected:
                if self.rejected_by_reason[rejected.reason] == 0:
                    log.warning("first rejected report for reason %s: %s", rejected.reason, rejected.message)
                self.rejected_by_reason[rejected.reason] += 1
                self.metrics.rejected.labels(rejected.reason).inc()
            return result
