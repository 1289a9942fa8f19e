"""The store contract, run against every backend."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from deliverer.contract import LocationReport
from deliverer.store import HistoryCursor, RejectedReport, Store, open_store
from deliverer.store.admission import recency
from deliverer.store.base import EXPORT_COLUMNS, REJECTED_PAYLOAD_KEEP_BYTES
from tests.helpers import make_reports, stored_ids, wait_until

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def report(order: str, msg: str, at: datetime, lat: float = 45.0, courier: str = "d1") -> LocationReport:
    return LocationReport(
        msg_id=msg, order_id=order, deliverer_id=courier, delivery_state="on_the_way",
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
    tie = report("o-0", "zz-tie", reports[-5].timestamp, courier="d0")
    shuffled = [*reports, tie]
    random.Random(3).shuffle(shuffled)
    for chunk in range(0, len(shuffled), 17):
        store.insert_batch(shuffled[chunk : chunk + 17])
    for order in range(5):
        last = store.last_location(f"o-{order}")
        expected = max(
            (r for r in [*reports, tie] if r.order_id == f"o-{order}"), key=recency
        )
        assert last is not None and last.msg_id == expected.msg_id


def test_a_newer_report_without_the_optional_fields_clears_them(store: Store) -> None:
    full = LocationReport(
        msg_id="m1", order_id="o1", deliverer_id="d1", delivery_state="on_the_way", timestamp=T0,
        latitude=45.0, longitude=9.0, speed_kmh=30.0, heading=90.0, accuracy_m=5.0, seq=1,
    )
    bare = report("o1", "m2", T0 + timedelta(minutes=1), lat=45.1)
    store.insert_batch([full])
    store.insert_batch([bare])
    assert store.last_location("o1") == bare


def test_two_writers_starting_the_same_orders_at_once_keep_the_newest_report(store: Store, store_url: str) -> None:
    """Subscriber replicas write at once: whichever creates an order's last location, the newest
    report ends up there, and every report is stored once."""
    other = open_store(store_url)
    orders = [f"race-{n}" for n in range(40)]
    older = [report(order, f"{order}-older", T0) for order in orders]
    newer = [report(order, f"{order}-newer", T0 + timedelta(minutes=1), lat=46.0) for order in orders]
    together = threading.Barrier(2)

    def write(target: Store, batch: list[LocationReport]) -> int:
        together.wait(timeout=30)
        return target.insert_batch(batch).inserted

    try:
        with ThreadPoolExecutor(2) as pool:
            written = [pool.submit(write, store, older), pool.submit(write, other, newer)]
            assert [f.result(timeout=60) for f in written] == [40, 40]
    finally:
        other.close()
    assert [store.last_location(order) for order in orders] == newer
    assert store.counts().locations == 80


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


def test_a_day_larger_than_one_delete_request_is_deleted_whole(store: Store) -> None:
    day = make_reports(2_500, orders=25, start=T0, step_s=10.0)
    store.insert_batch([*day, report("o-next", "next-day", T0 + timedelta(days=1))])
    assert store.delete_between(T0, T0 + timedelta(days=1)) == 2_500
    assert store.count_between(T0, T0 + timedelta(days=1)) == 0
    assert store.counts().locations == 1
    assert store.delete_between(T0, T0 + timedelta(days=1)) == 0


def test_delete_between_removes_history_and_keeps_last_locations(store: Store) -> None:
    store.insert_batch([report("o1", "a", T0), report("o1", "b", T0 + timedelta(days=1))])
    assert store.delete_between(T0, T0 + timedelta(days=1)) == 1
    assert [r.msg_id for r in store.history("o1")] == ["b"]
    last = store.last_location("o1")
    assert last is not None and last.msg_id == "b"


def test_ping_answers(store: Store) -> None:
    store.ping()


def _letter(at: datetime, reason: str, n: int) -> RejectedReport:
    return RejectedReport.of(at, "deliverers/d1/location", reason, f"problem {n}", f"payload {n}".encode())


def test_dead_letters_are_listed_newest_first_by_reason_and_time_and_found_by_id(store: Store) -> None:
    letters = [_letter(T0 + timedelta(minutes=n), ("not_json", "too_deep")[n % 2], n) for n in range(6)]
    store.insert_batch([], letters[3:] + letters[:3])

    newest_first = store.rejected()
    assert [r.message for r in newest_first] == [f"problem {n}" for n in (5, 4, 3, 2, 1, 0)]
    assert len({r.id for r in newest_first}) == 6 and all(r.id for r in newest_first)
    assert [r.message for r in store.rejected(reason="too_deep")] == ["problem 5", "problem 3", "problem 1"]
    assert [r.message for r in store.rejected(since=T0 + timedelta(minutes=4))] == ["problem 5", "problem 4"]
    assert [r.message for r in store.rejected(limit=2, reason="not_json")] == ["problem 4", "problem 2"]
    assert store.rejected(limit=0) == []
    assert store.rejected_entry(newest_first[2].id) == newest_first[2]
    assert store.rejected_entry("no-such-id") is None


def test_dead_letters_received_at_one_moment_are_listed_last_stored_first(store: Store) -> None:
    store.insert_batch([], [_letter(T0, "not_json", n) for n in range(3)])
    store.insert_batch([], [_letter(T0, "not_json", n) for n in range(3, 5)])
    assert [r.message for r in store.rejected()] == [f"problem {n}" for n in (4, 3, 2, 1, 0)]
    assert [r.message for r in store.rejected(limit=2)] == ["problem 4", "problem 3"]


def test_a_limit_of_zero_lists_nothing(store: Store) -> None:
    store.insert_batch([report("o1", "m1", T0)], [_letter(T0, "not_json", 0)])
    assert store.history("o1", limit=0) == []
    assert store.rejected(limit=0) == [] and store.rejected(limit=-1) == []


def test_deleting_dead_letters_by_id(store: Store) -> None:
    store.insert_batch([], [_letter(T0, "not_json", n) for n in range(3)])
    first, second, third = store.rejected()
    assert store.delete_rejected([first.id, third.id, "no-such-id"]) == 2
    assert store.rejected() == [second]


def test_dead_letters_are_bounded_by_age_and_by_count(store: Store) -> None:
    letters = [_letter(T0 + timedelta(hours=n), "not_json", n) for n in range(10)]
    random.Random(2).shuffle(letters)  # "newest" is by the time received, not by the order stored
    store.insert_batch([], letters)
    assert store.trim_rejected(older_than=T0 + timedelta(hours=3), keep_newest=100) == 3
    assert store.trim_rejected(older_than=T0, keep_newest=4) == 3
    assert [r.message for r in store.rejected()] == [f"problem {n}" for n in (9, 8, 7, 6)]
    assert store.trim_rejected(older_than=T0, keep_newest=4) == 0
    assert store.counts().rejected == 4


def test_delivery_attempts_are_counted_per_key_and_forgotten(store: Store) -> None:
    assert store.delivery_attempts(["a", "b"]) == {}
    store.record_delivery_attempts(["a", "b"])
    store.record_delivery_attempts(["a"])
    assert store.delivery_attempts(["a", "b", "c"]) == {"a": 2, "b": 1}
    store.forget_delivery_attempts(["a"])
    assert store.delivery_attempts(["a", "b"]) == {"b": 1}
    many = [f"k{n}" for n in range(1200)]
    store.record_delivery_attempts(many)
    assert store.delivery_attempts(many) == dict.fromkeys(many, 1)


def test_stale_delivery_attempts_go_with_old_dead_letters(store: Store) -> None:
    store.record_delivery_attempts(["old"])
    store.trim_rejected(older_than=datetime.now(UTC) + timedelta(seconds=1), keep_newest=100)
    assert store.delivery_attempts(["old"]) == {}


def test_the_idempotency_key_is_per_courier_so_a_squatted_msg_id_takes_nothing(store: Store) -> None:
    squatter = report("o-d1", "next-id", T0, courier="d1")
    victim = report("o-d2", "next-id", T0 + timedelta(seconds=1), courier="d2")
    assert store.insert_batch([squatter]).inserted == 1
    result = store.insert_batch([victim])
    assert (result.inserted, result.duplicates, result.refused) == (1, 0, ())
    assert store.last_location("o-d2") == victim and store.history("o-d2") == [victim]


def test_a_conflicting_duplicate_is_dead_lettered_and_changes_nothing(store: Store) -> None:
    original = report("o1", "m1", T0, lat=45.0)
    store.insert_batch([original])
    moved = report("o1", "m1", T0 + timedelta(minutes=5), lat=46.0)
    elsewhere = report("o-new", "m1", T0 + timedelta(minutes=6), lat=47.0)

    result = store.insert_batch([moved, elsewhere, original])

    assert (result.inserted, result.duplicates) == (0, 1)
    assert [r.reason for r in result.refused] == ["conflicting_duplicate"] * 2
    assert "stored order o1, on_the_way, 2026-03-01T10:00:00.000Z, 45.0, 9.0" in result.refused[0].message
    assert store.history("o1") == [original] and store.last_location("o1") == original
    assert store.last_location("o-new") is None and store.order_courier("o-new") is None
    assert store.counts().orders == 1
    letters = store.rejected()
    assert sorted(r.reason for r in letters) == ["conflicting_duplicate"] * 2
    assert {LocationReport.model_validate_json(r.payload) for r in letters} == {moved, elsewhere}


def test_within_one_batch_the_first_version_of_a_key_wins(store: Store) -> None:
    first, second = report("o1", "m1", T0, lat=45.0), report("o1", "m1", T0, lat=45.5)
    result = store.insert_batch([first, second])
    assert (result.inserted, [r.reason for r in result.refused]) == (1, ["conflicting_duplicate"])
    assert store.history("o1") == [first]


def test_an_order_belongs_to_the_courier_that_started_it_until_handed_over(store: Store) -> None:
    store.insert_batch([report("o1", "a1", T0, courier="d1")])
    intruder = report("o1", "b1", T0 + timedelta(minutes=1), lat=10.0, courier="d2")

    refused = store.insert_batch([intruder])

    assert (refused.inserted, [r.reason for r in refused.refused]) == (0, ["order_owned_by_other_courier"])
    last = store.last_location("o1")
    assert last is not None and last.deliverer_id == "d1" and last.latitude == 45.0
    owner = store.order_courier("o1")
    assert owner is not None and owner.deliverer_id == "d1" and owner.handovers == ()

    handed = store.hand_over("o1", "d2", T0 + timedelta(minutes=2))
    assert handed.deliverer_id == "d2" and [(h.from_deliverer, h.to_deliverer) for h in handed.handovers] == [
        ("d1", "d2")
    ]
    late_old_courier = report("o1", "a2", T0 + timedelta(minutes=3), courier="d1")
    result = store.insert_batch([intruder, late_old_courier, report("o1", "a1", T0, courier="d1")])
    assert (result.inserted, result.duplicates) == (1, 1), "d1's stored report stays a plain duplicate"
    assert [r.reason for r in result.refused] == ["order_owned_by_other_courier"]
    assert store.last_location("o1") == intruder


def test_an_order_handed_over_before_its_first_report_refuses_everyone_else(store: Store) -> None:
    store.hand_over("o9", "d9", T0)
    squatter, courier = report("o9", "x", T0, courier="d1"), report("o9", "y", T0, courier="d9")
    result = store.insert_batch([squatter, courier])
    assert result.inserted == 1 and [r.reason for r in result.refused] == ["order_owned_by_other_courier"]
    owner = store.order_courier("o9")
    assert owner is not None and owner.deliverer_id == "d9"
    assert [(h.from_deliverer, h.to_deliverer) for h in owner.handovers] == [(None, "d9")]
    assert store.hand_over("o9", "d9", T0 + timedelta(hours=1)).handovers == owner.handovers, "no-op handover"


def test_two_couriers_starting_one_order_in_one_batch_the_first_one_owns_it(store: Store) -> None:
    result = store.insert_batch([report("o1", "m", T0, courier="d2"), report("o1", "m", T0, courier="d1")])
    assert result.inserted == 1 and [r.reason for r in result.refused] == ["order_owned_by_other_courier"]
    owner = store.order_courier("o1")
    assert owner is not None and owner.deliverer_id == "d2"


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


def test_after_a_handover_the_last_location_is_the_new_couriers_never_the_previous_ones(store: Store) -> None:
    """A squatter that claimed an order with a report dated ahead (within the allowed clock skew) must not
    keep its position on the order once an operator hands the order to its courier."""
    squat = report("o1", "s1", T0 + timedelta(minutes=9), lat=1.0, courier="evil")
    store.insert_batch([squat])
    refused = store.insert_batch([report("o1", "c1", T0, courier="d1")])
    assert [r.reason for r in refused.refused] == ["order_owned_by_other_courier"]

    store.hand_over("o1", "d1", T0 + timedelta(minutes=1))
    assert store.last_location("o1") is None, "the order has no position of its courier yet"
    assert all(r.order_id != "o1" for r in store.orders_by_recency())

    courier = report("o1", "c2", T0 + timedelta(minutes=2), lat=45.5, courier="d1")
    assert store.insert_batch([courier]).inserted == 1
    assert store.last_location("o1") == courier, "older than the squatter's report, and still the order's last"

    store.hand_over("o1", "d2", T0 + timedelta(minutes=3))
    store.hand_over("o1", "d1", T0 + timedelta(minutes=4))
    assert store.last_location("o1") == courier, "handed back: its courier's newest stored report again"
