"""Request bodies for the API tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.test import TestResponse


def report(order_id: str | int = "order-1", seconds_ago: float = 60, **fields: Any) -> dict[str, Any]:
    """One valid report as a client would send it."""
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return {
        "order_id": order_id,
        "deliverer_id": "courier-7",
        "delivery_state": "on_the_way",
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "latitude": 45.4642,
        "longitude": 9.19,
        **fields,
    }


def body_of(response: TestResponse) -> Any:
    """The decoded JSON answer; every answer of the API is JSON, errors included."""
    assert response.is_json, (response.status_code, response.get_data(as_text=True)[:300])
    return response.get_json()
