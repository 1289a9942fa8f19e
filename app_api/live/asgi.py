"""The live server's ASGI application: order streams natively, every other route by the Flask app.

The Flask app runs in a pool of threads (a2wsgi), as it would under gunicorn's threads, so the
pages, the track files and every JSON read answer here exactly as on the API, with the same
key and token rules, while the streams need no thread at all. A request's body is read here, on
the event loop, before it gets a thread: a client that sends half a body holds no thread, and is
answered 408 once its time is up.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from a2wsgi import WSGIMiddleware
from flask import Flask

from app_api.auth import API_KEY_HEADER, TOKEN_PARAM, check_read_access
from app_api.errors import ApiError
from app_api.live.feed import LiveFeed
from app_api.live.stream import OrderStream, Receive, Send, StreamSettings, send_error
from app_api.slow_clients import REQUEST_READ_TIMEOUT_S
from deliverer.contract import ID_PATTERN
from deliverer.store import StoreUnavailable

log = logging.getLogger(__name__)

LIVE_PATH = re.compile(r"/v1/orders/([^/]*)/live")


class LiveApp:
    def __init__(self, flask_app: Flask, feed: LiveFeed, settings: StreamSettings, wsgi_threads: int = 8) -> None:
        self.flask_app = flask_app
        self.config: Mapping[str, Any] = flask_app.config
        self.feed = feed
        self.settings = settings
        self._wsgi = WSGIMiddleware(flask_app, workers=wsgi_threads)  # type: ignore[arg-type]

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        match = LIVE_PATH.fullmatch(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            if scope["type"] == "http":
                try:
                    receive = await self._read_body(receive)
                except TimeoutError:
                    log.info("answered 408 to a request whose body was not in within %g s", REQUEST_READ_TIMEOUT_S)
                    await send_error(send, ApiError(
                        408, "request_timeout", f"the request was not sent within {REQUEST_READ_TIMEOUT_S:g} s",
                    ))
                    return
            await self._wsgi(scope, receive, send)  # type: ignore[arg-type]
            return
        try:
            await self._stream(scope, match.group(1), receive, send)
        except ApiError as error:
            await send_error(send, error)
        except StoreUnavailable as exc:
            log.warning("store unavailable: %s", exc)
            await send_error(send, ApiError(503, "store_unavailable", "the location store is unavailable; retry later"))

    async def _read_body(self, receive: Receive) -> Receive:
        """The request's body messages, read within the time limit (up to one byte past the largest body
        the app takes, which then answers 413), replayed to the app before the rest of ``receive``."""
        limit = self.config["MAX_CONTENT_LENGTH"]
        messages: list[dict[str, Any]] = []
        size = 0
        async with asyncio.timeout(REQUEST_READ_TIMEOUT_S):
            while True:
                message = await receive()
                messages.append(message)
                size += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body") or size > limit:
                    break

        async def replay() -> dict[str, Any]:
            return messages.pop(0) if messages else await receive()

        return replay

    async def _stream(self, scope: dict[str, Any], order_id: str, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET":
            raise ApiError(405, "method_not_allowed", f"{scope['method']} is not allowed on {scope['path']}")
        if not ID_PATTERN.fullmatch(order_id):
            raise ApiError(
                400, "invalid_order_id", "an order id is 1-64 characters of A-Z a-z 0-9 _ . : -",
                fields=[{"field": "order_id", "reason": "invalid_id",
                         "message": "must be 1-64 characters of A-Z a-z 0-9 _ . : -"}],
            )
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        token = query.get(TOKEN_PARAM, [None])[0]
        check_read_access(self.config, order_id, headers.get(API_KEY_HEADER.lower(), ""), token)
        resume = headers.get("last-event-id") or query.get("last_event_id", [None])[0]
        await OrderStream(self.feed, self.settings, order_id, resume).serve(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.feed.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
