from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from deliverer.durations import parse_duration
from spark_jobs.cli.every import Cron, Every, parse_schedule, run_on_schedule


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("30d", 2_592_000), ("1w", 604_800), ("250ms", 0.25), ("45", 45)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "m", "15 minutes", "-5m", "1y"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_intervals_tick_on_epoch_aligned_boundaries() -> None:
    every = parse_schedule("15m")
    assert isinstance(every, Every) and every.run_at_start
    moment = datetime(2026, 3, 1, 10, 7, 12, tzinfo=UTC)
    assert every.next_after(moment) == datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
    assert every.next_after(datetime(2026, 3, 1, 10, 15, tzinfo=UTC)) == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)


def test_cron_expressions_wait_for_their_first_match() -> None:
    cron = parse_schedule("0 2 * * *")
    assert isinstance(cron, Cron) and not cron.run_at_start
    assert cron.next_after(datetime(2026, 3, 1, 10, 0, tzinfo=UTC)) == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["0s", "every day", "61 * * * *"])
def test_bad_schedules(text: str) -> None:
    with pytest.raises(ValueError):
        parse_schedule(text)


def test_a_failed_run_is_retried_at_the_next_tick_and_stop_ends_the_loop() -> None:
    stop = threading.Event()
    runs: list[int] = []

    def job() -> None:
        runs.append(len(runs))
        if len(runs) == 2:
            raise RuntimeError("store unreachable")
        if len(runs) == 4:
            stop.set()

    failures = run_on_schedule(Every(timedelta(milliseconds=20)), job, stop)
    assert failures == 1
    assert runs == [0, 1, 2, 3]


def test_stop_interrupts_the_wait_at_once() -> None:
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    started = datetime.now(UTC)
    assert run_on_schedule(Cron("0 0 1 1 *"), lambda: None, stop) == 0
    assert datetime.now(UTC) - started < timedelta(seconds=5)
