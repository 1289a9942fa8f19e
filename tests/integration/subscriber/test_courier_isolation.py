"""One courier can never lose, hide or move another's data, through a real broker and subscriber:
msg_id squatting, reports for another courier's order, and conflicting duplicates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from deliverer.contract import LocationReport
from deliverer.local_broker import Mosquitto
from deliverer.store import Store, open_store
from tests.helpers import ServiceProcess, as_messages, publish_all, wait_until

T0 = datetime.now(UTC) - timedelta(hours=1)


def report(courier: str, order: str, msg_id: str, minute: int, lat: float = 45.0) -> LocationReport:
    return LocationReport(
        msg_id=msg_id, order_id=order, deliverer_id=courier, delivery_state="on_the_way",
        timestamp=T0 + timedelta(minutes=minute), latitude=lat, longitude=9.0,
    )


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    opened = open_store(sqlite_url)
    yield opened
    opened.close()


def test_squatting_moving_and_conflicting_reports_are_dead_lettered_and_change_nothing(
    broker: Mosquitto, store: Store, subscriber: Callable[..., ServiceProcess]
) -> None:
    d2_start = report("d2", "order-d2", "d2-1", 0, lat=45.0)
    d2_next = report("d2", "order-d2", "d2-2", 2, lat=45.1)
    squat = report("d1", "order-d1", "d2-2", 1)  # d1 publishes d2's next msg_id first
    move = report("d1", "order-d2", "d1-x", 3, lat=10.0)  # d1 reports for d2's order
    conflict = report("d2", "order-d2", "d2-1", 4, lat=12.0)  # d2's stored key with other content
    subscriber()

    publish_all(broker.url, as_messages([d2_start, squat]))
    wait_until(lambda: store.counts().locations == 2, 20, "the first two stored")
    publish_all(broker.url, as_messages([d2_next, move, conflict]))
    wait_until(lambda: store.counts().rejected == 2, 20, "the two attacks dead-lettered")

    assert store.history("order-d2") == [d2_start, d2_next], "d2's real report is stored, the attacks are not"
    assert store.last_location("order-d2") == d2_next
    assert sorted(r.reason for r in store.rejected()) == ["conflicting_duplicate", "order_owned_by_other_courier"]
    assert store.counts().locations == 3 and store.counts().orders == 2
