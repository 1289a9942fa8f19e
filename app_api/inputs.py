"""What a request gives the views, each part checked before it reaches a service: the JSON body, the
ids in the path, and the query parameters. A bad part is an :class:`ApiError` naming it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from app_api.cursor import InvalidCursor, decode_cursor
from app_api.errors import ApiError
from deliverer.contract import ID_PATTERN, Reason, Rejection, decode_json
from deliverer.store import HistoryCursor
from deliverer.timestamps import InvalidTimestamp, parse_timestamp_text

DEFAULT_PAGE = 100
MAX_PAGE = 1000
ID_RULE = "must be 1-64 characters of A-Z a-z 0-9 _ . : -"


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


def check_order_id(order_id: str) -> None:
    """Refuse hostile ids before they reach a store query."""
    _check_id("order_id", "an order id", order_id)


def check_deliverer_id(deliverer_id: str) -> None:
    _check_id("deliverer_id", "a deliverer id", deliverer_id)


def _check_id(name: str, what: str, value: str) -> None:
    if not ID_PATTERN.fullmatch(value):
        raise ApiError(
            400, f"invalid_{name}", f"{what} is 1-64 characters of A-Z a-z 0-9 _ . : -",
            fields=[_field(name, "invalid_id", ID_RULE)],
        )


def _field(name: str, reason: str, message: str) -> dict[str, Any]:
    return {"field": name, "reason": reason, "message": message}


def bad_parameter(name: str, reason: str, message: str) -> ApiError:
    return ApiError(400, "invalid_parameter", f"{name}: {message}", fields=[_field(name, reason, message)])


def time_param(name: str) -> datetime | None:
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


def cursor_param() -> HistoryCursor | None:
    text = request.args.get("cursor")
    if text is None:
        return None
    try:
        return decode_cursor(text)
    except InvalidCursor as exc:
        raise bad_parameter("cursor", "invalid_cursor", str(exc)) from None
