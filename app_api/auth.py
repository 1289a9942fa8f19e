"""Optional API key: ``X-API-Key`` checked in constant time when the app has a key configured."""

from __future__ import annotations

import hmac

from flask import current_app, request

from app_api.errors import ApiError

API_KEY_HEADER = "X-API-Key"


def _check_key() -> None:
    expected: str | None = current_app.config.get("API_KEY")
    if not expected:
        return
    given = request.headers.get(API_KEY_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        reason = "missing" if not given else "wrong"
        raise ApiError(401, "unauthorized", f"{reason} API key: send the {API_KEY_HEADER} header")


def require_key_for_writes() -> None:
    _check_key()


def require_key_for_reads() -> None:
    if current_app.config.get("API_KEY_READS"):
        _check_key()
