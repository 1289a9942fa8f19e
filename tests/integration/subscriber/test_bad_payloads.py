"""Hostile and broken payloads over MQTT: each is dead-lettered with its reason, the stream goes on."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from deliverer.local_broker import Mosquitto
from deliverer.store import open_store
from tests.bad_reports import BAD_PAYLOADS, TOPIC
from tests.helpers import ServiceProcess, as_messages, make_reports, publish_all, wait_until


def test_bad_payloads_are_rejected_with_reasons_and_valid_ones_all_stored(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    assert len(BAD_PAYLOADS) >= 25
    valid = as_messages(make_reports(500, orders=10))
    bad = [(TOPIC, payload) for _name, payload, _reason in BAD_PAYLOADS]
    stream = valid + bad
    random.Random(11).shuffle(stream)
    proc = subscriber("--batch-size", "50")
    store = open_store(sqlite_url)

    publish_all(broker.url, stream)
    wait_until(
        lambda: store.counts().rejected >= len(bad) and store.counts().locations >= 500, 60, "all reports handled"
    )

    counts = store.counts()
    assert (counts.locations, counts.rejected) == (500, len(bad))
    expected = Counter(reason for _name, _payload, reason in BAD_PAYLOADS)
    assert Counter(r.reason for r in store.rejected(limit=1000)) == expected
    for entry in store.rejected(limit=1000):
        assert entry.topic == TOPIC and entry.message
    assert proc.alive, proc.log()
    assert proc.metric('deliverer_subscriber_rejected_total{reason="too_large"}') == 1
