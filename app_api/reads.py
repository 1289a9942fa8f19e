"""Reads of one order: its last location, its history page by page, and its trip summary."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app_api.auth import require_read_access
from app_api.cursor import encode_cursor
from app_api.inputs import check_order_id, cursor_param, limit_param, time_param
from app_api.resources import get_store
from deliverer.services import reads, trips

bp = Blueprint("reads", __name__)
bp.before_request(require_read_access)


@bp.get("/v1/orders/<order_id>/last-location")
def last_location(order_id: str) -> Response:
    check_order_id(order_id)
    return jsonify(reads.last_location(get_store(), order_id).to_json_dict())


@bp.get("/v1/orders/<order_id>/locations")
def locations(order_id: str) -> Response:
    check_order_id(order_id)
    since, until, limit, after = time_param("since"), time_param("until"), limit_param(), cursor_param()
    page = reads.history_page(get_store(), order_id, limit, since=since, until=until, after=after)
    return jsonify(
        order_id=order_id,
        items=[r.to_json_dict() for r in page.items],
        next_cursor=encode_cursor(page.next) if page.next else None,
    )


@bp.get("/v1/orders/<order_id>/summary")
def summary(order_id: str) -> Response:
    check_order_id(order_id)
    return jsonify(trips.trip_summary(get_store(), order_id).to_json_dict())
