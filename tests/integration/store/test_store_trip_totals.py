"""The store contract for trips, on every backend: what ``/v1/orders/{id}/summary`` reads.

Each summary is checked against the trip recomputed from the order's whole stored history (its
reports in the history's time order, leg by leg), whatever order the reports arrived in, however
they were batched, and whatever was redelivered.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from deliverer.contract import LocationReport
from deliverer.geo import path_length_km
from deliverer.services.reads import NotFound
from deliverer.services.trips import TripSummary, trip_summary
from deliverer.store import HistoryCursor, Store, open_store
from deliverer.store.base import MAX_HISTORY_LIMIT

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
RELATIVE_DRIFT = 1e-9
"""Running sums add and remove legs in another order than a sum over the whole history: they may differ
in the last bits, never by more than this share of the trip."""


def report(
    order: str, msg: str, second: float, lat: float, lon: float = 9.0, courier: str = "d1"
) -> LocationReport:
    return LocationReport(
        msg_id=msg, order_id=order, deliverer_id=courier, delivery_state="on_the_way",
        timestamp=T0 + timedelta(seconds=second), latitude=lat, longitude=lon,
    )


def walk(order: str, count: int, seed: int, courier: str = "d1") -> list[LocationReport]:
    """A trip of ``count`` reports a few seconds and a few hundred metres apart, in time order."""
    rng = random.Random(seed)
    lat, lon, second = 45.0, 9.0, 0.0
    reports = []
    for n in range(count):
        reports.append(report(order, f"{order}-{n:04}", second, lat, lon, courier))
        second += rng.choice([0.0, 0.5, 1, 3, 7])  # equal timestamps too: msg_id orders those
        lat += rng.uniform(-0.003, 0.003)
        lon += rng.uniform(-0.003, 0.003)
    return reports


def whole_history(store: Store, order: str) -> list[LocationReport]:
    reports: list[LocationReport] = []
    cursor = None
    while page := store.history(order, limit=MAX_HISTORY_LIMIT, after=cursor):
        reports.extend(page)
        cursor = HistoryCursor(page[-1].timestamp, page[-1].msg_id)
    return reports


def assert_trip(summary: TripSummary, reports: Sequence[LocationReport]) -> None:
    """``summary`` is the trip of ``reports`` (in time order)."""
    assert (summary.first, summary.last, summary.points) == (reports[0], reports[-1], len(reports))
    distance = path_length_km((r.latitude, r.longitude) for r in reports)
    assert summary.distance_km == pytest.approx(distance, rel=RELATIVE_DRIFT, abs=1e-12)


def assert_summary_is_the_history_s_trip(store: Store, order: str) -> None:
    assert_trip(trip_summary(store, order), whole_history(store, order))


def test_a_trip_stored_in_order_is_summed_leg_by_leg(store: Store) -> None:
    reports = walk("o1", 60, seed=1)
    for start in range(0, 60, 13):
        store.insert_batch(reports[start : start + 13])
    summary = trip_summary(store, "o1")
    assert_trip(summary, reports)
    assert summary.courier == "d1"


def test_reports_arriving_in_any_order_give_the_trip_of_their_time_order(store: Store) -> None:
    reports = walk("o1", 80, seed=2)
    shuffled = reports[:]
    random.Random(2).shuffle(shuffled)
    for start in range(0, 80, 9):
        store.insert_batch(shuffled[start : start + 9])
        assert_summary_is_the_history_s_trip(store, "o1")
    assert_trip(trip_summary(store, "o1"), reports)


def test_a_late_report_between_two_stored_ones_replaces_their_leg(store: Store) -> None:
    a, x, b = report("o1", "a", 0, 45.0), report("o1", "x", 10, 45.1, 9.1), report("o1", "b", 20, 45.0, 9.2)
    store.insert_batch([a, b])
    store.insert_batch([x])
    assert_trip(trip_summary(store, "o1"), [a, x, b])


def test_late_reports_before_the_first_and_after_the_last_extend_the_trip(store: Store) -> None:
    middle = [report("o1", "m1", 10, 45.0), report("o1", "m2", 20, 45.01)]
    store.insert_batch(middle)
    earlier, later = report("o1", "e", 0, 44.99), report("o1", "l", 30, 45.02)
    store.insert_batch([later, earlier])
    assert_trip(trip_summary(store, "o1"), [earlier, *middle, later])


def test_several_runs_of_late_reports_in_one_batch(store: Store) -> None:
    reports = walk("o1", 40, seed=3)
    stored = reports[::4]
    store.insert_batch(stored)
    late = [r for r in reports if r not in stored]
    random.Random(3).shuffle(late)
    store.insert_batch(late)
    assert_trip(trip_summary(store, "o1"), reports)


def test_duplicates_and_conflicting_duplicates_are_not_counted(store: Store) -> None:
    reports = walk("o1", 20, seed=4)
    store.insert_batch(reports[:12])
    moved = reports[5].model_copy(update={"latitude": reports[5].latitude + 1})
    result = store.insert_batch([*reports[8:], reports[3], moved, reports[15], reports[15]])
    assert (result.inserted, [r.reason for r in result.refused]) == (8, ["conflicting_duplicate"])
    store.insert_batch(reports)  # a whole redelivery
    assert_trip(trip_summary(store, "o1"), reports)


def test_another_courier_s_refused_report_is_not_counted(store: Store) -> None:
    mine = walk("o1", 5, seed=5)
    store.insert_batch([*mine, report("o1", "intruder", 2, 10.0, courier="d2")])
    assert_trip(trip_summary(store, "o1"), mine)


def test_several_orders_in_one_batch_each_have_their_own_trip(store: Store) -> None:
    trips = {order: walk(order, 30, seed=n) for n, order in enumerate(["o1", "o2", "o3"])}
    mixed = [r for reports in trips.values() for r in reports]
    random.Random(6).shuffle(mixed)
    store.insert_batch(mixed[:50])
    store.insert_batch(mixed[50:])
    for order, reports in trips.items():
        assert_trip(trip_summary(store, order), reports)


def test_equal_timestamps_and_msg_ids_of_two_couriers_have_one_order(store: Store) -> None:
    """After a handover, two couriers' reports may share a timestamp and a msg_id: the courier's id
    orders them, in the trip as in the history, so the trip's length does not depend on arrival."""
    first = report("o1", "m1", 0, 45.0, courier="d1")
    store.insert_batch([first, report("o1", "m9", 20, 45.2, courier="d1")])
    store.hand_over("o1", "d2", T0)
    store.insert_batch([report("o1", "m5", 10, 45.1, courier="d2")])
    store.hand_over("o1", "d1", T0)
    store.insert_batch([report("o1", "m5", 10, 45.05, 9.3, courier="d1")])
    history = whole_history(store, "o1")
    assert [(r.msg_id, r.deliverer_id) for r in history] == [("m1", "d1"), ("m5", "d1"), ("m5", "d2"), ("m9", "d1")]
    assert_trip(trip_summary(store, "o1"), history)


def test_after_a_prune_the_summary_keeps_the_whole_trip(store: Store) -> None:
    reports = walk("o1", 30, seed=7)
    store.insert_batch(reports)
    assert store.delete_reports((r.deliverer_id, r.msg_id) for r in reports[:20]) == 20
    assert_trip(trip_summary(store, "o1"), reports)
    store.delete_between(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert store.history("o1") == []
    assert_trip(trip_summary(store, "o1"), reports)


def test_after_a_prune_late_reports_extend_the_trip_and_count_inside_it(store: Store) -> None:
    """Reports landing before the first or after the last add their leg to the first or last, which
    the trip keeps; one landing inside the pruned trip counts as a point, but its neighbours may be
    gone, so its legs are left out of the distance (the lake's order_trips has them)."""
    reports = walk("o1", 10, seed=8)
    store.insert_batch(reports[1:-1])
    store.delete_reports((r.deliverer_id, r.msg_id) for r in reports[1:-1])
    inside = report("o1", "inside", (reports[4].timestamp - T0).total_seconds() + 0.2, 46.0)
    store.insert_batch([reports[-1], inside, reports[0]])
    summary = trip_summary(store, "o1")
    assert (summary.first, summary.last, summary.points) == (reports[0], reports[-1], 11)
    distance = path_length_km((r.latitude, r.longitude) for r in reports)
    assert summary.distance_km == pytest.approx(distance, rel=RELATIVE_DRIFT)


def test_two_writers_adding_to_one_trip_at_once(store: Store, store_url: str) -> None:
    """Subscriber replicas split one courier's reports between them: the trip counts each once."""
    reports = walk("o1", 400, seed=9)
    store.insert_batch(reports[::10])
    rest = [r for n, r in enumerate(reports) if n % 10]
    random.Random(9).shuffle(rest)
    halves = [rest[0::2], rest[1::2]]
    other = open_store(store_url)
    together = threading.Barrier(2)

    def write(target: Store, half: list[LocationReport]) -> int:
        together.wait(timeout=30)
        return sum(target.insert_batch(half[n : n + 20]).inserted for n in range(0, len(half), 20))

    try:
        with ThreadPoolExecutor(2) as pool:
            written = [pool.submit(write, store, halves[0]), pool.submit(write, other, halves[1])]
            assert sum(f.result(timeout=120) for f in written) == len(rest)
    finally:
        other.close()
    assert_trip(trip_summary(store, "o1"), reports)


def test_an_order_without_reports_has_no_trip(store: Store) -> None:
    store.hand_over("reserved", "d1", T0)
    for order in ("never", "reserved"):
        with pytest.raises(NotFound):
            trip_summary(store, order)
