"""The tracking page of an order, the list of moving orders, and signed links that share one.

The pages and the live stream they follow are served by the live server (``deliverer live``),
which holds many streams without a thread each; the API redirects its visitors there. A page
loads only what this blueprint serves (its script and style), and map tiles only when a tile URL
is configured: its Content-Security-Policy says so to the browser, which then enforces it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from app_api.auth import require_key_for_writes, require_read_access
from app_api.errors import ApiError
from app_api.inputs import check_order_id, decode
from app_api.resources import get_store
from app_api.tracking_links import DEFAULT_LIFETIME_S, MAX_LIFETIME_S, issue
from deliverer.contract import format_timestamp

bp = Blueprint("tracking", __name__, static_folder="static/track", static_url_path="/track/assets")

LIST_LIMIT = 100
MAX_EVENT_ID_CHARS = 64


@bp.post("/v1/orders/<order_id>/tracking-link")
def tracking_link(order_id: str) -> tuple[dict[str, Any], int]:
    require_key_for_writes()
    check_order_id(order_id)
    secret = current_app.config.get("TRACKING_SECRET")
    if secret is None:
        raise ApiError(
            409, "tracking_links_disabled",
            "tracking links need a signing secret: set DELIVERER_TRACKING_SECRET (or DELIVERER_API_KEY)",
        )
    lifetime = _lifetime()
    expires_at = int(time.time()) + lifetime
    token = issue(secret, order_id, expires_at)
    base = live_base_url()
    return {
        "order_id": order_id,
        "url": f"{base}/track/{order_id}?token={token}",
        "stream_url": f"{base}/v1/orders/{order_id}/live?token={token}",
        "token": token,
        "expires_at": format_timestamp(datetime.fromtimestamp(expires_at, tz=UTC)),
    }, 201


def _lifetime() -> int:
    if not request.get_data(cache=True):
        return DEFAULT_LIFETIME_S
    body = decode(request.get_data(), "the request body")
    match body:
        case {"expires_in_s": int(seconds)} if len(body) == 1 and not isinstance(seconds, bool):
            if 60 <= seconds <= MAX_LIFETIME_S:
                return seconds
    raise ApiError(
        400, "invalid_parameter", f"the body is {{}} or {{\"expires_in_s\": 60 to {MAX_LIFETIME_S}}}",
        fields=[{"field": "expires_in_s", "reason": "out_of_range",
                 "message": f"must be an integer from 60 to {MAX_LIFETIME_S}"}],
    )


@bp.get("/v1/orders/<order_id>/live")
def live_elsewhere(order_id: str) -> BaseResponse:
    """Reached only on the API's threads: the stream is the live server's. What can be checked
    here is, so that a request the live server would refuse is refused by the API alike."""
    check_order_id(order_id)
    require_read_access()
    for given in (request.headers.get("Last-Event-ID"), request.args.get("last_event_id")):
        if given is not None and len(given) > MAX_EVENT_ID_CHARS:
            raise ApiError(400, "invalid_event_id", "Last-Event-ID is not an event id of this stream")
    return _to_live_server()


@bp.get("/track/")
def active_orders_page() -> BaseResponse:
    require_read_access()
    if not current_app.config["SERVES_LIVE"]:
        return _to_live_server()
    orders = get_store().orders_by_recency(active_only=True, limit=LIST_LIMIT, since=_active_since())
    return _page(render_template("track_list.html", orders=orders, limit=LIST_LIMIT))


@bp.get("/track/<order_id>")
def order_page(order_id: str) -> BaseResponse:
    check_order_id(order_id)
    require_read_access()
    if not current_app.config["SERVES_LIVE"]:
        return _to_live_server()
    config = current_app.config
    return _page(render_template(
        "track.html", order_id=order_id, tile_url=config["TILE_URL"] or "",
        tile_attribution=config["TILE_ATTRIBUTION"] or "",
    ))


def _active_since() -> datetime:
    return datetime.fromtimestamp(time.time() - 60 * int(current_app.config["ACTIVE_WITHIN_MINUTES"]), tz=UTC)


def _page(html: str) -> Response:
    response = Response(html, content_type="text/html; charset=utf-8")
    tiles = _origin(current_app.config["TILE_URL"])
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
        f" img-src 'self'{' ' + tiles if tiles else ''}; base-uri 'none'; form-action 'none';"
        " frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"  # the page's URL may hold a token
    response.headers["Cache-Control"] = "no-store"
    return response


def _origin(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url.replace("{", "").replace("}", ""))
    return f"{parts.scheme}://{parts.netloc}"


WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


def live_base_url() -> str:
    """Where browsers reach the live server: ``LIVE_URL``, else the host this server listens on at
    ``LIVE_PORT``. Never the request's Host header: a client (or a cache in front) could make the
    redirect, and a tracking link with its token, point anywhere."""
    configured: str | None = current_app.config["LIVE_URL"]
    if configured:
        return configured.rstrip("/")
    return fallback_live_url(current_app.config["LISTEN_HOST"], current_app.config["LIVE_PORT"])


def fallback_live_url(listen_host: str, live_port: int) -> str:
    """The live server's URL when ``LIVE_URL`` is unset: on a wildcard address, this machine's loopback."""
    host = "127.0.0.1" if listen_host in WILDCARD_HOSTS else listen_host
    return f"http://[{host}]:{live_port}" if ":" in host else f"http://{host}:{live_port}"


def _to_live_server() -> BaseResponse:
    query = request.query_string.decode("latin-1")
    target = f"{live_base_url()}{request.path}{'?' + query if query else ''}"
    return redirect(target, code=307)
