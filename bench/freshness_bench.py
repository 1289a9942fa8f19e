"""Freshness: how long from a courier's publish until `GET last-location` shows the report.

    python bench/freshness_bench.py [--rate 1000] [--seconds 20] [--sample-every 20] [--force]

Publishes at a steady rate over MQTT (QoS 1) to a real broker, subscriber and API (gunicorn);
every Nth report is watched by polling its order's last location every 2 ms until it (or a newer
report of the same order) appears. A latency has no ceiling to be measured against; the run still
refuses a busy machine unless ``--force`` (bench/conditions.py). Writes bench/results/freshness.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from conditions import Refusal, RunConditions, refuse, write_results  # noqa: E402

from deliverer.contract import DeliveryState, LocationReport  # noqa: E402
from deliverer.local_broker import Mosquitto, free_port  # noqa: E402
from deliverer.mqtt import parse_mqtt_url  # noqa: E402
from deliverer.publishing import WindowedPublisher  # noqa: E402

RESULTS = REPO / "bench" / "results"
_local = threading.local()


def last_seq(port: int, order_id: str) -> int:
    conn: http.client.HTTPConnection | None = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", f"/v1/orders/{order_id}/last-location")
    response = conn.getresponse()
    body = response.read()
    return int(json.loads(body)["seq"]) if response.status == 200 else -1


def watch(port: int, report: LocationReport, published_at: float, timeout: float = 10) -> float | None:
    while time.monotonic() - published_at < timeout:
        # A newer report of the same order may already have replaced it: seq says "at least this one".
        if last_seq(port, report.order_id) >= (report.seq or 0):
            return time.monotonic() - published_at
        time.sleep(0.002)
    return None


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1] if len(values) > 1 else values[0]


def run(rate: int, seconds: int, sample_every: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="freshness-") as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "broker").start()
        store = f"sqlite:///{work}/store.db"
        api_port = free_port()
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "deliverer_cli.main", *args],
                stdout=(work / f"{name}.log").open("wb"), stderr=subprocess.STDOUT, cwd=REPO,
            )
            for name, args in (
                ("subscriber", ["subscribe", "--mqtt-url", broker.url, "--store", store, "--client-id", "fresh"]),
                ("api", ["api", "--port", str(api_port), "--store", store, "--mqtt-url", broker.url]),
            )
        ]
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", api_port, timeout=2)
                    conn.request("GET", "/readyz")
                    if conn.getresponse().status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("API not ready after 60 s")
                time.sleep(0.1)
            publisher = WindowedPublisher(parse_mqtt_url(broker.url), window=1000).connect()
            orders = 200
            latencies: list[float] = []
            missed = 0
            with ThreadPoolExecutor(max_workers=64) as pool:
                futures = []
                start = time.monotonic()
                for i in range(rate * seconds):
                    due = start + i / rate
                    if (delay := due - time.monotonic()) > 0:
                        time.sleep(delay)
                    report = LocationReport(
                        msg_id=f"f{i}", order_id=f"fresh-{i % orders}", deliverer_id=f"c{i % orders}",
                        delivery_state=DeliveryState.ON_THE_WAY, timestamp=datetime.now(UTC), latitude=45.0,
                        longitude=9.0, seq=i,
                    )
                    published_at = time.monotonic()
                    publisher.publish(report.topic, report.to_json(), qos=1)
                    if i % sample_every == 0:
                        futures.append(pool.submit(watch, api_port, report, published_at))
                achieved = rate * seconds / (time.monotonic() - start)
                for future in futures:
                    latency = future.result()
                    if latency is None:
                        missed += 1
                    else:
                        latencies.append(latency * 1000)
            publisher.close()
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
            broker.stop()
    return {
        "rate_target": rate,
        "rate_achieved": round(achieved),
        "samples": len(latencies),
        "missed": missed,
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "goal_p99_ms": 250,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000, help="reports per second")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--sample-every", type=int, default=20, help="watch every Nth report")
    parser.add_argument("--force", action="store_true", help="run on a busy machine too; the results say so")
    parser.add_argument("--output", type=Path, default=RESULTS / "freshness.json")
    args = parser.parse_args()
    try:
        conditions = RunConditions(force=args.force)
        result = run(args.rate, args.seconds, args.sample_every)
        print(f"freshness at {result['rate_achieved']:,} reports/s: p50 {result['p50_ms']} ms, "
              f"p99 {result['p99_ms']} ms (goal <= 250 ms), {result['samples']} samples, {result['missed']} missed")
        write_results(args.output, {"freshness": result}, conditions, [])
    except Refusal as refusal:
        return refuse(refusal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
