"""Every error the API answers is one JSON shape: ``{"error": code, "message": text[, "fields": [...]]}``.

Handlers registered here turn :class:`ApiError`, werkzeug's HTTP errors, store and broker
outages, and any unexpected exception into that shape; no stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from deliverer.store import StoreMissing, StoreUnavailable

log = logging.getLogger("deliverer.api")

RETRY_AFTER_SECONDS = "1"

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An answer other than success, with a stable ``code`` clients can switch on."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.extra = extra


class BrokerUnavailable(Exception):
    """The MQTT broker is unreachable, did not acknowledge in time, or refused a report."""


def error_response(
    status: int, code: str, message: str, fields: list[dict[str, Any]] | None = None, **extra: Any
) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.fields, **exc.extra)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    code = _HTTP_CODES.get(status, "http_error")
    message = {
        404: f"no route {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: f"the request body is larger than the {current_app.config['MAX_CONTENT_LENGTH']:,} bytes accepted",
    }.get(status, exc.description or exc.name)
    response = error_response(status, code, message)
    allowed = getattr(exc, "valid_methods", None)
    if status == 405 and allowed:
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _store_unavailable(exc: StoreUnavailable) -> Response:
    log.warning("store unavailable: %s", exc)
    if isinstance(exc, StoreMissing):
        return error_response(
            503, "store_unavailable", "the location store does not exist yet (the subscriber creates it); retry later"
        )
    return error_response(503, "store_unavailable", "the location store is unavailable; retry later")


def _broker_unavailable(exc: BrokerUnavailable) -> Response:
    log.warning("broker unavailable: %s", exc)
    return error_response(
        503, "broker_unavailable",
        f"the MQTT broker did not take the reports ({exc}); the request was not accepted as a whole,"
        " retry it (retrying is safe: msg_ids make reports idempotent)",
    )


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "the server failed to handle this request")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(StoreUnavailable, _store_unavailable)
    app.register_error_handler(BrokerUnavailable, _broker_unavailable)
    app.register_error_handler(Exception, _unexpected)
