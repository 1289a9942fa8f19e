"""The ingest service on the in-memory store: what the subscriber's one call leaves in the store, what it
says may be acknowledged, and how it waits out an outage (the same service over Mosquitto and SQLite is
tests/integration/subscriber's)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from deliverer.contract import LocationReport
from deliverer.services.ingest import Handled, Ingest
from deliverer.services.messages import POISON, RawMessage
from deliverer.store import InsertResult, RejectedReport, StoreUnavailable
from deliverer.store.memory import MemoryStore
from tests.helpers import as_messages, make_reports, stored_ids

NEVER = threading.Event()


def messages_of(reports: list[LocationReport], redelivered: bool = False) -> list[RawMessage]:
    return [RawMessage(topic, payload, redelivered) for topic, payload in as_messages(reports)]


class Run:
    """One call of :meth:`Ingest.handle`, with what it reported done and how long it waited."""

    def __init__(self, ingest: Ingest, messages: Sequence[RawMessage], give_up: threading.Event = NEVER) -> None:
        self.done: list[Handled] = []
        self.waits: list[float] = []
        self.finished = ingest.handle(messages, give_up, self.waits.append, self.done.append)


def test_a_batch_is_stored_as_reports_and_dead_letters_and_then_acknowledged_whole() -> None:
    store = MemoryStore()
    reports = make_reports(20, orders=4)
    batch = [*messages_of(reports[:10]), RawMessage("deliverers/d1/location", b"{not json"), *messages_of(reports[10:])]

    run = Run(Ingest(store), batch)

    assert run.finished and run.waits == []
    [handled] = run.done
    assert handled.indices == list(range(21)) and handled.poisoned == 0
    assert (handled.result.inserted, handled.result.rejected) == (20, 1)
    assert sorted(stored_ids(store)) == sorted(r.msg_id for r in reports)
    assert [letter.reason for letter in store.rejected()] == ["not_json"]


def test_a_redelivered_batch_is_stored_once() -> None:
    store = MemoryStore()
    reports = make_reports(10, orders=2)
    Run(Ingest(store), messages_of(reports))

    again = Run(Ingest(store), messages_of(reports, redelivered=True))

    assert [(h.result.inserted, h.result.duplicates) for h in again.done] == [(0, 10)]
    assert store.counts().locations == 10
    assert store.delivery_attempts([m.key for m in messages_of(reports)]) == {}, "forgotten once stored"


def test_a_message_that_keeps_coming_back_is_tried_with_its_batch_then_alone_then_dead_lettered() -> None:
    store = MemoryStore()
    culprit = RawMessage("deliverers/d1/location", b'{"kills": "the subscriber"}', redelivered=True)
    innocent = messages_of(make_reports(3, orders=1), redelivered=True)
    # Two earlier runs stopped while holding it: once with its batch, once alone.
    store.record_delivery_attempts([culprit.key])
    store.record_delivery_attempts([culprit.key])

    run = Run(Ingest(store), [*innocent, culprit])

    assert [(h.indices, h.poisoned) for h in run.done] == [([0, 1, 2, 3], 1)]
    [letter] = store.rejected()
    assert letter.reason == POISON and letter.payload == culprit.payload
    assert store.counts().locations == 3


def test_a_message_tried_once_with_its_batch_is_tried_alone_after_the_others_are_acknowledged() -> None:
    store = MemoryStore()
    suspect, *others = messages_of(make_reports(4, orders=1), redelivered=True)
    store.record_delivery_attempts([suspect.key])

    run = Run(Ingest(store), [suspect, *others])

    assert [h.indices for h in run.done] == [[1, 2, 3], [0]]
    assert store.counts().locations == 4


class FailingFirst(MemoryStore):
    """The in-memory store with an outage: its first ``failures`` writes raise StoreUnavailable."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def insert_batch(
        self, reports: Sequence[LocationReport], rejected: Sequence[RejectedReport] = ()
    ) -> InsertResult:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("the test's outage")
        return super().insert_batch(reports, rejected)


def test_an_outage_is_waited_out_with_growing_pauses_and_nothing_acknowledged_meanwhile() -> None:
    store = FailingFirst(failures=4)
    reports = make_reports(5, orders=1)
    ingest = Ingest(store, max_backoff=0.3)

    run = Run(ingest, messages_of(reports))

    assert run.finished and run.waits == [0.1, 0.2, 0.3, 0.3]
    assert [h.result.inserted for h in run.done] == [5]
    assert not ingest.in_outage


def test_giving_up_during_an_outage_acknowledges_nothing() -> None:
    store = FailingFirst(failures=1_000)
    give_up = threading.Event()
    ingest = Ingest(store)
    done: list[Handled] = []

    def wait(_seconds: float) -> None:
        give_up.set()

    assert not ingest.handle(messages_of(make_reports(5, orders=1)), give_up, wait, done.append)
    assert done == [] and ingest.in_outage and store.counts().locations == 0


def test_dead_letters_are_trimmed_to_their_bounds() -> None:
    store = MemoryStore()
    old = datetime.now(UTC) - timedelta(days=30)
    letters = [RejectedReport.of(old, "deliverers/d1/location", "not_json", "bad", b"{") for _ in range(3)]
    store.insert_batch([], letters)
    Ingest(store).trim_dead_letters(timedelta(days=7), max_count=100)
    assert store.counts().rejected == 0
