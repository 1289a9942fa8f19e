"""The original system's two routes, in its dialect, for its clients as they are.

``POST /v1/deliverer_location/`` takes what its publisher sent (``requests.post(url,
json=json.dumps(report))``: the report double-encoded as a JSON string, integer ids, a naive local
timestamp) and answers ``200 {"status": "OK"}`` once the broker has acknowledged it.
``GET /v1/deliverer_location/last/<order_id>`` answers ``200 {"data": [doc]}``, or ``{"data": []}``
for an order without reports. Errors are ``{"status": "ERROR", "message": ...}``, with our error code
and field problems beside them. The one difference: "last" is the newest report by timestamp, where
the original returned the last one it had inserted.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from app_api.auth import require_key_for_reads, require_key_for_writes
from app_api.errors import register_error_handlers
from app_api.ingest import accept
from app_api.inputs import check_order_id, decode, read_json
from app_api.legacy_dialect import original_document, report_from_original
from app_api.resources import get_store

bp = Blueprint("legacy", __name__)


def original_error_body(
    code: str, message: str, fields: list[dict[str, Any]] | None, extra: dict[str, Any]
) -> dict[str, Any]:
    """The original's error shape. Where field problems are known, the message names them, as the
    original's "order_id not found." did."""
    body: dict[str, Any] = {"status": "ERROR", "message": _problems_text(fields) or message, "error": code}
    if fields is not None:
        body["fields"] = fields
    body.update(extra)
    return body


def _problems_text(fields: list[dict[str, Any]] | None) -> str:
    batch = any(problem.get("index", 0) for problem in fields or ())
    return "; ".join(
        (f"report {problem['index']}: " if batch else "") + f"{problem['field']}: {problem['message']}"
        for problem in fields or ()
    )


register_error_handlers(bp, original_error_body)


@bp.post("/v1/deliverer_location/")
def post_deliverer_location() -> tuple[Response, int]:
    require_key_for_writes()
    body = read_json()
    if isinstance(body, str):
        body = decode(body, "the JSON string's content")
    zone = current_app.config["LEGACY_TIMEZONE"]
    accept(body, prepare=lambda item: report_from_original(item, zone))
    return jsonify(status="OK"), 200


@bp.get("/v1/deliverer_location/last/<order_id>")
def last_location(order_id: str) -> Response:
    require_key_for_reads()
    check_order_id(order_id)
    report = get_store().last_location(order_id)
    zone = current_app.config["LEGACY_TIMEZONE"]
    return jsonify(data=[original_document(report, zone)] if report is not None else [])
