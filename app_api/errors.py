"""Every error the API answers is one JSON shape: ``{"error": code, "message": text[, "fields": [...]]}``.

Handlers registered here turn :class:`ApiError`, the services' typed errors (a rejected batch: 422,
nothing found: 404), werkzeug's HTTP errors, store and broker outages, and any unexpected exception
into that shape; no stack trace ever reaches a client. The original system's routes register the same
handlers with their own shape (:mod:`app_api.legacy`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, jsonify, request
from flask.sansio.scaffold import Scaffold
from werkzeug.exceptions import HTTPException

from deliverer.publishing import BrokerUnavailable
from deliverer.services.accept import BatchRejected
from deliverer.services.reads import NotFound
from deliverer.store import StoreMissing, StoreUnavailable

log = logging.getLogger(__name__)

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


ErrorBody = Callable[[str, str, list[dict[str, Any]] | None, dict[str, Any]], dict[str, Any]]
"""Builds an error's JSON body from its code, message, field problems and extra members."""


def standard_body(
    code: str, message: str, fields: list[dict[str, Any]] | None, extra: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    body.update(extra)
    return body


def error_response(
    status: int, code: str, message: str, fields: list[dict[str, Any]] | None = None, **extra: Any
) -> Response:
    return _respond(standard_body, status, code, message, fields, extra)


def _respond(
    shape: ErrorBody, status: int, code: str, message: str, fields: list[dict[str, Any]] | None,
    extra: dict[str, Any],
) -> Response:
    response = jsonify(shape(code, message, fields, extra))
    response.status_code = status
    if status == 503:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


class _Handlers:
    """Every error handler, answering in one body shape."""

    def __init__(self, shape: ErrorBody) -> None:
        self.shape = shape

    def respond(
        self, status: int, code: str, message: str, fields: list[dict[str, Any]] | None = None, **extra: Any
    ) -> Response:
        return _respond(self.shape, status, code, message, fields, extra)

    def api_error(self, exc: ApiError) -> Response:
        return self.respond(exc.status, exc.code, exc.message, exc.fields, **exc.extra)

    def http_error(self, exc: HTTPException) -> Response:
        status = exc.code or 500
        code = _HTTP_CODES.get(status, "http_error")
        message = {
            404: f"no route {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"the request body is larger than the {current_app.config['MAX_CONTENT_LENGTH']:,} bytes accepted",
        }.get(status, exc.description or exc.name)
        response = self.respond(status, code, message)
        allowed = getattr(exc, "valid_methods", None)
        if status == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response

    def batch_rejected(self, exc: BatchRejected) -> Response:
        fields = None if exc.problems is None else [problem.to_dict() for problem in exc.problems]
        return self.respond(422, exc.code, exc.message, fields)

    def not_found(self, exc: NotFound) -> Response:
        return self.respond(404, exc.code, exc.message)

    def store_unavailable(self, exc: StoreUnavailable) -> Response:
        log.warning("store unavailable: %s", exc)
        if isinstance(exc, StoreMissing):
            return self.respond(
                503, "store_unavailable",
                "the location store does not exist yet (the subscriber creates it); retry later",
            )
        return self.respond(503, "store_unavailable", "the location store is unavailable; retry later")

    def broker_unavailable(self, exc: BrokerUnavailable) -> Response:
        log.warning("broker unavailable: %s", exc)
        return self.respond(
            503, "broker_unavailable",
            f"the MQTT broker did not take the reports ({exc}); the request was not accepted as a whole,"
            " retry it (retrying is safe: msg_ids make reports idempotent)",
        )

    def unexpected(self, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return self.respond(500, "internal_error", "the server failed to handle this request")


def register_error_handlers(target: Scaffold, shape: ErrorBody = standard_body) -> None:
    """Answer every error of ``target`` (the app, or a blueprint with its own dialect) in ``shape``."""
    handlers = _Handlers(shape)
    target.register_error_handler(ApiError, handlers.api_error)
    target.register_error_handler(BatchRejected, handlers.batch_rejected)
    target.register_error_handler(NotFound, handlers.not_found)
    target.register_error_handler(HTTPException, handlers.http_error)
    target.register_error_handler(StoreUnavailable, handlers.store_unavailable)
    target.register_error_handler(BrokerUnavailable, handlers.broker_unavailable)
    target.register_error_handler(Exception, handlers.unexpected)
