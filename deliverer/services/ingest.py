"""Ingest: raw MQTT messages into the store, the subscriber's one call.

:meth:`Ingest.handle` takes a received batch as it came off the wire and leaves every message in the
store, as a report or as a dead letter with its reason, before it says the messages may be
acknowledged. Messages the broker sends again may be what stopped the subscriber before: their
attempts are counted in the store first (see :mod:`deliverer.services.poison`), so a message that
keeps killing the subscriber is dead-lettered instead of retried forever.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from deliverer.services.messages import RawMessage, sort_messages
from deliverer.services.poison import plan_attempts
from deliverer.services.writer import StoreWriter, Uncounted, Wait, WriteEvents
from deliverer.store import InsertResult, Store, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handled:
    """Messages of a batch that are in the store now (as reports or dead letters): acknowledge them."""

    indices: list[int]
    """Positions in the batch given to :meth:`Ingest.handle`."""
    result: InsertResult
    poisoned: int
    """Of them, dead-lettered unread as ``poison``."""


class Ingest:
    def __init__(self, store: Store, events: WriteEvents | None = None, max_backoff: float = 5.0) -> None:
        self.store = store
        self.writer = StoreWriter(store, events or Uncounted(), max_backoff)

    @property
    def in_outage(self) -> bool:
        """The store failed the last call, which is being tried again."""
        return self.writer.outage_started is not None

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        return dict(self.writer.rejected_by_reason)

    def handle(
        self, messages: Sequence[RawMessage], give_up: threading.Event, wait: Wait, done: Callable[[Handled], None]
    ) -> bool:
        """Store every message of a batch, calling ``done`` for each group once it is stored; False when
        ``give_up`` was set during a store outage (what is not done yet must not be acknowledged).

        ``wait(seconds)`` passes the time between retries of a store call.
        """
        suspects = list(dict.fromkeys(m.key for m in messages if m.redelivered))
        attempts: dict[str, int] = {}
        if suspects and not self.writer.call(
            lambda: attempts.update(self.store.delivery_attempts(suspects)), give_up, wait
        ):
            return False
        plan = plan_attempts(messages, attempts)
        if not self._handle(messages, [*plan.together, *plan.poisoned], plan.poisoned, give_up, wait, done):
            return False
        return all(self._handle(messages, [index], [], give_up, wait, done) for index in plan.alone)

    def _handle(
        self,
        messages: Sequence[RawMessage],
        indices: list[int],
        poisoned: list[int],
        give_up: threading.Event,
        wait: Wait,
        done: Callable[[Handled], None],
    ) -> bool:
        if not indices:
            return True
        group = [messages[i] for i in indices if i not in poisoned]
        # A poisoned key keeps its count: a retained copy sent again is dead-lettered at once.
        attempted = list(dict.fromkeys(m.key for m in group if m.redelivered))
        store = self.store
        if attempted and not self.writer.call(lambda: store.record_delivery_attempts(attempted), give_up, wait):
            return False
        result = self.writer.write(sort_messages(group, [messages[i] for i in poisoned]), give_up, wait)
        if result is None:
            return False
        if attempted and not self.writer.call(lambda: store.forget_delivery_attempts(attempted), give_up, wait):
            return False
        done(Handled(indices, result, len(poisoned)))
        return True

    def trim_dead_letters(self, max_age: timedelta, max_count: int) -> None:
        """Keep the dead letters within their bounds; an outage only postpones it."""
        try:
            trimmed = self.store.trim_rejected(datetime.now(UTC) - max_age, max_count)
        except StoreUnavailable as exc:
            log.debug("dead letters not trimmed this time: %s", exc)
            return
        if trimmed:
            log.info("trimmed %d dead letter(s): older than %s or beyond the newest %d", trimmed, max_age, max_count)
