"""Who may call what: the optional API key (``X-API-Key``, compared in constant time) and, for
the reads of one order, a tracking link's token (``?token=``) in its place."""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from typing import Any

from flask import current_app, request

from app_api.errors import ApiError
from app_api.tracking_links import InvalidToken, check

API_KEY_HEADER = "X-API-Key"
TOKEN_PARAM = "token"


def check_key(config: Mapping[str, Any], given: str) -> None:
    expected: str | None = config.get("API_KEY")
    if not expected:
        return
    if not hmac.compare_digest(given.encode(), expected.encode()):
        reason = "missing" if not given else "wrong"
        raise ApiError(401, "unauthorized", f"{reason} API key: send the {API_KEY_HEADER} header")


def check_read_access(config: Mapping[str, Any], order_id: str | None, given_key: str, token: str | None) -> None:
    """A read of ``order_id`` (None: of no single order) is allowed with a valid tracking token for
    that order, or as any read is. A token that is presented must be valid, even where reads are open:
    a shared link that stopped working should say so, not quietly show the same page."""
    if token is not None:
        if order_id is None:
            raise ApiError(403, "forbidden", "a tracking link opens one order only")
        try:
            check(config.get("TRACKING_SECRET"), order_id, token, time.time())
        except InvalidToken as exc:
            raise ApiError(403, "forbidden", str(exc)) from None
        return
    if config.get("API_KEY_READS"):
        check_key(config, given_key)


def require_key_for_writes() -> None:
    check_key(current_app.config, request.headers.get(API_KEY_HEADER, ""))


def require_key_for_reads() -> None:
    if current_app.config.get("API_KEY_READS"):
        check_key(current_app.config, request.headers.get(API_KEY_HEADER, ""))


def require_read_access() -> None:
    """Before a read: the route's ``order_id`` (if any) with the request's key or token."""
    # Without a query string there is no token: parsing none into an empty dict costs every read.
    token = request.args.get(TOKEN_PARAM) if request.query_string else None
    order_id = (request.view_args or {}).get("order_id")
    check_read_access(current_app.config, order_id, request.headers.get(API_KEY_HEADER, ""), token)
