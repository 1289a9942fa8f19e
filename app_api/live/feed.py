"""One tail of the store's ingest log per process, fanned out to the streams watching each order.

The store is the truth: a stream shows what the subscriber stored, in storage order, each report
with its position as the event id. The feed polls for reports stored after the last position it
handed on and gives each to its order's watchers without waiting for any of them: a watcher whose
queue is full is cut off, and its client resumes from the store with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from deliverer.contract import LocationReport
from deliverer.store import Store, StoreUnavailable
from deliverer.store.base import StoredReport

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_POLL_S = 0.1
DEFAULT_QUEUE_EVENTS = 2000
DEFAULT_BATCH = 5000
START_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Event:
    """A stored report as the bytes of one SSE event, made once for all its watchers."""

    position: str
    report: LocationReport
    data: bytes

    @classmethod
    def of(cls, stored: StoredReport) -> Event:
        return cls(stored.position, stored.report, sse_event(stored.position, stored.report))


def sse_event(position: str, report: LocationReport) -> bytes:
    return b"id: " + position.encode() + b"\nevent: location\ndata: " + report.to_json() + b"\n\n"


@dataclass(eq=False)
class Watcher:
    order_id: str
    queue: asyncio.Queue[Event] = field(default_factory=lambda: asyncio.Queue(DEFAULT_QUEUE_EVENTS))
    cut_off: bool = False
    """The queue overflowed: the stream ends and its client resumes from the store."""

    def offer(self, event: Event) -> None:
        if self.cut_off:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.cut_off = True


class LiveFeed:
    def __init__(
        self, open_store: Callable[[], Store], poll_s: float = DEFAULT_POLL_S, batch: int = DEFAULT_BATCH,
        threads: int = 4,
    ) -> None:
        self._open_store = open_store
        self._store: Store | None = None
        self.poll_s = poll_s
        self.batch = batch
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="live-store")
        self._watchers: dict[str, set[Watcher]] = {}
        self.position: str | None = None
        """Every report stored up to here has been handed to the watchers registered before it."""
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

    @property
    def watching(self) -> int:
        return sum(len(watchers) for watchers in self._watchers.values())

    async def read(self, call: Callable[[Store], T]) -> T:
        """Run a blocking store read on the feed's threads (the store is opened on first use)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, call)

    def _call(self, call: Callable[[Store], T]) -> T:
        if self._store is None:
            self._store = self._open_store()
        return call(self._store)

    async def subscribe(self, order_id: str) -> tuple[Watcher, str]:
        """Register a watcher; returns it and the position after which the feed will hand it reports."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-feed")
        try:
            await asyncio.wait_for(self._started.wait(), START_TIMEOUT_S)
        except TimeoutError:
            raise StoreUnavailable("the live feed cannot read the store yet") from None
        if self._task.done():
            self._task = None
            raise StoreUnavailable("the live feed stopped")
        watcher = Watcher(order_id)
        self._watchers.setdefault(order_id, set()).add(watcher)
        assert self.position is not None
        return watcher, self.position

    def unsubscribe(self, watcher: Watcher) -> None:
        watchers = self._watchers.get(watcher.order_id)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[watcher.order_id]

    async def _run(self) -> None:
        try:
            self.position = await self._until_read(lambda store: store.head_position())
            self._started.set()
            while True:
                if not self._watchers:
                    # Nobody to hand reports to: keep up with the head without reading the rows.
                    self.position = await self._until_read(lambda store: store.head_position())
                    await asyncio.sleep(self.poll_s)
                    continue
                rows = await self._until_read(partial(_tail, position=self.position, limit=self.batch))
                self._hand_on(rows)
                if len(rows) < self.batch:
                    await asyncio.sleep(self.poll_s)
        finally:
            self._started.set()

    def _hand_on(self, rows: list[StoredReport]) -> None:
        for stored in rows:
            watchers = self._watchers.get(stored.report.order_id)
            if watchers:
                event = Event.of(stored)
                for watcher in list(watchers):
                    watcher.offer(event)
        if rows:
            self.position = rows[-1].position

    async def _until_read(self, call: Callable[[Store], T]) -> T:
        """A store read, retried through an outage: the feed must outlive one."""
        delay = self.poll_s
        while True:
            try:
                return await self.read(call)
            except StoreUnavailable as exc:
                log.warning("live feed: store unavailable, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close_store)
        self._executor.shutdown(wait=False)

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None



def _tail(store: Store, position: str | None, limit: int) -> list[StoredReport]:
    assert position is not None
    return store.reports_stored_after(position, limit=limit)
