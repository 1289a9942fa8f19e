"""Writing sorted batches through the store: an outage is waited out, anything else narrowed down.

Only :class:`~deliverer.store.StoreUnavailable` means "try again later". Any other failure of a batch
write comes from what the batch holds: the batch is split until the messages that fail are alone,
and those become dead letters (``unstorable``, with the error) while the rest is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from deliverer.services.messages import UNSTORABLE, SortedBatch, dead_letter
from deliverer.store import InsertResult, RejectedReport, Store, StoreUnavailable

log = logging.getLogger(__name__)

Wait = Callable[[float], None]
"""Passes the time between two tries (the subscriber services its MQTT connection meanwhile)."""


class WriteEvents(Protocol):
    """What the writer tells whoever counts (the subscriber's metrics)."""

    def store_failed(self) -> None:
        """One store call failed with an outage."""

    def batch_written(self, seconds: float) -> None:
        """A batch is in the store, after ``seconds`` of trying."""

    def dead_lettered(self, reason: str) -> None:
        """One dead letter is in the store."""

    def dropped(self) -> None:
        """A message the store refused even as a dead letter is gone (and logged)."""


class Uncounted:
    """Events nobody counts."""

    def store_failed(self) -> None:
        pass

    def batch_written(self, seconds: float) -> None:
        pass

    def dead_lettered(self, reason: str) -> None:
        pass

    def dropped(self) -> None:
        pass


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
    """Writes sorted batches and runs other store calls through outages.

    An outage is logged once when it starts and once when it ends, not at every retry.
    """

    def __init__(self, store: Store, events: WriteEvents, max_backoff: float = 5.0) -> None:
        self.store = store
        self.events = events
        self.max_backoff = max_backoff
        self.rejected_by_reason: Counter[str] = Counter()
        self.outage_started: float | None = None

    def write(self, batch: SortedBatch, give_up: threading.Event, wait: Wait) -> InsertResult | None:
        """The insert result, or None when ``give_up`` was set before the store recovered."""
        started = time.perf_counter()
        written = self._store(batch, give_up, wait)
        if written is None:
            return None
        self.events.batch_written(time.perf_counter() - started)
        for rejected in written.dead_letters:
            if self.rejected_by_reason[rejected.reason] == 0:
                log.warning("first rejected report for reason %s: %s", rejected.reason, rejected.message)
            self.rejected_by_reason[rejected.reason] += 1
            self.events.dead_lettered(rejected.reason)
        return written.result

    def call(self, action: Callable[[], object], give_up: threading.Event, wait: Wait) -> bool:
        """Run a store call through outages; False when ``give_up`` was set first."""
        delay = 0.1
        while True:
            try:
                action()
            except StoreUnavailable as exc:
                self.events.store_failed()
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

    def _insert(self, batch: SortedBatch, give_up: threading.Event, wait: Wait) -> Written | None:
        results: list[InsertResult] = []
        if not self.call(lambda: results.append(self.store.insert_batch(batch.reports, batch.rejected)), give_up, wait):
            return None
        return Written(results[0], [*batch.rejected, *results[0].refused])

    def _store(self, batch: SortedBatch, give_up: threading.Event, wait: Wait) -> Written | None:
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
        self, batch: SortedBatch, error: Exception, give_up: threading.Event, wait: Wait
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
            self.events.dropped()
            return Written(InsertResult(0, 0, 0), [])
