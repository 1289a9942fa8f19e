"""Lookups across orders: where a courier is now, and which orders are moving (newest first, paged)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, current_app, jsonify, request

from app_api.auth import require_read_access
from app_api.cursor import InvalidCursor, decode_cursor, encode_cursor
from app_api.inputs import bad_parameter, check_deliverer_id, limit_param
from app_api.resources import get_store
from deliverer.contract import ID_PATTERN
from deliverer.services import reads
from deliverer.store import HistoryCursor

bp = Blueprint("lookups", __name__)
bp.before_request(require_read_access)

MAX_WITHIN_MINUTES = 7 * 24 * 60


@bp.get("/v1/deliverers/<deliverer_id>/last-location")
def deliverer_last_location(deliverer_id: str) -> Response:
    check_deliverer_id(deliverer_id)
    return jsonify(reads.last_location_of_deliverer(get_store(), deliverer_id).to_json_dict())


@bp.get("/v1/orders")
def orders() -> Response:
    """Orders by their newest report, newest first. ``active=true``: only those with a report in
    the last ``within_minutes`` that have not arrived."""
    active = request.args.get("active")
    if active not in (None, "true", "false"):
        raise bad_parameter("active", "invalid_value", "must be true or false")
    active_only = active == "true"
    within = _within_minutes()
    since = datetime.now(UTC) - timedelta(minutes=within) if active_only else None
    limit = limit_param()
    after = _order_cursor()
    page = reads.recent_orders(get_store(), limit, since=since, active_only=active_only, after=after)
    return jsonify(
        items=[r.to_json_dict() for r in page.items], next_cursor=encode_cursor(page.next) if page.next else None
    )


def _within_minutes() -> int:
    text = request.args.get("within_minutes")
    if text is None:
        return int(current_app.config["ACTIVE_WITHIN_MINUTES"])
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 1 <= int(text) <= MAX_WITHIN_MINUTES:
        raise bad_parameter("within_minutes", "out_of_range", f"must be an integer from 1 to {MAX_WITHIN_MINUTES}")
    return int(text)


def _order_cursor() -> HistoryCursor | None:
    text = request.args.get("cursor")
    if text is None:
        return None
    try:
        cursor = decode_cursor(text)
    except InvalidCursor as exc:
        raise bad_parameter("cursor", "invalid_cursor", str(exc)) from None
    if not ID_PATTERN.fullmatch(cursor.msg_id):
        raise bad_parameter("cursor", "invalid_cursor", "not a cursor this API issued")
    return cursor
