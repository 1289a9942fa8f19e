"""Attacks of GET /v1/orders/{id}/summary over trips kept at write time: a courier's extreme but
valid trips (pole to pole in one millisecond, back and forth over the date line, a whole history pruned,
an order handed over to a courier that has not reported) answer 200 with finite JSON."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient

from deliverer.contract import DeliveryState, LocationReport
from deliverer.store import Store

T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


def rep(order: str, msg: str, ms: int, lat: float, lon: float, courier: str = "c1") -> LocationReport:
    return LocationReport(
        msg_id=msg, order_id=order, deliverer_id=courier, delivery_state=DeliveryState.ON_THE_WAY,
        timestamp=T0 + timedelta(milliseconds=ms), latitude=lat, longitude=lon,
    )


def test_extreme_trips_summarise_as_finite_json(client: FlaskClient, store: Store) -> None:
    store.insert_batch([rep("poles", f"m{i:03}", i // 100, 90.0 if i % 2 else -90.0, 0.0) for i in range(300)])
    store.insert_batch([rep("dateline", f"m{i}", i, 0.0, 180.0 if i % 2 else -180.0) for i in range(50)])
    store.insert_batch([rep("pruned", "a", 0, 45.0, 9.0), rep("pruned", "b", 1, 45.1, 9.0)])
    store.delete_between(T0 - timedelta(days=1), T0 + timedelta(days=1))
    store.insert_batch([rep("handed", "a", 0, 45.0, 9.0)])
    store.hand_over("handed", "c2", T0)
    bodies = {}
    for order in ("poles", "dateline", "pruned", "handed"):
        response = client.get(f"/v1/orders/{order}/summary")
        assert response.status_code == 200, (order, response.get_data(as_text=True))
        bodies[order] = json.loads(response.get_data(as_text=True))
    assert math.isfinite(bodies["poles"]["avg_speed_kmh"])
    assert bodies["poles"]["distance_km"] == round(299 * math.pi * 6371.0088, 4)
    assert bodies["dateline"]["distance_km"] == 0.0
    assert bodies["pruned"]["points"] == 2
    assert bodies["handed"]["courier"] == "c2"
