"""Simulated couriers: states in order, plausible rides inside the city, reproducible by seed."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from deliverer.contract import ID_PATTERN, DeliveryState, parse_report
from publisher.burst import BurstConfig, anchor_ms
from publisher.couriers import MILAN, Fix, Point, courier_fixes, distance_m, jittered, start_phase
from publisher.wire import report_json, timestamp_ms, topic_of

LONG_STEP_S = 30.0
"""With 40 reports 30 s apart a courier has 19.5 minutes: time enough to ride a few km."""


def fixes(
    seed: int = 1, worker: int = 0, orders: int = 1, locations: int = 40, step_s: float = LONG_STEP_S
) -> list[Fix]:
    return list(courier_fixes(seed, worker, orders, locations, step_s))


def where(fix: Fix) -> Point:
    return Point(fix.latitude, fix.longitude)


def by_order(all_fixes: list[Fix]) -> dict[str, list[Fix]]:
    return {order: list(group) for order, group in itertools.groupby(all_fixes, key=lambda f: f.order_id)}


def test_each_order_goes_start_then_on_the_way_then_arrived() -> None:
    orders = by_order(fixes(orders=3, locations=12))
    assert len(orders) == 3
    for ride in orders.values():
        assert [f.state for f in ride] == (
            [DeliveryState.START] + [DeliveryState.ON_THE_WAY] * 10 + [DeliveryState.ARRIVED]
        )
        assert [f.seq for f in ride] == list(range(12))


def test_timestamps_advance_by_the_step_across_orders() -> None:
    ride = fixes(orders=2, locations=5, step_s=2.5)
    assert [f.step for f in ride] == list(range(10))
    assert [f.offset_s for f in ride] == [2.5 * i for i in range(10)]


def test_pickup_and_dropoff_are_a_few_km_apart_when_there_is_time_to_ride() -> None:
    for worker in range(50):
        ride = fixes(worker=worker)
        straight_m = distance_m(where(ride[0]), where(ride[-1]))
        assert 1_400 <= straight_m <= 4_600, (worker, straight_m)


@pytest.mark.parametrize(("locations", "step_s"), [(40, LONG_STEP_S), (20, 5.0), (20, 1.0)])
def test_speeds_are_those_of_a_city_courier(locations: int, step_s: float) -> None:
    """Measured along the reported (jittered) points, as the lake's trip table measures them.

    A second apart, independent GPS noise would double the distance; the drifting error does not.
    """
    for worker in range(50):
        ride = fixes(worker=worker, locations=locations, step_s=step_s)
        travelled_m = sum(distance_m(where(a), where(b)) for a, b in itertools.pairwise(ride))
        average_kmh = travelled_m / (ride[-1].offset_s - ride[0].offset_s) * 3.6
        assert 8 <= average_kmh <= 30, (worker, average_kmh)
        assert all(0 < f.speed_kmh <= 40 for f in ride[1:-1])
        assert ride[0].speed_kmh == ride[-1].speed_kmh == 0


def test_a_short_burst_rides_a_short_way_at_the_same_speed() -> None:
    """Twenty reports one second apart: the courier cannot cross the city in 19 s."""
    for worker in range(50):
        ride = fixes(worker=worker, locations=20, step_s=1.0)
        straight_m = distance_m(where(ride[0]), where(ride[-1]))
        assert straight_m <= 25 / 3.6 * 19 + 50, (worker, straight_m)  # 25 km/h plus GPS jitter


def test_gps_jitter_is_metres_and_accuracy_says_how_many() -> None:
    point = Point(45.46, 9.19)
    assert distance_m(point, jittered(point, 1.0, 0.0, 5.0)) == pytest.approx(5, rel=0.01)
    assert distance_m(point, jittered(point, 0.0, -2.0, 5.0)) == pytest.approx(10, rel=0.01)
    assert all(3 <= f.accuracy_m <= 12 for f in fixes(worker=3))


def test_every_report_stays_in_the_city() -> None:
    jitter_deg = 0.001  # about 100 m: a GPS error may put a courier on the ring road itself
    for worker in range(200):
        for fix in fixes(worker=worker, orders=3, locations=10, step_s=120):
            assert MILAN.south - jitter_deg <= fix.latitude <= MILAN.north + jitter_deg, (worker, fix)
            assert MILAN.west - jitter_deg <= fix.longitude <= MILAN.east + jitter_deg, (worker, fix)


def test_the_next_order_starts_where_the_last_one_was_delivered() -> None:
    first, second = by_order(fixes(orders=2)).values()
    assert distance_m(where(first[-1]), where(second[0])) < 60  # the same spot, seen through GPS jitter twice


def test_ids_follow_the_contract_and_msg_ids_are_unique() -> None:
    all_fixes = [f for worker in range(20) for f in fixes(worker=worker, orders=2, locations=10)]
    for fix in all_fixes:
        assert ID_PATTERN.fullmatch(fix.order_id)
        assert ID_PATTERN.fullmatch(fix.deliverer_id)
    assert len({f.msg_id for f in all_fixes}) == len(all_fixes)
    assert len({f.order_id for f in all_fixes}) == 40
    assert len({f.deliverer_id for f in all_fixes}) == 20


def test_the_same_seed_gives_the_same_reports() -> None:
    assert fixes(seed=42, orders=2) == fixes(seed=42, orders=2)
    assert start_phase(42, 3) == start_phase(42, 3)


def test_another_seed_gives_other_routes_and_ids() -> None:
    one, other = fixes(seed=42), fixes(seed=43)
    assert not {f.msg_id for f in one} & {f.msg_id for f in other}
    assert {f.order_id for f in one} != {f.order_id for f in other}
    assert where(one[0]) != where(other[0])


def test_every_payload_parses_through_the_contract_to_the_same_json() -> None:
    config = BurstConfig(workers=1, interval_s=0, locations=10, orders_per_worker=2, seed=5)
    anchor = anchor_ms(config, int(time.time() * 1000))
    for fix in fixes(seed=5, orders=2, locations=10, step_s=1.0):
        payload = report_json(fix, anchor)
        report = parse_report(payload, topic_of(fix))
        assert report.to_json_dict() == json.loads(payload)
        assert report.timestamp_ms == timestamp_ms(fix, anchor)


def test_as_fast_as_possible_the_simulated_timeline_ends_now() -> None:
    """Reports 1 s apart in their timestamps, all sent at once: none may be in the future."""
    config = BurstConfig(workers=3, interval_s=0, locations=50, orders_per_worker=4, seed=9)
    now = int(time.time() * 1000)
    anchor = anchor_ms(config, now)
    stamps = [timestamp_ms(f, anchor) for w in range(3) for f in courier_fixes(9, w, 4, 50, config.step_s)]
    assert max(stamps) == now
    assert min(stamps) == now - 199_000


def test_in_real_time_offset_zero_is_now() -> None:
    """Each report is sent when its offset has passed, so its timestamp is never ahead of the clock."""
    config = BurstConfig(workers=3, interval_s=0.5, locations=50, orders_per_worker=4, seed=9)
    assert anchor_ms(config, 1_700_000_000_000) == 1_700_000_000_000
    assert 0 <= start_phase(9, 1) < 1


def test_an_order_needs_a_start_and_an_arrival() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        fixes(locations=1)
