"""The summary of one order's trip: where it started and ended, how far and how fast.

The store keeps each trip's totals as it writes (:mod:`deliverer.store.trip_totals`): the distance is
:func:`deliverer.geo.path_length_km` over the reports in time order, the same legs the lake's
``gold/order_trips`` adds up, so the API and the lake give one trip one length, and the summary reads one
record whatever the trip's length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deliverer.contract import LocationReport
from deliverer.services.reads import last_location
from deliverer.store import Store


@dataclass(frozen=True)
class TripSummary:
    order_id: str
    first: LocationReport
    last: LocationReport
    points: int
    distance_km: float
    courier: str | None
    """Who the order belongs to now."""

    def to_json_dict(self) -> dict[str, Any]:
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
    """The order's trip as the store keeps it; raise NotFound for an order without reports."""
    courier = store.order_courier(order_id)
    courier_id = courier.deliverer_id if courier else None
    totals = store.trip_totals(order_id)
    if totals is None:
        # A store that kept no trip yet when its history was pruned still has the last location.
        last = last_location(store, order_id)
        return TripSummary(order_id, last, last, 1, 0.0, courier_id)
    return TripSummary(order_id, totals.first, totals.last, totals.points, totals.distance_km, courier_id)
