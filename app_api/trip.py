"""The summary of one order's trip: where it started and ended, how far and how fast."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from deliverer.contract import LocationReport
from deliverer.geo import haversine_km


@dataclass
class TripSummary:
    """Built incrementally from reports in time order, so a long history is read page by page."""

    first: LocationReport | None = None
    last: LocationReport | None = None
    points: int = 0
    distance_km: float = 0.0

    def add(self, reports: Iterable[LocationReport]) -> None:
        for report in reports:
            if self.last is not None:
                self.distance_km += haversine_km(
                    self.last.latitude, self.last.longitude, report.latitude, report.longitude
                )
            if self.first is None:
                self.first = report
            self.last = report
            self.points += 1

    def to_json_dict(self, order_id: str) -> dict[str, Any]:
        assert self.first is not None and self.last is not None
        duration_s = (self.last.timestamp - self.first.timestamp).total_seconds()
        return {
            "order_id": order_id,
            "delivery_state": self.last.delivery_state.value,
            "first": self.first.to_json_dict(),
            "last": self.last.to_json_dict(),
            "points": self.points,
            "distance_km": round(self.distance_km, 4),
            "duration_s": duration_s,
            "avg_speed_kmh": round(self.distance_km / (duration_s / 3600), 2) if duration_s > 0 else None,
        }
