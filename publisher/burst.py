"""One burst: every simulated courier's reports through one transport, on time, within the caps.

The couriers are merged on this one thread (see :mod:`publisher.schedule`); the transport
bounds how much is in flight. A stop request ends sending at once; what is in flight then
gets a bounded time to be acknowledged, and the result says what happened either way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from deliverer.usage import UsageError
from publisher.couriers import MILAN, City, Fix, courier_fixes, start_phase
from publisher.latency import LatencyHistogram
from publisher.pacing import Pacer
from publisher.schedule import in_due_order
from publisher.transport import Transport, TransportError
from publisher.wire import report_json, topic_of

log = logging.getLogger(__name__)

SIMULATED_STEP_S = 1.0
"""Time between a courier's reports in their timestamps when they are sent as fast as possible."""
PROGRESS_EVERY_S = 0.1

ProgressCallback = Callable[[int, int], None]
"""Called with (sent, acknowledged) now and then, from the burst's thread."""


@dataclass(frozen=True)
class BurstConfig:
    workers: int
    interval_s: float
    locations: int
    orders_per_worker: int
    seed: int
    rate: float = 0.0
    duration_s: float = 0.0
    flush_timeout_s: float = 30.0
    city: City = MILAN

    def __post_init__(self) -> None:
        if self.workers < 1 or self.orders_per_worker < 1:
            raise UsageError("--workers and --orders-per-worker must be at least 1")
        if self.locations < 2:
            raise UsageError("--locations must be at least 2 (a start and an arrived report)")
        if self.interval_s < 0 or self.rate < 0 or self.duration_s < 0:
            raise UsageError("--interval, --rate and --duration must not be negative")

    @property
    def planned(self) -> int:
        return self.workers * self.orders_per_worker * self.locations

    @property
    def realtime(self) -> bool:
        """Whether reports wait for their time (interval > 0) or go as fast as possible."""
        return self.interval_s > 0

    @property
    def step_s(self) -> float:
        return self.interval_s if self.realtime else SIMULATED_STEP_S


@dataclass
class BurstResult:
    config: BurstConfig
    sent: int
    acked: int
    elapsed_s: float
    latency_ms: dict[str, float | None]
    order_ids: list[str]
    stopped: str | None = None
    """Why the burst ended before sending everything: 'signal', 'duration' or 'error'."""
    error: str | None = None

    @property
    def failed(self) -> int:
        return self.sent - self.acked

    @property
    def rate(self) -> float:
        """Acknowledged reports per second, from the first send until the last acknowledgement."""
        return self.acked / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0


def anchor_ms(config: BurstConfig, now_ms: int) -> int:
    """Wall-clock time of offset 0, so that no report's timestamp is ever after it is sent.

    Real-time bursts send each report at its offset, so now is the anchor. As-fast-as-possible
    bursts send everything at once, so their simulated timeline ends now instead.
    """
    if config.realtime:
        return now_ms
    last_step = config.orders_per_worker * config.locations - 1
    return now_ms - int(last_step * config.step_s * 1000)


class Burst:
    def __init__(
        self,
        config: BurstConfig,
        transport: Transport,
        latencies: LatencyHistogram,
        stop: threading.Event,
        abort: threading.Event,
    ) -> None:
        """``stop`` ends sending (then in-flight reports are flushed); ``abort`` also skips the flush."""
        self.config = config
        self.transport = transport
        self.latencies = latencies
        self.stop = stop
        self.abort = abort

    def _couriers(self) -> list[Iterator[Fix]]:
        c = self.config
        return [
            courier_fixes(
                c.seed, worker, c.orders_per_worker, c.locations, c.step_s,
                phase_s=start_phase(c.seed, worker) * c.interval_s, city=c.city,
            )
            for worker in range(c.workers)
        ]

    def run(self, on_progress: ProgressCallback | None = None) -> BurstResult:
        transport = self.transport
        order_ids: list[str] = []
        error: str | None = None
        anchor = anchor_ms(self.config, time.time_ns() // 1_000_000)  # read first: never after ``start``
        start = time.monotonic()
        try:
            stopped = self._send_all(start, anchor, order_ids, on_progress)
        except TransportError as exc:
            stopped, error = "error", str(exc)
            log.error("stopping the burst: %s", exc)
        self._flush(on_progress)
        elapsed = time.monotonic() - start
        if on_progress is not None:
            on_progress(transport.sent, transport.acked)
        return BurstResult(
            config=self.config,
            sent=transport.sent,
            acked=transport.acked,
            elapsed_s=elapsed,
            latency_ms=self.latencies.summary_ms(),
            order_ids=order_ids,
            stopped=stopped,
            error=error,
        )

    def _send_all(
        self, start: float, anchor: int, order_ids: list[str], on_progress: ProgressCallback | None
    ) -> str | None:
        """Send every fix when it is due and the rate allows; why it stopped early, or None."""
        config = self.config
        transport = self.transport
        pacer = Pacer(config.rate)
        end = start + config.duration_s if config.duration_s else float("inf")
        next_progress = start
        for fix in in_due_order(self._couriers(), config.realtime):
            now = time.monotonic()
            due = start + fix.offset_s if config.realtime else now
            send_at = pacer.next_send(max(now, due))
            if send_at >= end:
                return "duration"
            if send_at > now:
                transport.idle()
                if self.stop.wait(send_at - now):
                    return "signal"
            if self.stop.is_set() or not transport.send(topic_of(fix), report_json(fix, anchor), self.stop):
                return "signal"
            if fix.seq == 0:
                order_ids.append(fix.order_id)
            if on_progress is not None and now >= next_progress:
                on_progress(transport.sent, transport.acked)
                next_progress = now + PROGRESS_EVERY_S
        return None

    def _flush(self, on_progress: ProgressCallback | None) -> None:
        """Give what is in flight a bounded time to be answered, unless aborted."""
        deadline = time.monotonic() + self.config.flush_timeout_s
        self.transport.finish(self.config.flush_timeout_s)
        while not self.abort.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.warning("gave up waiting for %d unanswered reports", self.transport.sent - self.transport.acked)
                break
            if self.transport.wait_answered(min(PROGRESS_EVERY_S, remaining)):
                break
            if on_progress is not None:
                on_progress(self.transport.sent, self.transport.acked)
        self.transport.close()
