"""The ingest service's writer on a real SQLite file: an outage is retried, anything else is narrowed
down to the messages the store refuses, which become dead letters while the rest of the batch is stored."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deliverer.services.messages import RawMessage, sort_messages
from deliverer.services.writer import StoreWriter
from deliverer.store import Store, open_store
from subscriber.metrics import SubscriberMetrics
from tests.helpers import as_messages, make_reports, stored_ids


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{db}")
    yield opened
    opened.close()


def refuse(db: Path, table: str, condition: str) -> None:
    """A trigger that makes SQLite itself refuse some rows, as a constraint or a bug would."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {condition}"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
        )


def write(
    store: Store, messages: list[RawMessage], metrics: SubscriberMetrics | None = None
) -> tuple[StoreWriter, int | None]:
    writer = StoreWriter(store, metrics or SubscriberMetrics())
    result = writer.write(sort_messages(messages), threading.Event(), lambda _s: None)
    return writer, None if result is None else result.inserted


def test_a_report_the_store_refuses_is_dead_lettered_and_the_rest_of_its_batch_stored(
    db: Path, store: Store
) -> None:
    reports = make_reports(300, orders=30)
    refuse(db, "locations", "NEW.order_id = 'o-7'")
    messages = [RawMessage(topic, payload) for topic, payload in as_messages(reports)]

    writer, inserted = write(store, messages)

    kept = [r for r in reports if r.order_id != "o-7"]
    assert inserted == len(kept) == 290
    assert sorted(stored_ids(store)) == sorted(r.msg_id for r in kept)
    letters = store.rejected(limit=100)
    assert len(letters) == 10 and {r.reason for r in letters} == {"unstorable"}
    assert all("IntegrityError: refused by the test trigger" in r.message for r in letters)
    assert writer.rejected_by_reason["unstorable"] == 10


def test_a_dead_letter_the_store_refuses_is_kept_as_unstorable_with_its_first_reason(db: Path, store: Store) -> None:
    refuse(db, "rejected", "NEW.reason = 'not_json'")
    messages = [RawMessage("deliverers/d1/location", b"not json at all")] + [
        RawMessage(topic, payload) for topic, payload in as_messages(make_reports(20, orders=2))
    ]

    _writer, inserted = write(store, messages)

    assert inserted == 20
    [letter] = store.rejected()
    assert letter.reason == "unstorable" and "(was not_json:" in letter.message
    assert letter.payload == b"not json at all"


def test_a_message_whose_dead_letter_is_refused_too_is_dropped_with_a_count_not_retried(
    db: Path, store: Store
) -> None:
    refuse(db, "rejected", "1")
    messages = [RawMessage("deliverers/d1/location", b"[]")] + [
        RawMessage(topic, payload) for topic, payload in as_messages(make_reports(5, orders=1))
    ]

    metrics = SubscriberMetrics()
    _writer, inserted = write(store, messages, metrics)

    assert inserted == 5 and store.counts().rejected == 0
    assert metrics.registry.get_sample_value("deliverer_subscriber_dropped_total") == 1
