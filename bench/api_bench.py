"""API benchmarks against the production server (gunicorn, gthread), each beside its ceiling or baseline.

    python bench/api_bench.py [--workers N] [--threads 8] [--duration 10] [--connections 16]
                              [--fixed-rate 1000] [--fixed-seconds 20] [--force]

Starts its own Mosquitto, SQLite store (seeded with 1,000 orders), bench/api_server.py (the
production app and gunicorn settings of ``deliverer api`` plus the bench-only baseline routes of
bench/baseline_routes.py), bench/hello_server.py (a bare Flask app on the same gunicorn settings)
and bench/static_server.py (a canned answer), then:

1. calibrates the load client: ``wrk`` sends each benchmark's own requests to the static server;
   the open-loop client (bench/paced_client.py) is asked for three times the fixed rate there;
2. measures the ceiling of the reads, ``GET /hello`` on the bare Flask app;
3. measures, each at full speed on the production server:
   - app_hello: ``GET /bench/hello`` inside our app (its per-request cost without the store's);
   - get_last_location: ``GET /v1/orders/<id>/last-location`` over the 1,000 seeded orders;
   - naive_post_single: ``POST /bench/naive/locations``, one report, a new broker connection per
     request and QoS 0 (the original system's way): the baseline of the ingest rows;
   - post_single: ``POST /v1/locations`` with one report per request (each with its own msg_id);
   - post_batch_100: the same with 100 reports per request;
4. measures the ceiling again, then get_last_location at a fixed rate (``--fixed-rate``, open loop)
   for its p99 at that rate.

wrk sends requests built once, in the script's ``init()``, from a file this script writes: building
them per request in Lua caps wrk below what the server answers. The results are written only when
the machine was quiet before the run (or ``--force``, marked so), the two ceilings agree within
10 %, the client reached three times every figure it measured and every request was answered with
success (see bench/conditions.py).
A 202 from the real route means the broker acknowledged every report (QoS 1); no subscriber runs
during the POSTs, so the broker only acknowledges. Prints a table and writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))

from conditions import (  # noqa: E402
    CLIENT_HEADROOM,
    Refusal,
    RunConditions,
    answers_check,
    ceiling_check,
    client_check,
    pace_check,
    refuse,
    tree_cpu_seconds,
    wait_until_idle,
    write_results,
)
from paced_client import run_paced  # noqa: E402

from deliverer.contract import DeliveryState, LocationReport, format_timestamp  # noqa: E402
from deliverer.local_broker import Mosquitto, free_port, wait_for_port  # noqa: E402
from deliverer.settings import API_THREADS, API_WORKERS  # noqa: E402
from deliverer.store import open_store  # noqa: E402

ORDERS = 1000
BATCH = 100
BODY_BYTES = 8_000_000
"""About how much request body one POST benchmark builds in advance (cycled when all are sent)."""

LAST_LOCATION_PATH = "/v1/orders/bench-{order}/last-location"


@dataclass(frozen=True)
class Scenario:
    name: str
    method: str
    path: str
    """For GETs, ``{order}`` is replaced by one of the seeded orders, a different one each request."""
    reports_per_request: int
    server: str
    """``app``: the production server; ``hello``: the bare Flask app."""


CEILING = Scenario("bare_hello", "GET", "/hello", 0, "hello")
FIGURES = (
    Scenario("app_hello", "GET", "/bench/hello", 0, "app"),
    Scenario("get_last_location", "GET", LAST_LOCATION_PATH, 0, "app"),
    Scenario("naive_post_single", "POST", "/bench/naive/locations", 1, "app"),
    Scenario("post_single", "POST", "/v1/locations", 1, "app"),
    Scenario("post_batch_100", "POST", "/v1/locations", BATCH, "app"),
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


# ---------------------------------------------------------------------------- requests, built once


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


def request_lines(scenario: Scenario, prefix: str, moment: str) -> list[str]:
    """What wrk sends, one request a line: the paths of a GET, the JSON bodies of a POST."""
    if scenario.method == "GET":
        if "{order}" in scenario.path:
            return [scenario.path.format(order=order) for order in range(ORDERS)]
        return [scenario.path]
    size = max(1, scenario.reports_per_request)
    count = max(100, min(20_000, BODY_BYTES // (size * len(report_json(prefix, 0, moment)))))
    return [post_body(prefix, counter, size, moment) for counter in range(count)]


WRK_SCRIPT = """
local method, path, source = "%(method)s", "%(path)s", "%(source)s"
local requests, index = {}, 0

function init(args)
  local headers = {["Content-Type"] = "application/json"}
  for line in io.lines(source) do
    if method == "GET" then
      requests[#requests + 1] = wrk.format("GET", line)
    else
      requests[#requests + 1] = wrk.format(method, path, headers, line)
    end
  end
end

function request()
  index = index %% #requests + 1
  return requests[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%%d,"duration_us":%%d,"failed":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout + e.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def write_script(scenario: Scenario, work: Path, run_id: str) -> Path:
    source = work / f"{scenario.name}.requests"
    source.write_text("\n".join(request_lines(scenario, f"{run_id}-{scenario.name}", recent_moment())) + "\n")
    script = work / f"{scenario.name}.lua"
    script.write_text(WRK_SCRIPT % {"method": scenario.method, "path": scenario.path, "source": source})
    return script


def run_wrk(base_url: str, script: Path, args: argparse.Namespace, seconds: int) -> Measurement:
    done = subprocess.run(
        ["wrk", "-t", str(args.client_threads), "-c", str(args.connections), "-d", f"{seconds}s",
         "--timeout", "10s", "-s", str(script), base_url],
        capture_output=True, text=True,
    )
    line = next((line for line in done.stdout.splitlines() if line.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    data = json.loads(line.removeprefix("RESULT "))
    measurement = Measurement(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        failed=data["failed"],
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
    )
    measurement.requests_per_s = round(measurement.requests / measurement.seconds, 1)
    return measurement


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
            raise RuntimeError(f"{base_url} exited:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{base_url} was not ready within {timeout} s:\n{log.read_text()[-2000:]}")


@contextmanager
def server(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, *command], stdout=out, stderr=out, cwd=REPO)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Servers:
    app: str
    hello: str
    static: str
    app_pid: int
    hello_pid: int
    broker_pid: int
    static_port: int
    app_port: int


def calibrate(servers: Servers, scripts: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """The client against the static answer: wrk with each benchmark's requests, and the open-loop
    client at three times its rate (its capacity) and at its rate (the latency it adds itself)."""
    wrk = {}
    for name, script in scripts.items():
        wrk[name] = run_wrk(servers.static, script, args, args.calibration_seconds).requests_per_s
        print(f"  client against a static answer, {name} requests: {wrk[name]:,.0f} req/s", file=sys.stderr)
    seconds = float(args.calibration_seconds)
    capacity = run_paced("127.0.0.1", servers.static_port, lambda _i: "/static", int(args.fixed_rate * CLIENT_HEADROOM),
                         seconds)
    floor = run_paced("127.0.0.1", servers.static_port, lambda _i: "/static", args.fixed_rate, seconds)
    print(f"  open-loop client against a static answer: {capacity['achieved_req_per_s']:,.0f} of "
          f"{capacity['target_req_per_s']:,} req/s; at {args.fixed_rate:,} req/s its own p99 is {floor['p99_ms']} ms",
          file=sys.stderr)
    return {"wrk_req_per_s": wrk, "paced_capacity": capacity, "paced_floor": floor}


def run_scenario(servers: Servers, scenario: Scenario, script: Path, args: argparse.Namespace) -> Measurement:
    server_pid = servers.hello_pid if scenario.server == "hello" else servers.app_pid
    server_cpu, broker_cpu = tree_cpu_seconds(server_pid), tree_cpu_seconds(servers.broker_pid)
    measurement = run_wrk(servers.hello if scenario.server == "hello" else servers.app, script, args, args.duration)
    if measurement.requests:
        measurement.server_cpu_ms_per_request = round(
            (tree_cpu_seconds(server_pid) - server_cpu) * 1000 / measurement.requests, 3
        )
        measurement.broker_cpu_ms_per_request = round(
            (tree_cpu_seconds(servers.broker_pid) - broker_cpu) * 1000 / measurement.requests, 3
        )
    if scenario.reports_per_request:
        measurement.reports_per_s = round(measurement.requests_per_s * scenario.reports_per_request, 1)
    print(f"  {scenario.name}: {measurement.requests_per_s:,.0f} req/s", file=sys.stderr)
    return measurement


def measure(args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run_id = f"r{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        work = Path(tmp)
        broker = Mosquitto(work / "mosquitto").start()
        store_url = f"sqlite:///{work}/store.db"
        seed(store_url)
        ports = {name: free_port() for name in ("app", "hello", "static")}
        sizing = ["--workers", str(args.workers), "--threads", str(args.threads)]
        try:
            with (
                server([str(BENCH / "api_server.py"), "--port", str(ports["app"]), "--store", store_url,
                        "--mqtt-url", broker.url, *sizing], work / "api.log") as app,
                server([str(BENCH / "hello_server.py"), "--port", str(ports["hello"]), *sizing],
                       work / "hello.log") as hello,
                server([str(BENCH / "static_server.py"), str(ports["static"])], work / "static.log") as static,
            ):
                urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
                wait_ready(urls["app"], app, work / "api.log")
                wait_ready(urls["hello"], hello, work / "hello.log")
                wait_for_port(ports["static"], 10, static)
                assert broker.process is not None
                servers = Servers(urls["app"], urls["hello"], urls["static"], app.pid, hello.pid,
                                  broker.process.pid, ports["static"], ports["app"])
                scripts = {scenario.name: write_script(scenario, work, run_id) for scenario in (CEILING, *FIGURES)}
                calibration = calibrate(servers, scripts, args)
                first = run_scenario(servers, CEILING, scripts[CEILING.name], args)
                results = {}
                for scenario in FIGURES:
                    wait_until_idle()
                    results[scenario.name] = run_scenario(servers, scenario, scripts[scenario.name], args)
                # The POSTs leave the broker and the server busy for a while; the ceiling's second
                # measurement waits for that, as its first one started on a quiet machine.
                wait_until_idle()
                second = run_scenario(servers, CEILING, scripts[CEILING.name], args)
                fixed_rate = run_paced(
                    "127.0.0.1", ports["app"], lambda i: LAST_LOCATION_PATH.format(order=i % ORDERS),
                    args.fixed_rate, args.fixed_seconds,
                )
                print(f"  get_last_location at {args.fixed_rate:,} req/s: p99 {fixed_rate['p99_ms']} ms",
                      file=sys.stderr)
        finally:
            broker.stop()
    rows = {"bare_hello_first": asdict(first), **{name: asdict(m) for name, m in results.items()},
            "bare_hello_second": asdict(second)}
    checks = [
        ceiling_check(CEILING.name, first.requests_per_s, second.requests_per_s),
        client_check(CEILING.name, calibration["wrk_req_per_s"][CEILING.name],
                     max(first.requests_per_s, second.requests_per_s)),
        *(client_check(name, calibration["wrk_req_per_s"][name], m.requests_per_s) for name, m in results.items()),
        pace_check("get_last_location at a fixed rate", calibration["paced_capacity"]["target_req_per_s"],
                   calibration["paced_capacity"]["achieved_req_per_s"]),
        *(answers_check(name, row["requests"], row["failed"]) for name, row in rows.items()),
        answers_check("get_last_location at a fixed rate", fixed_rate["requests"], fixed_rate["failed"]),
    ]
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "server": {"kind": "gunicorn gthread", "workers": args.workers, "threads": args.threads},
        "load": {"client": "wrk, requests built once in init()", "connections": args.connections,
                 "client_threads": args.client_threads, "duration_s": args.duration,
                 "calibration_s": args.calibration_seconds},
        "calibration": calibration,
        "results": rows,
        "fixed_rate_last_location": fixed_rate,
        **comparisons(rows, fixed_rate, calibration),
    }
    return report, checks


def comparisons(rows: dict[str, Any], fixed_rate: dict[str, Any], calibration: dict[str, Any]) -> dict[str, Any]:
    """Each figure beside its ceiling or baseline, measured in this run."""
    hello = (rows["bare_hello_first"]["requests_per_s"] + rows["bare_hello_second"]["requests_per_s"]) / 2
    hello_cpu = (rows["bare_hello_first"]["server_cpu_ms_per_request"]
                 + rows["bare_hello_second"]["server_cpu_ms_per_request"]) / 2
    reads, app_hello = rows["get_last_location"], rows["app_hello"]
    naive, single, batch = rows["naive_post_single"], rows["post_single"], rows["post_batch_100"]
    return {
        "api_reads": {
            "last_location_req_per_s": reads["requests_per_s"],
            "hello_req_per_s": round(hello, 1),
            "hello_first_req_per_s": rows["bare_hello_first"]["requests_per_s"],
            "hello_second_req_per_s": rows["bare_hello_second"]["requests_per_s"],
            "app_hello_req_per_s": app_hello["requests_per_s"],
            "ratio_to_ceiling": round(reads["requests_per_s"] / hello, 3),
            # The server's CPU per request, hello's over last-location's: the ratio with the CPU to themselves.
            "server_cpu_ms_per_request": reads["server_cpu_ms_per_request"],
            "hello_server_cpu_ms_per_request": round(hello_cpu, 3),
            "cpu_ratio_to_ceiling": round(hello_cpu / reads["server_cpu_ms_per_request"], 3),
            "p50_ms_at_full_speed": reads["p50_ms"],
            "p99_ms_at_full_speed": reads["p99_ms"],
            "hello_p99_ms_at_full_speed": rows["bare_hello_first"]["p99_ms"],
            "fixed_rate_target_req_per_s": fixed_rate["target_req_per_s"],
            "achieved_req_per_s_at_1000": fixed_rate["achieved_req_per_s"],
            "p50_ms_at_1000": fixed_rate["p50_ms"],
            "p99_ms_at_1000": fixed_rate["p99_ms"],
            "client_p99_ms_at_1000_against_static": calibration["paced_floor"]["p99_ms"],
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
        f"wrk with {load['connections']} connections for {load['duration_s']} s"
    )
    header = (
        f"{'benchmark':<20}{'req/s':>10}{'reports/s':>12}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
        f"{'failed':>8}{'API CPU ms/req':>16}{'client max':>12}"
    )
    print(header)
    print("-" * len(header))
    client = report["calibration"]["wrk_req_per_s"]
    for name, row in report["results"].items():
        reports = f"{row['reports_per_s']:,.0f}" if row["reports_per_s"] is not None else "-"
        cpu = f"{row['server_cpu_ms_per_request']:.2f}" if row["server_cpu_ms_per_request"] is not None else "-"
        print(
            f"{name:<20}{row['requests_per_s']:>10,.0f}{reports:>12}{row['p50_ms']:>9.2f}"
            f"{row['p90_ms']:>9.2f}{row['p99_ms']:>9.2f}{row['failed']:>8}{cpu:>16}"
            f"{client[name.removesuffix('_first').removesuffix('_second')]:>12,.0f}"
        )
    fixed = report["fixed_rate_last_location"]
    reads, single, batch = report["api_reads"], report["api_ingest_single"], report["api_ingest_batch"]
    print(
        f"\nget_last_location at a fixed {fixed['target_req_per_s']:,} req/s (open loop, reached "
        f"{fixed['achieved_req_per_s']:,.0f}): p50 {fixed['p50_ms']:.2f} ms, p99 {fixed['p99_ms']:.2f} ms "
        f"(goal <= 10 ms; the client alone: p99 {reads['client_p99_ms_at_1000_against_static']:.2f} ms), "
        f"{fixed['failed']} failed, sent late by p99 {fixed['send_late_p99_ms']:.2f} ms"
    )
    print(f"last-location / bare hello:   {reads['ratio_to_ceiling']:.2f} (goal >= 0.7)")
    print(f"POST single / naive:          {single['ratio_to_baseline']:.2f} (goal >= 3)")
    print(f"POST batch 100 / naive, reports/s: {batch['ratio_to_baseline']:.2f} (goal >= 20)")


def add_server_and_client_arguments(parser: argparse.ArgumentParser) -> None:
    """The API server's settings and wrk's, shared by the API benchmarks."""
    parser.add_argument("--workers", type=int, default=API_WORKERS.default_value, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=API_THREADS.default_value, help="threads per worker")
    parser.add_argument("--duration", type=int, default=10, help="seconds per benchmark")
    parser.add_argument("--calibration-seconds", type=int, default=3, help="seconds per client calibration")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections")
    parser.add_argument("--client-threads", type=int, default=1, help="wrk threads")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_server_and_client_arguments(parser)
    parser.add_argument("--fixed-rate", type=int, default=1000, help="req/s of the open-loop last-location run")
    parser.add_argument("--fixed-seconds", type=float, default=20, help="seconds of the open-loop run")
    parser.add_argument("--force", action="store_true", help="run on a busy machine too; the results say so")
    parser.add_argument("--output", type=Path, default=RESULTS / "api.json")
    return run_with_wrk(parser.parse_args(), measure, print_table)


def run_with_wrk(
    args: argparse.Namespace,
    measure: Callable[[argparse.Namespace], tuple[dict[str, Any], list[dict[str, Any]]]],
    print_table: Callable[[dict[str, Any]], None],
) -> int:
    """A wrk benchmark's run: measure under the run's conditions, print, write ``args.output``; the exit
    status (2 without wrk, 3 refused)."""
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    try:
        conditions = RunConditions(force=args.force)
        report, checks = measure(args)
        print_table(report)
        write_results(args.output, report, conditions, checks)
    except Refusal as refusal:
        return refuse(refusal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
