from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app_api.trip import TripSummary
from deliverer.contract import DeliveryState, LocationReport
from deliverer.geo import haversine_km

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def at(minute: int, lat: float, lon: float, state: DeliveryState = DeliveryState.ON_THE_WAY) -> LocationReport:
    return LocationReport(
        msg_id=f"m{minute}", order_id="o", deliverer_id="c", delivery_state=state,
        timestamp=START + timedelta(minutes=minute), latitude=lat, longitude=lon,
    )


def test_summary_adds_up_pages() -> None:
    trip = TripSummary()
    trip.add([at(0, 45.0, 9.0, DeliveryState.START), at(10, 45.05, 9.0)])
    trip.add([at(30, 45.05, 9.05, DeliveryState.ARRIVED)])
    summary = trip.to_json_dict("o")
    distance = haversine_km(45.0, 9.0, 45.05, 9.0) + haversine_km(45.05, 9.0, 45.05, 9.05)
    assert summary["points"] == 3
    assert summary["delivery_state"] == "arrived"
    assert summary["first"]["msg_id"] == "m0"
    assert summary["last"]["msg_id"] == "m30"
    assert summary["duration_s"] == 1800
    assert summary["distance_km"] == pytest.approx(distance, abs=1e-4)
    assert summary["avg_speed_kmh"] == pytest.approx(distance * 2, abs=0.01)


def test_standing_still_has_no_average_speed() -> None:
    trip = TripSummary()
    trip.add([at(0, 45.0, 9.0)])
    assert trip.to_json_dict("o")["avg_speed_kmh"] is None
