"""API benchmarks against the production server (gunicorn, gthread), each beside its baseline.

    python bench/api_bench.py [--workers N] [--threads 8] [--duration 10] [--connections 16]
                              [--client auto|wrk|python] [--fixed-rate 1000] [--fixed-seconds 20]

Starts its own Mosquitto, SQLite store (seeded with 1,000 orders) and bench/api_server.py (the
production app and gunicorn settings of ``deliverer api`` plus the bench-only baseline routes of
bench/baseline_routes.py), then measures, one after the other, each at full speed:

- hello: ``GET /bench/hello``, a tiny JSON answer: the ceiling of the reads;
- get_last_location: ``GET /v1/orders/<id>/last-location`` over the 1,000 seeded orders;
- naive_post_single: ``POST /bench/naive/locations``, one report, a new broker connection per
  request and QoS 0 (the original system's way): the baseline of the ingest rows;
- post_single: ``POST /v1/locations`` with one report per request (each with its own msg_id);
- post_batch_100: the same with 100 reports per request;

and then get_last_location at a fixed rate (``--fixed-rate``, open loop, bench/paced_client.py)
for its p99 at that rate. A 202 from the real route means the broker acknowledged every report
(QoS 1); no subscriber runs during the POSTs, so the broker only acknowledges. The full-speed
load comes from ``wrk`` (Debian: ``apt-get install -y wrk``) when it is installed, else from a
Python keep-alive client (processes x threads, http.client), which costs more CPU on the same
machine and so gives lower figures. Prints a table and writes bench/results/api.json, with the
comparisons under ``api_reads``, ``api_ingest_single`` and ``api_ingest_batch``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO))

from api_server import DEFAULT_THREADS, DEFAULT_WORKERS  # noqa: E402
from paced_client import run_paced  # noqa: E402

from deliverer.contract import DeliveryState, LocationReport, format_timestamp  # noqa: E402
from deliverer.local_broker import Mosquitto, free_port  # noqa: E402
from deliverer.store import open_store  # noqa: E402

ORDERS = 1000
BATCH = 100


LAST_LOCATION_PATH = "/v1/orders/bench-{order}/last-location"


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    """For GETs, ``{order}`` is replaced by one of the seeded orders, a different one each request."""
    reports_per_request: int


SCENARIOS = (
    Scenario("hello", "GET", "/bench/hello", 0),
    Scenario("get_last_location", "GET", LAST_LOCATION_PATH, 0),
    Scenario("naive_post_single", "POST", "/bench/naive/locations", 1),
    Scenario("post_single", "POST", "/v1/locations", 1),
    Scenario("post_batch_100", "POST", "/v1/locations", BATCH),
)


@dataclass
class Measurement:
    requests: int
    seconds: float
    failed: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests_per_s: float = 0.0
    reports_per_s: float | None = None
    server_cpu_ms_per_request: float | None = None
    broker_cpu_ms_per_request: float | None = None


# ---------------------------------------------------------------------------- request bodies


def report_json(msg_id: str, order: int, moment: str) -> str:
    return (
        f'{{"msg_id":"{msg_id}","order_id":"bench-{order}","deliverer_id":"c{order % 97}",'
        f'"delivery_state":"on_the_way","timestamp":"{moment}","latitude":45.46,"longitude":9.19,'
        f'"speed_kmh":18.5}}'
    )


def post_body(prefix: str, counter: int, size: int, moment: str) -> str:
    """One report or an array of ``size``; msg_ids unique per request so nothing is a duplicate."""
    items = [report_json(f"{prefix}-{counter}-{i}", (counter + i) % ORDERS, moment) for i in range(size)]
    return items[0] if size == 1 else "[" + ",".join(items) + "]"


# ---------------------------------------------------------------------------- wrk client

WRK_SCRIPT = """
local kind = "%(kind)s"
local path = "%(path)s"
local size = %(size)d
local orders = %(orders)d
local moment = "%(moment)s"
local counter = 0
prefix = "w"
local threads = {}

function setup(thread)
  thread:set("prefix", "w" .. #threads .. "-" .. %(run)d)
  table.insert(threads, thread)
end

local function report(id, order)
  return string.format('{"msg_id":"%%s","order_id":"bench-%%d","deliverer_id":"c%%d",' ..
    '"delivery_state":"on_the_way","timestamp":"%%s","latitude":45.46,"longitude":9.19,"speed_kmh":18.5}',
    id, order, order %% 97, moment)
end

function request()
  counter = counter + 1
  if kind == "GET" then
    return wrk.format("GET", (string.gsub(path, "{order}", tostring(counter %% orders))))
  end
  local items = {}
  for i = 0, size - 1 do
    items[#items + 1] = report(prefix .. "-" .. counter .. "-" .. i, (counter + i) %% orders)
  end
  local body = items[1]
  if size > 1 then body = "[" .. table.concat(items, ",") .. "]" end
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%%d,"duration_us":%%d,"failed":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def run_wrk(base_url: str, scenario: Scenario, args: argparse.Namespace, work: Path, run: int) -> Measurement:
    script = work / f"{scenario.name}.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "kind": scenario.method,
            "path": scenario.path,
            "size": max(1, scenario.reports_per_request),
            "orders": ORDERS,
            "moment": recent_moment(),
            "run": run,
        }
    )
    output = subprocess.run(
        ["wrk", "-t", str(args.client_threads), "-c", str(args.connections), "-d", f"{args.duration}s",
         "--timeout", "10s", "-s", str(script), base_url],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Measurement(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        failed=data["failed"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )


# ---------------------------------------------------------------------------- Python client


def _python_worker(
    host: str, port: int, scenario: Scenario, threads: int, deadline: float, prefix: str, moment: str,
    results: Any,
) -> None:
    latencies: list[float] = []
    failed = 0
    lock = threading.Lock()

    def loop(index: int) -> None:
        nonlocal failed
        connection = http.client.HTTPConnection(host, port, timeout=10)
        counter = 0
        own: list[float] = []
        errors = 0
        while time.monotonic() < deadline:
            counter += 1
            started = time.perf_counter()
            try:
                if scenario.method == "GET":
                    connection.request("GET", scenario.path.format(order=(counter * 7 + index) % ORDERS))
                else:
                    body = post_body(f"{prefix}-{index}", counter, max(1, scenario.reports_per_request), moment)
                    connection.request("POST", scenario.path, body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                ok = response.status < 300
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, port, timeout=10)
                ok = False
            own.append(time.perf_counter() - started)
            errors += not ok
        with lock:
            latencies.extend(own)
            failed += errors

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put((latencies, failed))


def run_python(base_url: str, scenario: Scenario, args: argparse.Namespace, run: int) -> Measurement:
    host, port = base_url.removeprefix("http://").split(":")
    processes = max(1, args.client_threads)
    threads = max(1, args.connections // processes)
    results: Any = multiprocessing.Queue()
    started = time.monotonic()
    deadline = started + args.duration
    moment = recent_moment()
    workers = [
        multiprocessing.Process(
            target=_python_worker,
            args=(host, int(port), scenario, threads, deadline, f"p{run}-{n}", moment, results),
        )
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies: list[float] = []
    failed = 0
    for _ in workers:
        got, errors = results.get()
        latencies.extend(got)
        failed += errors
    for worker in workers:
        worker.join()
    seconds = time.monotonic() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] * 1000 if latencies else 0.0

    return Measurement(
        requests=len(latencies), seconds=seconds, failed=failed,
        p50_ms=pct(50), p90_ms=pct(90), p99_ms=pct(99), max_ms=latencies[-1] * 1000 if latencies else 0.0,
    )


# ---------------------------------------------------------------------------- CPU accounting


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live children, from /proc (Linux)."""
    pids = [pid] + [
        int(entry.name) for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _parent(int(entry.name)) == pid
    ]
    total = 0
    for one in pids:
        try:
            fields = (Path("/proc") / str(one) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _parent(pid: int) -> int | None:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


# ---------------------------------------------------------------------------- set-up


def recent_moment() -> str:
    return format_timestamp(datetime.now(UTC) - timedelta(minutes=1))


def seed(store_url: str) -> None:
    store = open_store(store_url)
    start = datetime.now(UTC) - timedelta(hours=1)
    reports = [
        LocationReport(
            msg_id=f"seed-{order}-{i}", order_id=f"bench-{order}", deliverer_id=f"c{order % 97}",
            delivery_state=DeliveryState.ON_THE_WAY, timestamp=start + timedelta(seconds=i),
            latitude=45.46 + i * 1e-4, longitude=9.19,
        )
        for order in range(ORDERS)
        for i in range(10)
    ]
    store.insert_batch(reports)
    store.close()


def wait_ready(base_url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"deliverer api exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the API was not ready within {timeout} s:\n{log.read_text()[-2000:]}")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mosquitto").start()
        store_url = f"sqlite:///{work}/store.db"
        seed(store_url)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log = work / "api.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, str(REPO / "bench" / "api_server.py"), "--port", str(port), "--store", store_url,
                 "--mqtt-url", broker.url, "--workers", str(args.workers), "--threads", str(args.threads)],
                stdout=out, stderr=out, cwd=REPO,
            )
        try:
            wait_ready(base_url, proc, log)
            results: dict[str, Any] = {}
            assert broker.process is not None
            for run, scenario in enumerate(SCENARIOS):
                api_cpu, broker_cpu = cpu_seconds(proc.pid), cpu_seconds(broker.process.pid)
                if client == "wrk":
                    measurement = run_wrk(base_url, scenario, args, work, run)
                else:
                    measurement = run_python(base_url, scenario, args, run)
                if measurement.requests:
                    measurement.server_cpu_ms_per_request = round(
                        (cpu_seconds(proc.pid) - api_cpu) * 1000 / measurement.requests, 3
                    )
                    measurement.broker_cpu_ms_per_request = round(
                        (cpu_seconds(broker.process.pid) - broker_cpu) * 1000 / measurement.requests, 3
                    )
                measurement.requests_per_s = round(measurement.requests / measurement.seconds, 1)
                if scenario.reports_per_request:
                    measurement.reports_per_s = round(measurement.requests_per_s * scenario.reports_per_request, 1)
                results[scenario.name] = asdict(measurement)
                print(f"  {scenario.name}: {measurement.requests_per_s:,.0f} req/s", file=sys.stderr)
            fixed_rate = run_paced(
                "127.0.0.1", port, lambda i: LAST_LOCATION_PATH.format(order=i % ORDERS), args.fixed_rate,
                args.fixed_seconds,
            )
            print(f"  get_last_location at {args.fixed_rate:,} req/s: p99 {fixed_rate['p99_ms']} ms", file=sys.stderr)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            broker.stop()
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            # The 1-minute load average before and after: other work on the machine shows here.
            "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
        },
        "server": {"kind": "gunicorn gthread", "workers": args.workers, "threads": args.threads},
        "load": {"client": client, "connections": args.connections, "client_threads": args.client_threads,
                 "duration_s": args.duration},
        "results": results,
        "fixed_rate_last_location": fixed_rate,
        **comparisons(results, fixed_rate),
    }


def comparisons(results: dict[str, Any], fixed_rate: dict[str, Any]) -> dict[str, Any]:
    """Each figure of issue 7 beside its ceiling or baseline, measured on the same server in this run."""
    reads, hello = results["get_last_location"], results["hello"]
    naive, single, batch = results["naive_post_single"], results["post_single"], results["post_batch_100"]
    return {
        "api_reads": {
            "last_location_req_per_s": reads["requests_per_s"],
            "hello_req_per_s": hello["requests_per_s"],
            "ratio_to_ceiling": round(reads["requests_per_s"] / hello["requests_per_s"], 3),
            "p50_ms_at_full_speed": reads["p50_ms"],
            "p99_ms_at_full_speed": reads["p99_ms"],
            "hello_p99_ms_at_full_speed": hello["p99_ms"],
            "fixed_rate_target_req_per_s": fixed_rate["target_req_per_s"],
            "achieved_req_per_s_at_1000": fixed_rate["achieved_req_per_s"],
            "p50_ms_at_1000": fixed_rate["p50_ms"],
            "p99_ms_at_1000": fixed_rate["p99_ms"],
        },
        "api_ingest_single": {
            "req_per_s": single["requests_per_s"],
            "naive_req_per_s": naive["requests_per_s"],
            "ratio_to_baseline": round(single["requests_per_s"] / naive["requests_per_s"], 3),
            "p50_ms_at_full_speed": single["p50_ms"],
            "p99_ms_at_full_speed": single["p99_ms"],
            "naive_p99_ms_at_full_speed": naive["p99_ms"],
        },
        "api_ingest_batch": {
            "reports_per_s": batch["reports_per_s"],
            "naive_reports_per_s": naive["reports_per_s"],
            "ratio_to_baseline": round(batch["reports_per_s"] / naive["reports_per_s"], 3),
            "p50_ms_at_full_speed": batch["p50_ms"],
            "p99_ms_at_full_speed": batch["p99_ms"],
        },
    }


def print_table(report: dict[str, Any]) -> None:
    server, load = report["server"], report["load"]
    print(
        f"\nAPI on gunicorn ({server['workers']} workers x {server['threads']} threads), "
        f"{load['client']} with {load['connections']} connections for {load['duration_s']} s, "
        f"{report['machine']['cpus']} CPUs, load average {report['machine']['load_average_before']}"
        f" -> {report['machine']['load_average_after']}"
    )
    header = (
        f"{'benchmark':<20}{'req/s':>10}{'reports/s':>12}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'failed':>8}{'API CPU ms/req':>16}"
    )
    print(header)
    print("-" * len(header))
    for name, row in report["results"].items():
        reports = f"{row['reports_per_s']:,.0f}" if row["reports_per_s"] is not None else "-"
        print(
            f"{name:<20}{row['requests_per_s']:>10,.0f}{reports:>12}{row['p50_ms']:>9.2f}"
            f"{row['p90_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['failed']:>8}"
            f"{row['server_cpu_ms_per_request'] or 0:>16.2f}"
        )
    fixed = report["fixed_rate_last_location"]
    reads, single, batch = report["api_reads"], report["api_ingest_single"], report["api_ingest_batch"]
    print(
        f"\nget_last_location at a fixed {fixed['target_req_per_s']:,} req/s (open loop, reached "
        f"{fixed['achieved_req_per_s']:,.0f}): p50 {fixed['p50_ms']:.2f} ms, p99 {fixed['p99_ms']:.2f} ms "
        f"(goal <= 10 ms), {fixed['failed']} failed, sent late by p99 {fixed['send_late_p99_ms']:.2f} ms"
    )
    print(f"last-location / hello:        {reads['ratio_to_ceiling']:.2f} (goal >= 0.7)")
    print(f"POST single / naive:          {single['ratio_to_baseline']:.2f} (goal >= 3)")
    print(f"POST batch 100 / naive, reports/s: {batch['ratio_to_baseline']:.2f} (goal >= 20)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="threads per worker")
    parser.add_argument("--duration", type=int, default=10, help="seconds per benchmark")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--client-threads", type=int, default=1, help="wrk threads / Python client processes")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--fixed-rate", type=int, default=1000, help="req/s of the open-loop last-location run")
    parser.add_argument("--fixed-seconds", type=float, default=20, help="seconds of the open-loop run")
    parser.add_argument("--output", type=Path, default=RESULTS / "api.json")
    args = parser.parse_args()
    report = measure(args)
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
