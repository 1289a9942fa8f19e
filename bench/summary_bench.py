"""A long trip's summary against its last location, on the production server.

    python bench/summary_bench.py [--reports 150000] [--duration 10] [--connections 16] [--force]

Writes one order of ``--reports`` reports into a SQLite store through ``Store.insert_batch`` (1,000 a
batch, one in twenty late: timed, CPU per batch), then serves the store with bench/api_server.py (the
production app and gunicorn settings of ``deliverer api``) and measures with wrk, requests built once:

1. ``GET /v1/orders/<id>/last-location`` of that order: the ceiling, before and after the figure;
2. ``GET /v1/orders/<id>/summary`` of the same order: the figure, beside the ceiling's mean.

Beside them, what the summary cost when it paged the whole history (in process, no HTTP: the store's
history read page by page and added up leg by leg, as the summary did before it read the store's trip).
The results are written only when the machine was quiet before the run (or ``--force``, marked so),
the two ceilings agree within 10 %, wrk reached three times every figure against a static answer with
the same requests, and every request succeeded (bench/conditions.py). Writes bench/results/summary_read.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BENCH = REPO / "bench"
sys.path.insert(0, str(REPO))

from api_bench import (  # noqa: E402
    Measurement,
    Scenario,
    add_server_and_client_arguments,
    run_with_wrk,
    run_wrk,
    server,
    wait_ready,
    write_script,
)
from conditions import (  # noqa: E402
    answers_check,
    ceiling_check,
    client_check,
    tree_cpu_seconds,
    wait_until_idle,
)

from deliverer.contract import DeliveryState, LocationReport  # noqa: E402
from deliverer.geo import path_length_km  # noqa: E402
from deliverer.local_broker import Mosquitto, free_port, wait_for_port  # noqa: E402
from deliverer.services.reads import history_pages  # noqa: E402
from deliverer.store import open_store  # noqa: E402

ORDER = "long-trip"
BATCH = 1000
LATE_EVERY = 20
"""One report in this many arrives a batch late: the trip's running totals take the late path too."""

LAST_LOCATION = Scenario("last_location", "GET", f"/v1/orders/{ORDER}/last-location", 0, "app")
SUMMARY = Scenario("summary", "GET", f"/v1/orders/{ORDER}/summary", 0, "app")


def trip(count: int) -> list[LocationReport]:
    start = datetime.now(UTC) - timedelta(seconds=count + 3600)
    return [
        LocationReport(
            msg_id=f"{ORDER}-{n}", order_id=ORDER, deliverer_id="c1", delivery_state=DeliveryState.ON_THE_WAY,
            timestamp=start + timedelta(seconds=n), latitude=45.40 + (n % 2000) * 5e-5,
            longitude=9.10 + (n // 2000) * 5e-4,
        )
        for n in range(count)
    ]


def arrivals(reports: list[LocationReport]) -> list[list[LocationReport]]:
    """Batches in time order, except that every LATE_EVERY-th report comes with the next batch."""
    batches: list[list[LocationReport]] = []
    held: list[LocationReport] = []
    for start in range(0, len(reports), BATCH):
        chunk = reports[start : start + BATCH]
        batches.append([r for n, r in enumerate(chunk) if n % LATE_EVERY] + held)
        held = chunk[::LATE_EVERY]
    batches.append(held)
    return batches


def seed(store_url: str, count: int) -> dict[str, Any]:
    store = open_store(store_url)
    cpu = []
    began = time.monotonic()
    for batch in arrivals(trip(count)):
        started = time.process_time()
        store.insert_batch(batch)
        cpu.append(time.process_time() - started)
    seconds = time.monotonic() - began
    began = time.monotonic()
    points, distance, previous = 0, 0.0, None
    for page in history_pages(store, ORDER):
        path = page if previous is None else [previous, *page]
        distance += path_length_km((r.latitude, r.longitude) for r in path)
        points, previous = points + len(page), page[-1]
    paged_s = time.monotonic() - began
    totals = store.trip_totals(ORDER)
    store.close()
    assert totals is not None and totals.points == points == count, (totals, points)
    print(f"  stored {count:,} reports in {seconds:.1f} s; paging the history for the summary took {paged_s:.2f} s",
          file=sys.stderr)
    return {
        "reports": count,
        "seconds": round(seconds, 2),
        "cpu_ms_per_batch_median": round(statistics.median(cpu) * 1000, 2),
        "paged_summary_s": round(paged_s, 3),
        "kept_distance_km": totals.distance_km,
        "paged_distance_km": distance,
    }


def measured(scenario: Scenario, base_url: str, pid: int, script: Path, args: argparse.Namespace) -> Measurement:
    cpu = tree_cpu_seconds(pid)
    measurement = run_wrk(base_url, script, args, args.duration)
    if measurement.requests:
        measurement.server_cpu_ms_per_request = round((tree_cpu_seconds(pid) - cpu) * 1000 / measurement.requests, 3)
    print(f"  {scenario.name}: {measurement.requests_per_s:,.0f} req/s, p99 {measurement.p99_ms:.2f} ms",
          file=sys.stderr)
    return measurement


def measure(args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run_id = f"r{int(time.time())}"
    with tempfile.TemporaryDirectory(prefix="summary-bench-") as tmp:
        work = Path(tmp)
        store_url = f"sqlite:///{work}/store.db"
        seeded = seed(store_url, args.reports)
        broker = Mosquitto(work / "mosquitto").start()
        ports = {name: free_port() for name in ("app", "static")}
        try:
            with (
                server([str(BENCH / "api_server.py"), "--port", str(ports["app"]), "--store", store_url,
                        "--mqtt-url", broker.url, "--workers", str(args.workers), "--threads", str(args.threads)],
                       work / "api.log") as app,
                server([str(BENCH / "static_server.py"), str(ports["static"])], work / "static.log") as static,
            ):
                app_url, static_url = (f"http://127.0.0.1:{ports[name]}" for name in ("app", "static"))
                wait_ready(app_url, app, work / "api.log")
                wait_for_port(ports["static"], 10, static)
                scripts = {s.name: write_script(s, work, run_id) for s in (LAST_LOCATION, SUMMARY)}
                client = {
                    name: run_wrk(static_url, script, args, args.calibration_seconds).requests_per_s
                    for name, script in scripts.items()
                }
                # Each measurement starts from an idle machine, as bench/api_bench.py's do.
                wait_until_idle()
                first = measured(LAST_LOCATION, app_url, app.pid, scripts[LAST_LOCATION.name], args)
                wait_until_idle()
                summary = measured(SUMMARY, app_url, app.pid, scripts[SUMMARY.name], args)
                wait_until_idle()
                second = measured(LAST_LOCATION, app_url, app.pid, scripts[LAST_LOCATION.name], args)
        finally:
            broker.stop()
    ceiling = (first.requests_per_s + second.requests_per_s) / 2
    rows = {"last_location_first": asdict(first), "summary": asdict(summary), "last_location_second": asdict(second)}
    checks = [
        ceiling_check(LAST_LOCATION.name, first.requests_per_s, second.requests_per_s),
        client_check(LAST_LOCATION.name, client[LAST_LOCATION.name], max(first.requests_per_s, second.requests_per_s)),
        client_check(SUMMARY.name, client[SUMMARY.name], summary.requests_per_s),
        *(answers_check(name, row["requests"], row["failed"]) for name, row in rows.items()),
    ]
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "server": {"kind": "gunicorn gthread", "workers": args.workers, "threads": args.threads},
        "load": {"client": "wrk, requests built once in init()", "connections": args.connections,
                 "duration_s": args.duration, "client_req_per_s_against_static": client},
        "seed": seeded,
        "results": rows,
        "summary_read": {
            "reports_in_order": args.reports,
            "summary_req_per_s": summary.requests_per_s,
            "last_location_req_per_s": round(ceiling, 1),
            "ratio_to_last_location": round(summary.requests_per_s / ceiling, 3),
            "summary_p50_ms": summary.p50_ms,
            "summary_p99_ms": summary.p99_ms,
            "last_location_p99_ms": max(first.p99_ms, second.p99_ms),
            "paged_summary_s": seeded["paged_summary_s"],
        },
    }
    return report, checks


def print_table(report: dict[str, Any]) -> None:
    figures, seeded = report["summary_read"], report["seed"]
    print(f"\none order of {figures['reports_in_order']:,} reports, gunicorn {report['server']['workers']} workers x "
          f"{report['server']['threads']} threads, wrk {report['load']['connections']} connections")
    print(f"{'route':<22}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'API CPU ms/req':>16}")
    for name, row in report["results"].items():
        print(f"{name:<22}{row['requests_per_s']:>10,.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}"
              f"{row['server_cpu_ms_per_request'] or 0:>16.3f}")
    print(f"summary / last-location: {figures['ratio_to_last_location']:.2f}; the summary paging the history took "
          f"{seeded['paged_summary_s']:.2f} s; insert_batch CPU per 1,000-report batch "
          f"{seeded['cpu_ms_per_batch_median']:.1f} ms (median)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=150_000, help="reports of the one long order")
    add_server_and_client_arguments(parser)
    parser.add_argument("--force", action="store_true", help="run on a busy machine too; the results say so")
    parser.add_argument("--output", type=Path, default=RESULTS / "summary_read.json")
    return run_with_wrk(parser.parse_args(), measure, print_table)


if __name__ == "__main__":
    sys.exit(main())
