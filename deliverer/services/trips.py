"""The summary of one order's trip: where it started and ended, how far and how fast.

The distance is :func:`deliverer.geo.path_length_km` over the reports in time order, the same legs
the lake's ``gold/order_trips`` adds up, so the API and the lake give one trip one length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deliverer.contract import LocationReport
from deliverer.geo import path_length_km
from deliverer.services.reads import history_pages, last_location
from deliverer.store import Store


@dataclass
class TripSummary:
    """Built from reports in time order, a page at a time, so a long history is never held whole."""

    order_id: str
    first: LocationReport | None = None
    last: LocationReport | None = None
    points: int = 0
    distance_km: float = 0.0
    courier: str | None = None
    """Who the order belongs to now."""

    def add(self, reports: Sequence[LocationReport]) -> None:
        if not reports:
            return
        path = reports if self.last is None else [self.last, *reports]
        self.distance_km += path_length_km((report.latitude, report.longitude) for report in path)
        if self.first is None:
            self.first = reports[0]
        self.last = reports[-1]
        self.points += len(reports)

    def to_json_dict(self) -> dict[str, Any]:
        assert self.first is not None and self.last is not None
        duration_s = (self.last.timestamp - self.first.timestamp).total_seconds()
        return {
            "order_id": self.order_id,
            "delivery_state": self.last.delivery_state.value,
            "first": self.first.to_json_dict(),
            "last": self.last.to_json_dict(),
            "points": self.points,
            "distance_km": round(self.distance_km, 4),
            "duration_s": duration_s,
            "avg_speed_kmh": round(self.distance_km / (duration_s / 3600), 2) if duration_s > 0 else None,
            "courier": self.courier,
        }


def trip_summary(store: Store, order_id: str) -> TripSummary:
    """The order's trip over its whole stored history; raise NotFound for an order without reports."""
    trip = TripSummary(order_id)
    for page in history_pages(store, order_id):
        trip.add(page)
    if trip.points == 0:
        # History may have been deleted by retention while the last location is kept.
        trip.add([last_location(store, order_id)])
    courier = store.order_courier(order_id)
    trip.courier = courier.deliverer_id if courier else None
    return trip
