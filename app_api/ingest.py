"""Ingest: validate location reports with the shared contract and publish them to the broker.

Validation is all-or-nothing: one invalid report in a batch and nothing is published. A ``202``
means the broker has acknowledged every report at QoS 1, so none can be lost from there on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app_api.auth import require_key_for_writes
from app_api.broker import publish_confirmed
from app_api.errors import ApiError
from app_api.metrics import api_metrics
from app_api.resources import get_publisher
from deliverer.contract import LocationReport, Reason, Rejection, decode_json, validate_report

bp = Blueprint("ingest", __name__)
bp.before_request(require_key_for_writes)


@bp.post("/v1/locations")
def post_locations() -> tuple[Response, int]:
    reports = accept(read_json())
    return jsonify(accepted=len(reports), msg_ids=[r.msg_id for r in reports]), 202


def read_json() -> Any:
    """The request body as JSON; 415 unless it says it is JSON, 400 unless it is."""
    if not _is_json(request.mimetype):
        raise ApiError(
            415, "unsupported_media_type",
            f"send the reports as Content-Type: application/json, not {request.mimetype or 'nothing'!r}",
        )
    return decode(_body(), "the request body")


def _body() -> bytes:
    """The request body, refused whole when over the limit, also when it comes chunked.

    Werkzeug stops reading a chunked body (no Content-Length) at ``MAX_CONTENT_LENGTH`` without
    an error, which would accept its first part, so such a body is read here to one byte past
    the limit.
    """
    if request.content_length is not None or "wsgi.input_terminated" not in request.environ:
        return request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    stream = request.environ["wsgi.input"]
    parts: list[bytes] = []
    size = 0
    while size <= limit and (part := stream.read(limit + 1 - size)):  # a read may return less than asked
        parts.append(part)
        size += len(part)
    if size > limit:
        raise RequestEntityTooLarge()
    return b"".join(parts)


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def decode(payload: bytes | str, what: str) -> Any:
    try:
        return decode_json(payload)
    except Rejection as exc:
        if exc.reason is not Reason.NOT_JSON:
            raise ApiError(400, exc.reason.value, f"{what}: {exc.message}") from None
        detail = exc.message.removeprefix("payload is not valid JSON: ")
        raise ApiError(400, "malformed_json", f"{what} is not valid JSON: {detail}") from None


def accept(body: Any, prepare: Callable[[Any], Any] | None = None) -> list[LocationReport]:
    """Validate one report or a batch (each item through ``prepare`` first) and publish them all,
    or raise and publish none."""
    items = _as_items(body)
    if prepare is not None:
        items = [prepare(item) for item in items]
    reports = _validate_all(items)
    publish_confirmed(
        get_publisher(),
        reports,
        connect_wait=current_app.config["BROKER_WAIT_S"],
        ack_timeout=current_app.config["PUBLISH_TIMEOUT_S"],
    )
    api_metrics().published.inc(len(reports))
    return reports


def _as_items(body: Any) -> list[Any]:
    if isinstance(body, dict):
        return [body]
    if not isinstance(body, list):
        raise ApiError(
            422, "invalid_report", "send one report object or an array of report objects",
            fields=[_problem(0, "report", Reason.NOT_OBJECT, "must be a JSON object or an array of objects")],
        )
    limit = current_app.config["MAX_BATCH"]
    if not body:
        raise ApiError(422, "empty_batch", "the array holds no reports")
    if len(body) > limit:
        raise ApiError(422, "batch_too_large", f"at most {limit:,} reports per request, got {len(body):,}")
    return body


def _validate_all(items: list[Any]) -> list[LocationReport]:
    reports: list[LocationReport] = []
    problems: list[dict[str, Any]] = []
    bad = 0
    for index, item in enumerate(items):
        try:
            reports.append(validate_report(item))
        except Rejection as exc:
            bad += 1
            if exc.problems:
                problems.extend(_problem(index, p.field, p.reason, p.message) for p in exc.problems)
            else:
                problems.append(_problem(index, "report", exc.reason, exc.message))
    if problems:
        raise ApiError(
            422, "invalid_report",
            f"{bad} of {len(items)} report(s) break the contract; nothing was published",
            fields=problems,
        )
    return reports


def _problem(index: int, field: str, reason: Reason, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "reason": reason.value, "message": message}
