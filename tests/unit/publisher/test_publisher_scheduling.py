"""Merging couriers by due time, pacing to a rate, and latency percentiles."""

from __future__ import annotations

import random

import pytest

from publisher.couriers import courier_fixes
from publisher.latency import LatencyHistogram
from publisher.pacing import BURST_ALLOWANCE_S, Pacer
from publisher.schedule import in_due_order


def test_as_fast_as_possible_couriers_take_turns() -> None:
    merged = list(in_due_order([courier_fixes(1, w, 2, 3, 1.0) for w in range(4)], realtime=False))
    assert len(merged) == 4 * 2 * 3
    assert [f.step for f in merged] == [step for step in range(6) for _ in range(4)]
    assert len({f.deliverer_id for f in merged[:4]}) == 4


def test_in_real_time_reports_come_in_due_order_and_each_courier_in_its_own_order() -> None:
    couriers = [courier_fixes(1, w, 2, 5, 1.0, phase_s=w * 0.3) for w in range(5)]
    merged = list(in_due_order(couriers, realtime=True))
    assert len(merged) == 50
    assert [f.offset_s for f in merged] == sorted(f.offset_s for f in merged)
    for courier in {f.deliverer_id for f in merged}:
        own = [f for f in merged if f.deliverer_id == courier]
        assert [f.step for f in own] == list(range(10))


def test_no_rate_means_no_waiting() -> None:
    pacer = Pacer(0)
    assert [pacer.next_send(5.0) for _ in range(3)] == [5.0, 5.0, 5.0]


def test_a_rate_spaces_sends_evenly() -> None:
    pacer = Pacer(100)
    slots = [pacer.next_send(10.0) for _ in range(5)]
    assert slots == pytest.approx([10.0, 10.01, 10.02, 10.03, 10.04])


def test_a_late_sender_makes_up_a_limited_lag() -> None:
    pacer = Pacer(100)
    pacer.next_send(0.0)
    late = 60.0
    catch_up = [pacer.next_send(late) for _ in range(500)]
    assert catch_up[0] == pytest.approx(late - BURST_ALLOWANCE_S)
    assert sum(1 for slot in catch_up if slot < late) == pytest.approx(BURST_ALLOWANCE_S * 100, abs=1)


def test_however_late_the_sender_the_cap_holds_since_the_first_send() -> None:
    """Sends go at max(slot, now); with random hold-ups, never more than rate x elapsed + 1."""
    rng = random.Random(5)
    rate, now, sent_at = 200, 0.0, []
    pacer = Pacer(rate)
    for _ in range(5_000):
        sent = max(now, pacer.next_send(now))
        sent_at.append(sent)
        now = sent + rng.choice([0.0, 0.0, 0.001, 0.02, 0.3])
    for count, moment in enumerate(sent_at, start=1):
        assert count <= rate * (moment - sent_at[0]) + 1 + 1e-9


def test_a_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        Pacer(-1)


def test_percentiles_are_within_one_percent() -> None:
    rng = random.Random(3)
    samples = [rng.lognormvariate(-4, 1) for _ in range(20_000)]
    histogram = LatencyHistogram()
    for sample in samples:
        histogram.record(sample)
    ordered = sorted(samples)
    for share in (0.5, 0.95, 0.99):
        exact = ordered[int(share * len(ordered)) - 1]
        assert histogram.percentile(share) == pytest.approx(exact, rel=0.011)
    assert histogram.summary_ms()["max"] == pytest.approx(max(samples) * 1000, abs=0.001)


def test_a_batch_counts_once_per_report() -> None:
    histogram = LatencyHistogram()
    histogram.record(0.010, times=99)
    histogram.record(1.0)
    assert histogram.count == 100
    assert histogram.percentile(0.99) == pytest.approx(0.010, rel=0.011)
    assert histogram.percentile(1.0) == 1.0


def test_no_samples_no_percentiles() -> None:
    assert LatencyHistogram().summary_ms() == {"p50": None, "p95": None, "p99": None, "max": None}
