"""The store contract, run against every backend."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from deliverer.contract import LocationReport
from deliverer.store import HistoryCursor, RejectedReport, Store
from deliverer.store.base import EXPORT_COLUMNS, REJECTED_PAYLOAD_KEEP_BYTES
from tests.helpers import make_reports, stored_ids, wait_until

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def report(order: str, msg: str, at: datetime, lat: float = 45.0) -> LocationReport:
    return LocationReport(
        msg_id=msg, order_id=order, deliverer_id="d1", delivery_state="on_the_way",
        timestamp=at, latitude=lat, longitude=9.0,
    )


def test_insert_is_idempotent_and_counts_duplicates(store: Store) -> None:
    reports = make_reports(300, orders=7, start=T0)
    assert (store.insert_batch(reports).inserted, store.insert_batch(reports).duplicates) == (300, 300)
    mixed = make_reports(310, orders=7, start=T0)
    result = store.insert_batch(mixed)
    assert (result.inserted, result.duplicates) == (10, 300)
    counts = store.counts()
    assert (counts.locations, counts.orders, counts.rejected) == (310, 7, 0)


def test_duplicates_inside_one_batch_are_stored_once(store: Store) -> None:
    one = report("o1", "m1", T0)
    result = store.insert_batch([one, one, one])
    assert (result.inserted, result.duplicates) == (1, 2)
    assert store.counts().locations == 1


def test_last_location_never_moves_backwards(store: Store) -> None:
    newest = report("o1", "m3", T0 + timedelta(minutes=3), lat=46.0)
    store.insert_batch([newest])
    store.insert_batch([report("o1", "m1", T0), report("o1", "m2", T0 + timedelta(minutes=1))])
    last = store.last_location("o1")
    assert last is not None and last.msg_id == "m3" and last.latitude == 46.0
    assert last.timestamp == newest.timestamp


def test_last_location_is_the_same_whatever_the_arrival_order(store: Store) -> None:
    reports = make_reports(200, orders=5, start=T0)
    tie = report("o-0", "zz-tie", reports[-5].timestamp)
    shuffled = [*reports, tie]
    random.Random(3).shuffle(shuffled)
    for chunk in range(0, len(shuffled), 17):
        store.insert_batch(shuffled[chunk : chunk + 17])
    for order in range(5):
        last = store.last_location(f"o-{order}")
        expected = max(
            (r for r in [*reports, tie] if r.order_id == f"o-{order}"), key=lambda r: (r.timestamp, r.msg_id)
        )
        assert last is not None and last.msg_id == expected.msg_id


def test_last_location_of_unknown_order_is_none(store: Store) -> None:
    assert store.last_location("nope") is None
    assert store.last_location('{"$ne": null}') is None


def test_stored_report_reads_back_equal(store: Store) -> None:
    original = LocationReport(
        msg_id="full", order_id="o9", deliverer_id="d9", delivery_state="arrived",
        timestamp="2026-03-01T10:00:00.123+01:00", latitude=-33.5, longitude=151.25,
        speed_kmh=12.5, heading=90.0, accuracy_m=4.0, seq=7,
    )
    store.insert_batch([original])
    assert store.last_location("o9") == original
    assert store.history("o9") == [original]


def test_history_is_ordered_filtered_limited_and_pages(store: Store) -> None:
    reports = [report("o1", f"m{i:03}", T0 + timedelta(seconds=i)) for i in range(50)]
    reports.append(report("o1", "m-same-second", T0 + timedelta(seconds=10)))
    shuffled = reports[:]
    random.Random(1).shuffle(shuffled)
    store.insert_batch(shuffled)
    store.insert_batch([report("other", "x1", T0)])

    history = store.history("o1")
    assert [r.msg_id for r in history] == [
        r.msg_id for r in sorted(reports, key=lambda r: (r.timestamp, r.msg_id))
    ]
    window = store.history("o1", since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=20))
    assert len(window) == 11 and window[0].timestamp == T0 + timedelta(seconds=10)
    assert len(store.history("o1", limit=5)) == 5

    pages, cursor = [], None
    while True:
        page = store.history("o1", limit=7, after=cursor)
        if not page:
            break
        pages.extend(page)
        cursor = HistoryCursor(page[-1].timestamp, page[-1].msg_id)
    assert [r.msg_id for r in pages] == [r.msg_id for r in history]


def test_rejected_reports_are_kept_with_reason_and_truncated_payload(store: Store) -> None:
    now = datetime.now(UTC)
    big = b"x" * 1_000_000
    store.insert_batch(
        [],
        [
            RejectedReport.of(now, "deliverers/d1/location", "not_json", "payload is not valid JSON", b"{"),
            RejectedReport.of(now, "deliverers/d2/location", "too_large", "too big", big),
        ],
    )
    rejected = store.rejected()
    assert store.counts().rejected == 2
    by_reason = {r.reason: r for r in rejected}
    assert by_reason["not_json"].payload == b"{"
    assert by_reason["too_large"].payload_size == 1_000_000
    assert len(by_reason["too_large"].payload) == REJECTED_PAYLOAD_KEEP_BYTES


def test_scan_in_adjacent_slices_returns_every_row_once(store: Store) -> None:
    reports = make_reports(1_000, orders=10, start=T0, step_s=97.3)
    store.insert_batch(reports)
    end = T0 + timedelta(days=2)
    edges = [T0 + timedelta(hours=h) for h in range(0, 49, 5)] + [end]
    rows = [row for a, b in pairwise(edges) for row in store.scan(a, b, batch_size=64)]
    assert sorted(row[0] for row in rows) == sorted(r.msg_id for r in reports)
    first = dict(zip(EXPORT_COLUMNS, rows[0], strict=True))
    assert first["timestamp"].tzinfo is not None and first["ingested_at"].tzinfo is not None
    assert sum(store.count_between(a, b) for a, b in pairwise(edges)) == 1_000


def test_days_ingested_since_names_the_event_days_of_new_reports(store: Store) -> None:
    store.insert_batch([report("o1", "a", T0), report("o1", "b", T0 + timedelta(days=1))])
    after_first = datetime.now(UTC)
    mark = wait_until(
        lambda: (now := datetime.now(UTC)) > after_first + timedelta(milliseconds=2) and now, 1, "the clock"
    )
    assert store.event_days_ingested_since(T0 - timedelta(days=365)) == ["2026-03-01", "2026-03-02"]
    store.insert_batch([report("o2", "late", T0 + timedelta(hours=5)), report("o2", "new", T0 + timedelta(days=3))])
    assert store.event_days_ingested_since(mark) == ["2026-03-01", "2026-03-04"]


def test_delete_between_removes_history_and_keeps_last_locations(store: Store) -> None:
    store.insert_batch([report("o1", "a", T0), report("o1", "b", T0 + timedelta(days=1))])
    assert store.delete_between(T0, T0 + timedelta(days=1)) == 1
    assert [r.msg_id for r in store.history("o1")] == ["b"]
    last = store.last_location("o1")
    assert last is not None and last.msg_id == "b"


def test_ping_answers(store: Store) -> None:
    store.ping()


def test_delete_reports_removes_exactly_the_keys_given(store: Store) -> None:
    mine = [report("o1", "a", T0), report("o1", "b", T0 + timedelta(minutes=1))]
    other_courier = LocationReport(
        msg_id="c", order_id="o2", deliverer_id="d2", delivery_state="start", timestamp=T0, latitude=45.0, longitude=9.0
    )
    store.insert_batch([*mine, other_courier])
    # The key is the pair: courier d2 has no report "a", courier d1 has no report "c".
    assert store.delete_reports([("d1", "a"), ("d2", "a"), ("d1", "c"), ("d1", "never-stored")]) == 1
    assert sorted(stored_ids(store)) == ["b", "c"]
    last = store.last_location("o1")
    assert last is not None and last.msg_id == "b"
    assert store.delete_reports(iter([("d1", "a")])) == 0, "a retried delete finds nothing more to do"
    assert store.delete_reports([]) == 0


def test_delete_reports_takes_many_keys_from_a_stream(store: Store) -> None:
    reports = make_reports(2_500, orders=40, start=T0)
    store.insert_batch(reports)
    doomed = reports[:2_400]
    assert store.delete_reports((r.deliverer_id, r.msg_id) for r in doomed) == 2_400
    assert sorted(stored_ids(store)) == sorted(r.msg_id for r in reports[2_400:])
