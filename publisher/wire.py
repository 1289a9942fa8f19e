"""A simulated fix as the contract's wire form: the JSON bytes a courier's phone would send.

Built as a plain dict rather than through ``LocationReport`` (about 4x cheaper, which matters
at tens of thousands of reports per second); the unit tests prove every payload parses back
through the contract to exactly the same JSON.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from deliverer.contract import format_timestamp, topic_for
from publisher.couriers import Fix

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp_ms(fix: Fix, anchor_ms: int) -> int:
    """The fix's wall-clock time: the anchor plus its offset, rounded down to the millisecond."""
    return anchor_ms + int(fix.offset_s * 1000)


def report_dict(fix: Fix, anchor_ms: int) -> dict[str, object]:
    return {
        "msg_id": fix.msg_id,
        "order_id": fix.order_id,
        "deliverer_id": fix.deliverer_id,
        "delivery_state": fix.state.value,
        "timestamp": format_timestamp(EPOCH + timedelta(milliseconds=timestamp_ms(fix, anchor_ms))),
        "latitude": fix.latitude,
        "longitude": fix.longitude,
        "speed_kmh": fix.speed_kmh,
        "heading": fix.heading,
        "accuracy_m": fix.accuracy_m,
        "seq": fix.seq,
    }


def report_json(fix: Fix, anchor_ms: int) -> bytes:
    return json.dumps(report_dict(fix, anchor_ms), separators=(",", ":")).encode()


def topic_of(fix: Fix) -> str:
    return topic_for(fix.deliverer_id)
