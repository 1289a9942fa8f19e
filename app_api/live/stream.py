"""``GET /v1/orders/{order_id}/live``: one order's stored reports as Server-Sent Events.

First the order's current last location (or, given ``Last-Event-ID`` or ``?last_event_id=``,
every report of the order stored after that event), then each report the store takes, each
with its position as the event id; a comment every ``heartbeat_s`` keeps proxies from closing
an idle stream; ``event: end`` follows ``arrived`` after ``end_after_arrived_s``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from app_api.errors import ApiError, standard_body
from app_api.live.feed import Event, LiveFeed, Watcher, sse_event
from app_api.tracking import MAX_EVENT_ID_CHARS
from deliverer.contract import DeliveryState, LocationReport
from deliverer.store import InvalidPosition, Store, StoreUnavailable
from deliverer.store.base import START_POSITION, StoredReport, position_order

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CATCH_UP_PAGE = 1000
RETRY_MS = 2000


@dataclass(frozen=True)
class StreamSettings:
    heartbeat_s: float = 15.0
    end_after_arrived_s: float = 10.0
    max_streams: int = 5000


async def send_json(send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    data = json.dumps(body, separators=(",", ":")).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers],
    })
    await send({"type": "http.response.body", "body": data})


async def send_error(send: Send, error: ApiError) -> None:
    headers = [(b"retry-after", b"1")] if error.status == 503 else []
    await send_json(send, error.status, standard_body(error.code, error.message, error.fields, error.extra), headers)


class OrderStream:
    """One client's stream of one order."""

    def __init__(self, feed: LiveFeed, settings: StreamSettings, order_id: str, resume: str | None) -> None:
        self.feed = feed
        self.settings = settings
        self.order_id = order_id
        self.resume = resume
        self.sent_up_to = START_POSITION
        self._more_after: str | None = None
        """Where a resume too long for the opening goes on catching up."""
        self._ends_at: float | None = None

    async def serve(self, receive: Receive, send: Send) -> None:
        if self.resume is not None and len(self.resume) > MAX_EVENT_ID_CHARS:
            raise ApiError(400, "invalid_event_id", "Last-Event-ID is not an event id of this stream")
        if self.feed.watching >= self.settings.max_streams:
            raise ApiError(503, "too_many_streams", "this server holds as many live streams as it may; retry later")
        watcher, position = await self.feed.subscribe(self.order_id)
        try:
            opening = await self._opening(position)
            await send({
                "type": "http.response.start", "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-store"),
                    (b"x-accel-buffering", b"no"),  # a proxy in front must not hold events back
                ],
            })
            await send({"type": "http.response.body", "body": f"retry: {RETRY_MS}\n\n".encode() + opening,
                        "more_body": True})
            try:
                await self._stream(watcher, receive, send)
            except StoreUnavailable as exc:
                # The answer has started: end it, and the client resumes from its last event.
                log.warning("live stream of %s ended, store unavailable: %s", self.order_id, exc)
                await send({"type": "http.response.body", "body": b""})
        finally:
            self.feed.unsubscribe(watcher)

    async def _stream(self, watcher: Watcher, receive: Receive, send: Send) -> None:
        await self._catch_up(send)
        disconnected = asyncio.ensure_future(_disconnect(receive))
        following = asyncio.ensure_future(self._follow(watcher, send))
        try:
            await asyncio.wait({disconnected, following}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (disconnected, following):
                task.cancel()
            await asyncio.gather(disconnected, following, return_exceptions=True)
        if following.done() and not following.cancelled():
            following.result()  # a failure of the stream itself is raised, not swallowed

    async def _opening(self, position: str) -> bytes:
        """The first events, read before the answer starts so that an unknown order is a 404."""
        if self.resume is None:
            last = await self.feed.read(lambda store: store.last_location(self.order_id))
            if last is None:
                raise _not_found(self.order_id)
            self.sent_up_to = position
            return self._take(position, last)
        resume = self.resume
        try:
            rows, head = await self.feed.read(
                lambda store: (store.reports_stored_after(resume, self.order_id, CATCH_UP_PAGE), store.head_position())
            )
        except InvalidPosition:
            raise ApiError(400, "invalid_event_id", "Last-Event-ID is not an event id of this stream") from None
        if position_order(resume) > position_order(head):
            # An id from before the store was reset: everything of the order is new to this client.
            resume = START_POSITION
            rows = await self.feed.read(lambda store: store.reports_stored_after(resume, self.order_id, CATCH_UP_PAGE))
        self.sent_up_to = resume
        if not rows:
            known = await self.feed.read(lambda store: store.last_location(self.order_id))
            if known is None:
                raise _not_found(self.order_id)
        self._more_after = rows[-1].position if len(rows) == CATCH_UP_PAGE else None
        return self._write(rows)

    async def _catch_up(self, send: Send) -> None:
        """The rest of a long resume, page by page, before following the feed."""
        while self._more_after is not None:
            rows = await self.feed.read(partial(_order_tail, position=self._more_after, order_id=self.order_id))
            self._more_after = rows[-1].position if len(rows) == CATCH_UP_PAGE else None
            if rows:
                await send({"type": "http.response.body", "body": self._write(rows), "more_body": True})

    def _write(self, rows: list[StoredReport]) -> bytes:
        return b"".join(self._take(row.position, row.report) for row in rows)

    def _take(self, position: str, report: LocationReport) -> bytes:
        if position_order(position) > position_order(self.sent_up_to):
            self.sent_up_to = position
        if report.delivery_state is DeliveryState.ARRIVED and self._ends_at is None:
            self._ends_at = asyncio.get_running_loop().time() + self.settings.end_after_arrived_s
        return sse_event(position, report)

    async def _follow(self, watcher: Watcher, send: Send) -> None:
        loop = asyncio.get_running_loop()
        last_write = loop.time()
        while True:
            wait = self.settings.heartbeat_s - (loop.time() - last_write)
            if self._ends_at is not None:
                wait = min(wait, self._ends_at - loop.time())
            try:
                events = [await asyncio.wait_for(watcher.queue.get(), max(0.0, wait))]
            except TimeoutError:
                if self._ends_at is not None and loop.time() >= self._ends_at:
                    await send({"type": "http.response.body", "body": b"event: end\ndata: {}\n\n"})
                    return
                await send({"type": "http.response.body", "body": b": heartbeat\n\n", "more_body": True})
                last_write = loop.time()
                continue
            while not watcher.queue.empty():
                events.append(watcher.queue.get_nowait())
            chunk = b"".join(self._fresh(event) for event in events)
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                last_write = loop.time()
            if watcher.cut_off and watcher.queue.empty():
                # Too slow to keep up: ending the answer makes the client resume from the store.
                await send({"type": "http.response.body", "body": b""})
                return

    def _fresh(self, event: Event) -> bytes:
        if position_order(event.position) <= position_order(self.sent_up_to):
            return b""  # already sent while catching up
        self._take(event.position, event.report)
        return event.data


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _not_found(order_id: str) -> ApiError:
    return ApiError(404, "order_not_found", f"no location has been reported for order {order_id!r}")



def _order_tail(store: Store, position: str, order_id: str) -> list[StoredReport]:
    return store.reports_stored_after(position, order_id, CATCH_UP_PAGE)
