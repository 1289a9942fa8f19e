"""The local query engine over a 10,000,000-report lake: how long each ready query takes.

    python bench/query_bench.py [--reports 10000000] [--days 10] [--repeat 5] [--no-s3] [--keep DIR]

How the lake is built:

1. bronze: DuckDB generates the reports straight into ``bronze/locations/dt=…/`` snappy Parquet in
   the bronze schema (couriers riding orders around Milan, a fix every 10 s, 200 fixes per order);
   going through a store and the export would only measure the export again (see export_bench.py);
2. silver and gold: the real Spark transforms (``transform_days``), timed, so the lake holds exactly
   what production would write.

Then, with the local engine (DuckDB over the Parquet, views per table):

- each ready query, ``--repeat`` times on one open engine (warm: files cached by the OS), and once
  with a freshly opened engine (cold: view creation and first file reads included);
- an ad-hoc scan of all of silver (reports per day and state), the heaviest thing a user might ask;
- with ``--s3`` (default), the same ready queries against a bucket on a moto S3 server holding the
  gold tables (the ready queries read only gold), through pyarrow's S3 filesystem.

Writes bench/results/query.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from deliverer.local_broker import free_port  # noqa: E402
from spark_jobs.sql.duckdb_engine import LocalEngine, S3Settings  # noqa: E402
from spark_jobs.sql.ready_queries import ready_queries  # noqa: E402
from spark_jobs.storage.location import parse_lake_url  # noqa: E402
from spark_jobs.tables import (  # noqa: E402
    ALL_TABLES,
    BRONZE_LOCATIONS,
    DERIVED_TABLES,
    sql_name,
)

RESULTS = REPO / "bench" / "results"
FIXES_PER_ORDER = 200
FIX_EVERY_S = 10
ORDERS_PER_COURIER = 10
SILVER_SCAN = "SELECT dt, delivery_state, count(*) AS reports, round(sum(leg_km), 1) AS km" \
    " FROM silver_locations GROUP BY dt, delivery_state ORDER BY dt, delivery_state"

BRONZE_SQL = """
COPY (
    WITH orders AS (
        SELECT
            day_index, order_index,
            order_index % {couriers} AS courier,
            order_index // {couriers} AS round,
            hash(day_index * 1000003 + order_index) AS seed
        FROM range({days}) AS d(day_index), range({orders_per_day}) AS o(order_index)
    ),
    fixes AS (
        SELECT o.*, f.i,
            TIMESTAMPTZ '{first_day} 07:00:00+00'
                + to_days(day_index::INTEGER)
                + to_seconds((round * {round_s} + courier % 600 + f.i * {step_s})::BIGINT) AS ts,
            45.415 + (seed % 1000) / 1000.0 * 0.12 AS lat0,
            9.090 + ((seed // 1000) % 1000) / 1000.0 * 0.185 AS lon0,
            radians((seed // 1000000) % 360) AS bearing
        FROM orders AS o, range({fixes}) AS f(i)
    )
    SELECT
        printf('m-%d-%d-%d', day_index, order_index, i) AS msg_id,
        printf('o-%d-%d', day_index, order_index) AS order_id,
        printf('courier-%d', courier) AS deliverer_id,
        CASE WHEN i = 0 THEN 'start'
             WHEN i = {fixes} - 1 AND seed % 10 <> 0 THEN 'arrived'
             ELSE 'on_the_way' END AS delivery_state,
        ts AS "timestamp",
        (lat0 + i * 0.00025 * cos(bearing))::DOUBLE AS latitude,
        (lon0 + i * 0.00035 * sin(bearing))::DOUBLE AS longitude,
        (15 + seed % 10)::DOUBLE AS speed_kmh,
        degrees(bearing)::DOUBLE AS heading,
        5::DOUBLE AS accuracy_m,
        i::BIGINT AS seq,
        ts + INTERVAL 1 SECOND AS ingested_at,
        strftime(ts, '%Y-%m-%d') AS dt
    FROM fixes
) TO '{target}' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt), ROW_GROUP_SIZE 1000000)
"""


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def build_bronze(root: Path, reports: int, days: int, first_day: date) -> dict[str, Any]:
    orders_per_day = reports // days // FIXES_PER_ORDER
    couriers = max(1, orders_per_day // ORDERS_PER_COURIER)
    started = time.monotonic()
    target = root / BRONZE_LOCATIONS.path
    target.mkdir(parents=True)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(BRONZE_SQL.format(
        couriers=couriers, days=days, orders_per_day=orders_per_day, round_s=FIXES_PER_ORDER * FIX_EVERY_S + 600,
        first_day=first_day.isoformat(), step_s=FIX_EVERY_S, fixes=FIXES_PER_ORDER, target=target,
    ))
    rows = connection.execute(f"SELECT count(*) FROM read_parquet('{target}/*/*.parquet')").fetchone()
    connection.close()
    return {
        "rows": rows[0] if rows else 0, "days": days, "orders_per_day": orders_per_day, "couriers": couriers,
        "seconds": round(time.monotonic() - started, 2), "bytes": directory_bytes(target),
    }


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.parquet"))


def run_transforms(root: Path, days: list[str], driver_memory: str) -> dict[str, Any]:
    from spark_jobs.spark.session import SparkSettings, start_spark
    from spark_jobs.storage import open_lake
    from spark_jobs.transforms.run import transform_days

    started = time.monotonic()
    spark = start_spark(SparkSettings(conf={"spark.driver.memory": driver_memory}))
    startup = time.monotonic() - started
    try:
        summary = transform_days(spark, open_lake(str(root)), days, on_day=lambda d: print(
            f"  transformed {d.day}: {d.rows}", file=sys.stderr, flush=True))
    finally:
        spark.stop()
    totals = summary.to_dict()
    return {
        "spark_startup_seconds": round(startup, 2),
        "seconds": round(summary.seconds, 2),
        "bronze_rows_per_s": round(sum(d.bronze_rows or 0 for d in summary.written) / summary.seconds),
        "rows": totals["rows"],
        "bytes": {sql_name(t): directory_bytes(root / t.path) for t in ALL_TABLES},
        "driver_memory": driver_memory,
    }


def time_queries(location: str, repeat: int, s3: S3Settings | None = None) -> dict[str, Any]:
    lake = parse_lake_url(location)
    queries = {name: q.sql for name, q in ready_queries().items()}
    timings: dict[str, Any] = {}
    for name, sql in queries.items():
        started = time.monotonic()
        with LocalEngine(lake, "deliverer", s3) as engine:
            rows = len(engine.execute(sql).rows)
        cold = time.monotonic() - started
        timings[name] = {"rows": rows, "cold_seconds": round(cold, 4)}
    started = time.monotonic()
    LocalEngine(lake, "deliverer", s3).close()
    timings["_engine_open_seconds"] = round(time.monotonic() - started, 4)
    with LocalEngine(lake, "deliverer", s3) as engine:
        for name, sql in queries.items():
            runs = []
            for _ in range(repeat):
                started = time.monotonic()
                engine.execute(sql)
                runs.append(time.monotonic() - started)
            timings[name].update(warm_median_seconds=round(statistics.median(runs), 4),
                                 warm_min_seconds=round(min(runs), 4))
        started = time.monotonic()
        for sql in queries.values():
            engine.execute(sql)
        timings["_all_ready_queries_warm_seconds"] = round(time.monotonic() - started, 4)
    return timings


def time_silver_scan(location: str, repeat: int) -> dict[str, Any]:
    with LocalEngine(parse_lake_url(location), "deliverer") as engine:
        runs = []
        for _ in range(repeat):
            started = time.monotonic()
            rows = engine.execute(SILVER_SCAN).rows
            runs.append(time.monotonic() - started)
    return {"sql": SILVER_SCAN, "rows": len(rows), "median_seconds": round(statistics.median(runs), 3),
            "min_seconds": round(min(runs), 3)}


def s3_queries(root: Path, repeat: int) -> dict[str, Any]:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = boto3.client("s3", endpoint_url=endpoint)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)
        uploaded = 0
        for table in DERIVED_TABLES:
            if table.layer != "gold":
                continue
            for path in (root / table.path).rglob("*.parquet"):
                client.upload_file(str(path), bucket, f"lake/{path.relative_to(root).as_posix()}")
                uploaded += path.stat().st_size
        timings = time_queries(f"s3://{bucket}/lake", repeat, S3Settings(endpoint_url=endpoint))
        return {"uploaded": "gold tables only (what the ready queries read)", "bytes": uploaded, **timings}
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--no-s3", action="store_true")
    parser.add_argument("--keep", type=Path, help="build the lake here and keep it (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=RESULTS / "query.json")
    args = parser.parse_args()

    first_day = date(2026, 1, 5)
    days = [(first_day + timedelta(days=n)).isoformat() for n in range(args.days)]
    work = Path(tempfile.mkdtemp(prefix="query-bench-"))
    root = args.keep or work / "lake"
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__,
                    "load_before": load()},
        "lake": str(root),
    }
    try:
        results["bronze"] = build_bronze(root, args.reports, args.days, first_day)
        print(f"bronze: {results['bronze']}", file=sys.stderr, flush=True)
        results["transforms"] = run_transforms(root, days, args.driver_memory)
        print(f"transforms: {results['transforms']}", file=sys.stderr, flush=True)
        results["local"] = time_queries(str(root), args.repeat)
        print(f"local: {results['local']}", file=sys.stderr, flush=True)
        results["silver_scan"] = time_silver_scan(str(root), args.repeat)
        print(f"silver scan: {results['silver_scan']}", file=sys.stderr, flush=True)
        if not args.no_s3:
            results["s3_gold"] = s3_queries(root, args.repeat)
            print(f"s3: {results['s3_gold']}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["machine"]["load_after"] = load()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
