"""The store contract for live tracking and lookups, run against every backend: a courier's last
location, orders by recency, and the ingest log that live streams tail and resume from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deliverer.contract import DeliveryState, LocationReport
from deliverer.store import HistoryCursor, InvalidPosition, Store, StoredReport
from deliverer.store.base import START_POSITION, position_order
from tests.helpers import wait_until

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def report(
    order: str, msg: str, at: datetime, deliverer: str = "d1", state: str = "on_the_way", lat: float = 45.0
) -> LocationReport:
    return LocationReport(
        msg_id=msg, order_id=order, deliverer_id=deliverer, delivery_state=DeliveryState(state),
        timestamp=at, latitude=lat, longitude=9.0,
    )


def tail(store: Store, count: int, position: str = START_POSITION, order_id: str | None = None) -> list[StoredReport]:
    """The first ``count`` reports after ``position``, waiting for a backend that shows them once settled."""
    return wait_until(
        lambda: (rows := store.reports_stored_after(position, order_id=order_id)) and len(rows) >= count and rows,
        10, f"{count} reports in the ingest log",
    )


def test_a_couriers_last_location_is_its_newest_report_whatever_the_order(store: Store) -> None:
    store.insert_batch([
        report("o1", "a", T0, deliverer="c7"),
        report("o2", "b", T0 + timedelta(minutes=5), deliverer="c7", lat=46.0),
        report("o3", "c", T0 + timedelta(minutes=9), deliverer="c8"),
    ])
    store.insert_batch([report("o1", "late", T0 + timedelta(minutes=1), deliverer="c7")])
    newest = store.last_location_of_deliverer("c7")
    assert newest is not None and (newest.msg_id, newest.order_id, newest.latitude) == ("b", "o2", 46.0)
    assert store.last_location_of_deliverer("nobody") is None
    assert store.last_location_of_deliverer('{"$ne": null}') is None


def test_orders_by_recency_newest_first_active_only_and_paged(store: Store) -> None:
    reports = [
        report(f"o{n}", f"m{n}", T0 + timedelta(minutes=n), state="arrived" if n % 4 == 0 else "on_the_way")
        for n in range(1, 13)
    ]
    tie = report("o99", "m99", T0 + timedelta(minutes=12))  # same time as o12: order_id breaks the tie
    store.insert_batch([*reports, tie])
    everything = [r.order_id for r in store.orders_by_recency(limit=100)]
    assert everything == ["o99", "o12", "o11", "o10", "o9", "o8", "o7", "o6", "o5", "o4", "o3", "o2", "o1"]
    active = [r.order_id for r in store.orders_by_recency(active_only=True, limit=100)]
    assert active == [o for o in everything if o not in ("o4", "o8", "o12")]
    recent = store.orders_by_recency(since=T0 + timedelta(minutes=10), active_only=True, limit=100)
    assert [r.order_id for r in recent] == ["o99", "o11", "o10"]

    pages: list[str] = []
    after: HistoryCursor | None = None
    while page := store.orders_by_recency(active_only=True, limit=3, after=after):
        pages.extend(r.order_id for r in page)
        after = HistoryCursor(timestamp=page[-1].timestamp, msg_id=page[-1].order_id)
    assert pages == active


def test_the_ingest_log_lists_reports_in_storage_order_and_resumes_after_any_position(store: Store) -> None:
    assert store.head_position() == START_POSITION
    assert store.reports_stored_after(START_POSITION) == []
    first = [report("o1", "a1", T0 + timedelta(minutes=3)), report("o2", "b1", T0)]
    store.insert_batch(first)
    late = [report("o1", "a0", T0)]  # stored after, though older: the log is in storage order
    store.insert_batch(late)
    store.insert_batch(first)  # duplicates are not stored again, so not logged again

    log = tail(store, 3)
    assert len(log) == 3
    assert [s.report.msg_id for s in log][-1] == "a0"
    assert {s.report.msg_id for s in log[:2]} == {"a1", "b1"}
    positions = [s.position for s in log]
    assert sorted(positions, key=position_order) == positions and len(set(positions)) == 3
    assert all(position_order(p) > position_order(START_POSITION) for p in positions)
    assert wait_until(lambda: store.head_position() == positions[-1], 10, "the head at the newest report")

    assert [s.report.msg_id for s in store.reports_stored_after(positions[0])] == [s.report.msg_id for s in log[1:]]
    assert store.reports_stored_after(positions[-1]) == []
    of_o1 = store.reports_stored_after(START_POSITION, order_id="o1")
    assert [s.report.msg_id for s in of_o1] == ["a1", "a0"]
    assert [s.report.msg_id for s in store.reports_stored_after(of_o1[0].position, order_id="o1")] == ["a0"]
    assert [s.report.msg_id for s in store.reports_stored_after(START_POSITION, limit=2)] == [
        s.report.msg_id for s in log[:2]
    ]
    assert log[-1].report == late[0]


@pytest.mark.parametrize("hostile", ["", "-1", "01", "1e3", "x" * 300, "99999999999999999999999", "١٢"])
def test_a_position_the_store_never_gave_is_refused(store: Store, hostile: str) -> None:
    with pytest.raises(InvalidPosition):
        store.reports_stored_after(hostile)
