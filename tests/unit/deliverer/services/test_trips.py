"""The trip summary: the store's totals as the API shows them, and the service's reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from deliverer.contract import DeliveryState, LocationReport
from deliverer.geo import haversine_km
from deliverer.services.reads import NotFound
from deliverer.services.trips import TripSummary, trip_summary
from deliverer.store.base import MAX_HISTORY_LIMIT
from deliverer.store.memory import MemoryStore

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(minute: int, lat: float, lon: float, state: DeliveryState = DeliveryState.ON_THE_WAY) -> LocationReport:
    return LocationReport(
        msg_id=f"m{minute}", order_id="o", deliverer_id="c", delivery_state=state,
        timestamp=START + timedelta(minutes=minute), latitude=lat, longitude=lon,
    )


def test_the_summary_s_figures() -> None:
    distance = 1.234567
    summary = TripSummary(
        "o", at(0, 45.0, 9.0, DeliveryState.START), at(30, 45.05, 9.05, DeliveryState.ARRIVED), 3, distance, "c"
    ).to_json_dict()
    assert (summary["points"], summary["delivery_state"], summary["courier"]) == (3, "arrived", "c")
    assert (summary["first"]["msg_id"], summary["last"]["msg_id"]) == ("m0", "m30")
    assert summary["duration_s"] == 1800
    assert summary["distance_km"] == 1.2346, "rounded to 0.1 m"
    assert summary["avg_speed_kmh"] == round(distance * 2, 2)


def test_standing_still_has_no_average_speed() -> None:
    report = at(0, 45.0, 9.0)
    assert TripSummary("o", report, report, 1, 0.0, "c").to_json_dict()["avg_speed_kmh"] is None


def test_a_history_longer_than_one_store_page_is_one_trip() -> None:
    store = MemoryStore()
    points = MAX_HISTORY_LIMIT + 5
    store.insert_batch([at(minute, 45.0 + minute * 1e-3, 9.0) for minute in range(points)])
    summary = trip_summary(store, "o")
    assert (summary.points, summary.courier) == (points, "c")
    assert summary.distance_km == pytest.approx(haversine_km(45.0, 9.0, 45.0 + (points - 1) * 1e-3, 9.0), rel=1e-9)


def test_an_order_without_reports_has_no_trip() -> None:
    with pytest.raises(NotFound, match="no location has been reported for order 'o'"):
        trip_summary(MemoryStore(), "o")
