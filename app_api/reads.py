"""Reads: the last location of an order, its history page by page, and its trip summary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from app_api.auth import require_read_access
from app_api.cursor import InvalidCursor, decode_cursor, encode_cursor
from app_api.errors import ApiError
from app_api.resources import get_store
from app_api.trip import TripSummary
from deliverer.contract import ID_PATTERN, LocationReport
from deliverer.store import HistoryCursor
from deliverer.store.base import MAX_HISTORY_LIMIT
from deliverer.timestamps import InvalidTimestamp, parse_timestamp_text

DEFAULT_PAGE = 100
MAX_PAGE = 1000

bp = Blueprint("reads", __name__)
bp.before_request(require_read_access)


@bp.get("/v1/orders/<order_id>/last-location")
def last_location(order_id: str) -> Response:
    return jsonify(_last(order_id).to_json_dict())


@bp.get("/v1/orders/<order_id>/locations")
def locations(order_id: str) -> Response:
    check_order_id(order_id)
    since = _time_param("since")
    until = _time_param("until")
    limit = limit_param()
    after = _cursor_param()
    # One row more than asked tells whether another page exists without a second query.
    rows = get_store().history(order_id, since=since, until=until, limit=limit + 1, after=after)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(HistoryCursor(timestamp=page[-1].timestamp, msg_id=page[-1].msg_id))
    return jsonify(
        order_id=order_id, items=[r.to_json_dict() for r in page], next_cursor=next_cursor
    )


@bp.get("/v1/orders/<order_id>/summary")
def summary(order_id: str) -> Response:
    check_order_id(order_id)
    store = get_store()
    trip = TripSummary()
    after: HistoryCursor | None = None
    while True:
        page = store.history(order_id, limit=MAX_HISTORY_LIMIT, after=after)
        trip.add(page)
        if len(page) < MAX_HISTORY_LIMIT:
            break
        after = HistoryCursor(timestamp=page[-1].timestamp, msg_id=page[-1].msg_id)
    if trip.points == 0:
        # History may have been deleted by retention while the last location is kept.
        trip.add([_last(order_id)])
    courier = store.order_courier(order_id)
    return jsonify({**trip.to_json_dict(order_id), "courier": courier.deliverer_id if courier else None})


def _last(order_id: str) -> LocationReport:
    check_order_id(order_id)
    report = get_store().last_location(order_id)
    if report is None:
        raise ApiError(404, "order_not_found", f"no location has been reported for order {order_id!r}")
    return report


def check_order_id(order_id: str) -> None:
    """Refuse hostile ids before they reach a store query."""
    if not ID_PATTERN.fullmatch(order_id):
        raise ApiError(
            400, "invalid_order_id", "an order id is 1-64 characters of A-Z a-z 0-9 _ . : -",
            fields=[_field("order_id", "invalid_id", "must be 1-64 characters of A-Z a-z 0-9 _ . : -")],
        )


def _field(name: str, reason: str, message: str) -> dict[str, Any]:
    return {"field": name, "reason": reason, "message": message}


def bad_parameter(name: str, reason: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {message}", fields=[_field(name, reason, message)])


def _time_param(name: str) -> datetime | None:
    text = request.args.get(name)
    if text is None:
        return None
    try:
        return parse_timestamp_text(text)
    except InvalidTimestamp as exc:
        hint = " (a '+' in a URL means a space: write the offset as %2B or use Z)" if " " in text else ""
        raise bad_parameter(name, "invalid_timestamp", exc.message + hint) from None


def limit_param() -> int:
    text = request.args.get("limit")
    if text is None:
        return DEFAULT_PAGE
    if not _is_digits(text) or len(text) > 4 or not 1 <= int(text) <= MAX_PAGE:
        raise bad_parameter("limit", "out_of_range", f"must be an integer from 1 to {MAX_PAGE}")
    return int(text)


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _cursor_param() -> HistoryCursor | None:
    text = request.args.get("cursor")
    if text is None:
        return None
    try:
        return decode_cursor(text)
    except InvalidCursor as exc:
        raise bad_parameter("cursor", "invalid_cursor", str(exc)) from None
