"""``deliverer publish`` as a process against a real Mosquitto, a real subscriber and a real SQLite store."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from deliverer.local_broker import Mosquitto, free_port
from deliverer.store import open_store
from deliverer.store.base import Store
from tests.helpers import REPO, ServiceProcess, wait_until
from tests.integration.publisher.cli_runs import Run, finished, publish, publish_command

EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def stored(store: Store) -> dict[str, tuple[Any, ...]]:
    """msg_id -> (order_id, deliverer_id, state, latitude, longitude) of every stored report."""
    return {row[0]: (row[1], row[2], row[3], row[5], row[6]) for row in store.scan(*EVER)}


def assert_no_report_from_the_future(store: Store) -> None:
    """Every report's timestamp is at or before the moment the subscriber stored it."""
    late = [(row[0], row[4], row[11]) for row in store.scan(*EVER) if row[4] > row[11]]
    assert not late, f"{len(late)} reports stamped after they were stored, e.g. {late[:3]}"


def seeded_run_into(
    url: str, broker: Mosquitto, subscriber: Callable[..., ServiceProcess]
) -> tuple[Run, dict[str, tuple[Any, ...]]]:
    """One seeded burst with a subscriber writing into the store at ``url``; what it stored."""
    proc = subscriber(store=url)
    run = publish("--mqtt-url", broker.url, "--seed", "2024", "--workers", "20", "--locations", "15",
                  "--orders-per-worker", "2", "--interval", "0")
    assert run.code == 0, run.stderr
    store = open_store(url)
    wait_until(lambda: store.counts().locations >= 600, 60, f"600 reports in {url}")
    assert proc.terminate() == 0
    return run, stored(store)


def test_a_seeded_run_publishes_the_same_reports_twice(
    broker: Mosquitto, tmp_path: Path, subscriber: Callable[..., ServiceProcess]
) -> None:
    first, first_rows = seeded_run_into(f"sqlite:///{tmp_path}/first.db", broker, subscriber)
    second, second_rows = seeded_run_into(f"sqlite:///{tmp_path}/second.db", broker, subscriber)
    assert first.summary["seed"] == second.summary["seed"] == 2024
    assert first.summary["order_ids"] == second.summary["order_ids"]
    assert len(first.summary["order_ids"]) == 40
    assert len(first_rows) == 600
    assert first_rows == second_rows


def test_without_a_seed_one_is_picked_and_printed(broker: Mosquitto) -> None:
    one = publish("--mqtt-url", broker.url, "--workers", "2", "--locations", "3", "--interval", "0")
    other = publish("--mqtt-url", broker.url, "--workers", "2", "--locations", "3", "--interval", "0")
    assert one.code == other.code == 0
    assert isinstance(one.summary["seed"], int)
    assert one.summary["seed"] != other.summary["seed"]
    assert not set(one.summary["order_ids"]) & set(other.summary["order_ids"])
    assert f"seed {one.summary['seed']}" in one.stderr


@pytest.mark.parametrize("qos", ["0", "1"])
def test_the_summary_accounts_for_every_report(broker: Mosquitto, qos: str) -> None:
    run = publish("--mqtt-url", broker.url, "--qos", qos, "--workers", "5", "--locations", "10", "--interval", "0.01")
    assert run.code == 0, run.stderr
    summary = run.summary
    assert (summary["sent"], summary["acked"], summary["failed"], summary["planned"]) == (50, 50, 0, 50)
    assert summary["rate"] > 0
    assert set(summary["latency_ms"]) >= {"p50", "p95", "p99"}
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p95"] <= summary["latency_ms"]["p99"]
    assert len(summary["order_ids"]) == 5
    assert summary["stopped"] is None


@pytest.mark.slow
def test_100000_reports_at_qos_1_are_all_acknowledged_and_stored_once(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess]
) -> None:
    subscriber()
    started = time.monotonic()
    run = publish("--mqtt-url", broker.url, "--seed", "100000", "--workers", "100", "--locations", "1000",
                  "--interval", "0", "--qos", "1", timeout=600)
    published = time.monotonic() - started
    assert run.code == 0, run.stderr
    summary = run.summary
    assert (summary["sent"], summary["acked"], summary["failed"]) == (100_000, 100_000, 0)
    assert len(summary["order_ids"]) == 100
    store = open_store(sqlite_url)
    wait_until(lambda: store.counts().locations >= 100_000, 300, "100,000 stored reports")
    stored_at = time.monotonic() - started
    counts = store.counts()
    assert (counts.locations, counts.orders, counts.rejected) == (100_000, 100, 0)
    expected = {f"{order}:{seq}" for order in summary["order_ids"] for seq in range(1000)}
    assert {row[0] for row in store.scan(*EVER)} == expected
    assert_no_report_from_the_future(store)
    for order_id in summary["order_ids"][:10]:
        last = store.last_location(order_id)
        assert last is not None and last.delivery_state.value == "arrived" and last.seq == 999
    print(f"\npublish: 100,000 QoS 1 reports acknowledged in {published:.1f} s ({summary['rate']:,.0f}/s),"
          f" latency ms {summary['latency_ms']}; all stored after {stored_at:.1f} s")


def test_rate_caps_reports_per_second_across_couriers(broker: Mosquitto) -> None:
    rate, duration, workers = 200, 2.0, 10
    run = publish("--mqtt-url", broker.url, "--rate", str(rate), "--duration", str(duration),
                  "--workers", str(workers), "--locations", "1000", "--interval", "0")
    assert run.code == 0, run.stderr
    assert run.summary["stopped"] == "duration"
    assert 0 < run.summary["sent"] <= rate * duration * 1.2 + workers
    assert run.summary["acked"] == run.summary["sent"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_stops_and_prints_what_was_sent(
    broker: Mosquitto, sqlite_url: str, subscriber: Callable[..., ServiceProcess], signum: signal.Signals
) -> None:
    subscriber()
    store = open_store(sqlite_url)
    process = subprocess.Popen(
        publish_command("--mqtt-url", broker.url, "--workers", "10", "--locations", "1000", "--interval", "0.05"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        wait_until(lambda: store.counts().locations >= 50, 30, "the burst under way")
        process.send_signal(signum)
        run = finished(process, timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert run.code == 0, run.stderr
    summary = run.summary
    assert summary["stopped"] == "signal"
    assert 50 <= summary["sent"] < summary["planned"] == 10_000
    assert summary["acked"] == summary["sent"] and summary["failed"] == 0
    wait_until(lambda: store.counts().locations >= summary["acked"], 30, "every acknowledged report stored")
    assert store.counts().locations == summary["acked"]
    assert_no_report_from_the_future(store)


def test_an_unreachable_broker_fails_with_a_summary_and_exit_1() -> None:
    run = publish("--mqtt-url", f"mqtt://127.0.0.1:{free_port()}", "--workers", "2", "--locations", "3")
    assert run.code == 1
    assert run.summary["sent"] == 0 and run.summary["stopped"] == "error"
    assert "cannot reach MQTT broker" in run.summary["error"]
