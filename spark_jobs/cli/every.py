"""Run a job on a schedule (``15m`` or a cron expression) until asked to stop.

Interval ticks are aligned to the epoch (``15m`` runs at :00, :15, :30, :45 UTC) and the first run
happens at start-up; a cron schedule waits for its first match. A run that fails is logged and
the job runs again at the next tick; ticks missed while a run was busy are skipped, not queued.
A stop request (SIGTERM) ends the wait at once but lets a running job finish.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from deliverer.durations import parse_duration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

log = logging.getLogger(__name__)


class Schedule(Protocol):
    @property
    def run_at_start(self) -> bool: ...

    def next_after(self, moment: datetime) -> datetime: ...


@dataclass(frozen=True)
class Every:
    interval: timedelta
    run_at_start: bool = True

    def next_after(self, moment: datetime) -> datetime:
        ticks = (moment - EPOCH) // self.interval + 1
        return EPOCH + ticks * self.interval


@dataclass(frozen=True)
class Cron:
    expression: str
    run_at_start: bool = False

    def next_after(self, moment: datetime) -> datetime:
        from croniter import croniter

        following: datetime = croniter(self.expression, moment.astimezone(UTC)).get_next(datetime)
        return following


def parse_schedule(text: str) -> Schedule:
    """An interval (``15m``) or a five-field cron expression in UTC (``*/15 * * * *``)."""
    from croniter import croniter

    try:
        interval = parse_duration(text)
    except ValueError:
        if len(text.split()) != 5:
            raise ValueError(
                f"--every {text!r}: a cron expression has five fields (minute hour day month weekday)"
            ) from None
        if not croniter.is_valid(text):
            raise ValueError(f"--every {text!r} is neither a duration (15m) nor a cron expression") from None
        return Cron(text)
    if interval <= timedelta(0):
        raise ValueError("--every needs a positive interval")
    return Every(interval)


def run_on_schedule(
    schedule: Schedule,
    job: Callable[[], object],
    stop: threading.Event,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Run ``job`` at every tick until ``stop`` is set; returns how many runs failed."""
    failures = 0
    due = now() if schedule.run_at_start else schedule.next_after(now())
    while not stop.is_set():
        delay = (due - now()).total_seconds()
        if delay > 0:
            log.info("next run at %s", due.isoformat(timespec="seconds"))
            if stop.wait(delay):
                break
        try:
            job()
        except Exception:
            failures += 1
            log.exception("run failed; trying again at the next tick")
        due = schedule.next_after(max(due, now()))
    return failures
