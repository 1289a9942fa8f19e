"""Shared test helpers: report generators, polling with a deadline, subscriber processes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from deliverer.contract import DeliveryState, LocationReport
from deliverer.mqtt import parse_mqtt_url
from deliverer.publishing import WindowedPublisher
from deliverer.store import Store, admission
from deliverer.store.sqlite import SQLiteStore

T = TypeVar("T")
REPO = Path(__file__).resolve().parent.parent


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns a truthy value; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def make_reports(
    count: int, orders: int, start: datetime | None = None, prefix: str = "o", step_s: float = 1.0
) -> list[LocationReport]:
    """``count`` reports spread round-robin over ``orders`` orders, timestamps increasing per order."""
    start = start or datetime.now(UTC) - timedelta(seconds=count * step_s, hours=1)
    states = (DeliveryState.START, DeliveryState.ON_THE_WAY, DeliveryState.ARRIVED)
    reports = []
    for i in range(count):
        order = i % orders
        reports.append(
            LocationReport(
                msg_id=f"{prefix}-m{i}",
                order_id=f"{prefix}-{order}",
                deliverer_id=f"d{order % 97}",
                delivery_state=states[min(2, (i // orders) % 3)],
                timestamp=start + timedelta(seconds=i * step_s),
                latitude=45.0 + (i % 1000) * 1e-4,
                longitude=9.0 + (i % 777) * 1e-4,
                seq=i // orders,
            )
        )
    return reports


def newest_per_order(reports: Iterable[LocationReport]) -> dict[str, LocationReport]:
    """What every store must hold as the last locations of ``reports``, by order."""
    return {report.order_id: report for report in admission.newest_per_order(reports)}


def stored_ids(store: Store) -> list[str]:
    """Every msg_id in the store's history, duplicates included (there must be none)."""
    return [row[0] for row in store.scan(datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))]


def publish_all(
    mqtt_url: str, messages: Iterable[tuple[str, bytes]], window: int = 1000, timeout: float = 120
) -> int:
    """Publish (topic, payload) pairs at QoS 1 and wait for every PUBACK; returns the count acked."""
    publisher = WindowedPublisher(parse_mqtt_url(mqtt_url), window=window).connect()
    try:
        for topic, payload in messages:
            publisher.publish(topic, payload, qos=1, timeout=timeout)
        assert publisher.flush(timeout), f"{publisher.outstanding} publishes never acknowledged"
        return publisher.acked
    finally:
        publisher.close()


def as_messages(reports: Iterable[LocationReport]) -> list[tuple[str, bytes]]:
    return [(r.topic, r.to_json()) for r in reports]


def http_status(url: str) -> int:
    """The status ``url`` answers with; 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


@dataclass
class ServiceProcess:
    """A ``deliverer`` subcommand running as a real process, its output in a log file."""

    args: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    metrics_port: int | None = None
    module: str = "deliverer_cli.main"
    """What ``python -m`` runs: the console script, or a test's wrapper around it."""

    def metric(self, name: str) -> float:
        """The current value of one sample on the process's /metrics page (0 when absent)."""
        assert self.metrics_port is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as page:
            for line in page.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def start(self) -> ServiceProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, text: str, timeout: float = 20) -> None:
        """For events no endpoint shows; readiness has one (:meth:`wait_ready`)."""
        wait_until(lambda: text in self.log() or self._died(), timeout, f"log line {text!r}")
        assert self.alive, f"process exited ({self.process and self.process.returncode}):\n{self.log()[-3000:]}"

    def wait_ready(self, url: str, timeout: float = 30) -> None:
        """Until ``url`` (the service's /readyz, the subscriber's /healthz) answers 200."""
        wait_until(lambda: http_status(url) == 200 or self._died(), timeout, f"{url} to answer 200")
        assert self.alive, f"process exited ({self.process and self.process.returncode}):\n{self.log()[-3000:]}"

    def wait_subscribed(self, timeout: float = 20) -> None:
        """Until the subscriber's /healthz (on its metrics port) says the broker granted its subscription."""
        assert self.metrics_port is not None, "start the subscriber with --metrics-port"
        self.wait_ready(f"http://127.0.0.1:{self.metrics_port}/healthz", timeout)

    def _died(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"did not stop within {timeout} s:\n{self.log()[-3000:]}") from None


def corrupt_store(path: Path, reports: int = 3000) -> None:
    """A real SQLite store whose pages after the first are then overwritten: it opens, and every
    read of a table fails with "database disk image is malformed", as after a disk fault."""
    store = SQLiteStore(path)
    store.insert_batch(make_reports(reports, orders=30))
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    with path.open("r+b") as database:
        database.seek(4096)
        database.write(b"\xde\xad" * ((size - 4096) // 2))
