"""The corpus of hostile and broken reports, shared by every door's tests: (name, payload, reason)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

TOPIC = "deliverers/d1/location"


def valid_report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "msg_id": "corpus-ok",
        "order_id": "o1",
        "deliverer_id": "d1",
        "delivery_state": "on_the_way",
        "timestamp": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "latitude": 45.46,
        "longitude": 9.19,
    }
    report.update(changes)
    return {k: v for k, v in report.items() if v is not _DROP}


_DROP = object()


def _json(**changes: Any) -> bytes:
    return json.dumps(valid_report(**changes)).encode()


BAD_PAYLOADS: list[tuple[str, bytes, str]] = [
    ("truncated json", b'{"order_id": "o1", ', "not_json"),
    ("empty payload", b"", "not_json"),
    ("plain text", b"hello courier", "not_json"),
    ("invalid utf-8", b"\xff\xfe\x00\x01", "not_json"),
    ("nan latitude", _json().replace(b"45.46", b"NaN"), "not_json"),
    ("infinite longitude", _json().replace(b"9.19", b"Infinity"), "not_json"),
    ("array", b"[1, 2, 3]", "not_object"),
    ("string", b'"a string"', "not_object"),
    ("null", b"null", "not_object"),
    ("number", b"42", "not_object"),
    ("empty object", b"{}", "missing_field"),
    ("missing latitude", _json(latitude=_DROP), "missing_field"),
    ("missing order_id", _json(order_id=_DROP), "missing_field"),
    ("latitude 91", _json(latitude=91), "out_of_range"),
    ("longitude -181", _json(longitude=-181), "out_of_range"),
    ("negative seq", _json(seq=-1), "out_of_range"),
    ("seq beyond 64 bits", _json(seq=2**64), "out_of_range"),
    ("latitude as string", _json(latitude="45.46"), "invalid_type"),
    ("longitude as boolean", _json(longitude=True), "invalid_type"),
    ("order_id operator object", _json(order_id={"$ne": None}), "invalid_type"),
    ("deliverer_id operator object", _json(deliverer_id={"$gt": ""}), "invalid_type"),
    ("msg_id operator object", _json(msg_id={"$exists": True}), "invalid_type"),
    ("order_id boolean", _json(order_id=True), "invalid_type"),
    ("state as number", _json(delivery_state=3), "invalid_type"),
    ("control character in order_id", _json(order_id="o\u0000x"), "invalid_id"),
    ("unicode order_id", _json(order_id="ørder-ü"), "invalid_id"),
    ("newline in deliverer_id", _json(deliverer_id="d1\nd2"), "invalid_id"),
    ("empty order_id", _json(order_id=""), "invalid_id"),
    ("order_id too long", _json(order_id="o" * 65), "invalid_id"),
    ("unknown state", _json(delivery_state="teleported"), "unknown_state"),
    ("far future timestamp", _json(timestamp="2999-01-01T00:00:00Z"), "timestamp_in_future"),
    ("unparseable timestamp", _json(timestamp="yesterday at noon"), "invalid_timestamp"),
    ("timestamp without offset", _json(timestamp="2026-01-01T00:00:00"), "invalid_timestamp"),
    ("negative epoch", _json(timestamp=-5), "invalid_timestamp"),
    # Valid JSON, a Python int too large for a float: math.isfinite raised OverflowError (a 500).
    ("epoch too large for a float", _json(timestamp=10**400), "invalid_timestamp"),
    ("negative epoch too large for a float", _json(timestamp=-(10**400)), "invalid_timestamp"),
    ("operator field", _json(**{"$where": "sleep(1000)"}), "unknown_field"),
    ("1 MB payload", b'{"pad": "' + b"x" * 1_048_576 + b'"}', "too_large"),
    ("another courier's report on this topic", _json(deliverer_id="d2"), "topic_mismatch"),
]
