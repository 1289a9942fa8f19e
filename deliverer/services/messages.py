"""Raw MQTT messages sorted into valid reports and dead letters.

Nothing one message holds may stop the stream: a message that fails to decode or validate becomes a
dead letter with its reason, and the rest of its batch goes on.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from deliverer.contract import LocationReport, Rejection, parse_report
from deliverer.store import RejectedReport

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
