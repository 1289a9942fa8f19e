"""Who an order belongs to: read it, and hand the order over to another courier.

An order belongs to the courier whose report started it; the subscriber refuses another
courier's reports for it (``order_owned_by_other_courier``) until it is handed over here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify

from app_api.auth import require_key_for_reads, require_key_for_writes
from app_api.errors import ApiError
from app_api.inputs import check_order_id, read_json
from app_api.resources import get_store
from deliverer.contract import ID_PATTERN
from deliverer.services import reads

bp = Blueprint("couriers", __name__)


@bp.get("/v1/orders/<order_id>/courier")
def order_courier(order_id: str) -> Response:
    require_key_for_reads()
    check_order_id(order_id)
    return jsonify(reads.order_courier(get_store(), order_id).to_dict())


@bp.put("/v1/orders/<order_id>/courier")
def hand_over(order_id: str) -> Response:
    require_key_for_writes()
    check_order_id(order_id)
    deliverer_id = _deliverer_id(read_json())
    courier = get_store().hand_over(order_id, deliverer_id, datetime.now(UTC))
    return jsonify(courier.to_dict())


def _deliverer_id(body: Any) -> str:
    value = body.get("deliverer_id") if isinstance(body, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(body, dict) or set(body) != {"deliverer_id"} or not isinstance(value, str):
        raise ApiError(422, "invalid_handover", 'send {"deliverer_id": "<the courier taking the order over>"}')
    if not ID_PATTERN.fullmatch(value):
        raise ApiError(422, "invalid_handover", "deliverer_id must be 1-64 characters of A-Z a-z 0-9 _ . : -")
    return value
