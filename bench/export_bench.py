"""Export throughput: reports from SQLite to the lake with Spark, beside a pyarrow baseline without it.

    python bench/export_bench.py [--reports 1000000] [--days 3] [--no-s3] [--no-cli] [--force]

Measured, in this order, on one SQLite store of ``--reports`` reports spread over ``--days`` UTC days:

- pyarrow_baseline: the rows read through the same ``Store.scan`` and written by pyarrow in one
  process, no Spark: what the data source costs against a plain single-core copy (measured again
  after the Spark runs: the two must agree within 10 %, bench/conditions.py);
- spark_startup: the SparkSession (JVM and Python gateway), then a first trivial job;
- local_cold: the first export in that session, to a local lake (includes the JVM's warm-up of the
  data source and Parquet writer, as every ``deliverer export`` process pays it once);
- local_warm: the same days again into a fresh local lake (a long-running ``--every`` exporter);
- local_again: the same days once more into that lake, which already holds them: every day is merged
  with the lake's copy (what a re-export of a day costs);
- s3: the same days into a bucket on a moto S3 server on 127.0.0.1 (written locally, then uploaded;
  skip with --no-s3);
- cli_local: ``deliverer export`` as a user runs it, start-up and the lake's silver and gold
  transforms included (skip with --no-cli).

Beside each: the peak resident memory of what did it, ``peak_rss_mib``: this process with Spark's
JVM for the Spark runs, this process alone for pyarrow, the ``deliverer export`` process tree.
Refuses a busy machine unless ``--force`` (bench/conditions.py). Writes bench/results/export.json
(or ``--output``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pyarrow.parquet as pq  # noqa: E402
from conditions import Refusal, RunConditions, ceiling_check, refuse, write_results  # noqa: E402
from memory import PeakMemory  # noqa: E402

from deliverer.local_broker import free_port  # noqa: E402
from deliverer.store import open_store  # noqa: E402
from spark_jobs.days import day_bounds  # noqa: E402
from spark_jobs.export.run import ExportRequest, run_export  # noqa: E402
from spark_jobs.export.store_source import scan_batches  # noqa: E402
from spark_jobs.spark.session import SparkSettings, start_spark  # noqa: E402
from spark_jobs.storage import open_lake  # noqa: E402
from spark_jobs.storage.parquet import arrow_schema  # noqa: E402
from spark_jobs.tables import BRONZE_LOCATIONS  # noqa: E402
from tests.helpers import make_reports  # noqa: E402

RESULTS = REPO / "bench" / "results"
CHUNK = 100_000


def build_store(url: str, reports: int, days: int) -> dict[str, Any]:
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    step = days * 86_400 / reports
    store = open_store(url)
    began = time.monotonic()
    try:
        for first in range(0, reports, CHUNK):
            chunk = make_reports(
                min(CHUNK, reports - first), 2000, start=start + timedelta(seconds=first * step),
                prefix=f"b{first}", step_s=step,
            )
            for i in range(0, len(chunk), 10_000):
                store.insert_batch(chunk[i : i + 10_000])
        day_list = store.event_days_ingested_since(datetime(1970, 1, 1, tzinfo=UTC))
    finally:
        store.close()
    return {"days": day_list, "seconds": round(time.monotonic() - began, 2)}


def rate(rows: int, seconds: float) -> dict[str, Any]:
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def spark_export(spark: Any, store_url: str, lake_url: str, days: list[str]) -> dict[str, Any]:
    store = open_store(store_url)
    try:
        with PeakMemory() as peak:
            began = time.monotonic()
            summary = run_export(
                ExportRequest(store_url, days=days, settle=timedelta(0)), store, open_lake(lake_url), lambda: spark
            )
            seconds = time.monotonic() - began
    finally:
        store.close()
    totals = summary.to_dict()
    return {**rate(totals["rows"], seconds), "files": totals["files"], "bytes": totals["bytes"],
            "per_day_seconds": [round(d.seconds, 2) for d in summary.days], "peak_rss_mib": peak.mib}


def pyarrow_baseline(store_url: str, days: list[str], into: Path) -> dict[str, Any]:
    schema = arrow_schema(BRONZE_LOCATIONS)
    rows = 0
    with PeakMemory(tree=False) as peak:
        began = time.monotonic()
        for day in days:
            target = into / BRONZE_LOCATIONS.partition_path(day)
            target.mkdir(parents=True)
            with pq.ParquetWriter(target / "part-0.parquet", schema, compression="snappy") as writer:
                for batch in scan_batches(store_url, *day_bounds(day), schema):
                    writer.write_batch(batch)
                    rows += batch.num_rows
        seconds = time.monotonic() - began
    return {**rate(rows, seconds), "peak_rss_mib": peak.mib}


def store_scan_only(store_url: str, days: list[str]) -> dict[str, Any]:
    store = open_store(store_url)
    rows = 0
    began = time.monotonic()
    try:
        for day in days:
            rows += sum(1 for _ in store.scan(*day_bounds(day)))
    finally:
        store.close()
    return rate(rows, time.monotonic() - began)


def s3_export(spark: Any, store_url: str, days: list[str]) -> dict[str, Any]:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update({
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
    })
    try:
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        boto3.client("s3").create_bucket(Bucket=bucket)
        return spark_export(spark, store_url, f"s3://{bucket}/lake", days)
    finally:
        server.stop()


def cli_export(store_url: str, lake: Path) -> dict[str, Any]:
    began = time.monotonic()
    with subprocess.Popen(
        [sys.executable, "-m", "deliverer_cli.main", "export", "--store", store_url, "--lake", str(lake),
         "--settle", "0s", "--json"],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    ) as proc, PeakMemory(proc.pid) as peak:
        output, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"deliverer export exited with {proc.returncode}")
    seconds = time.monotonic() - began
    summary = json.loads(output.strip().splitlines()[-1])
    return {**rate(summary["rows"], seconds), "export_seconds_reported": summary["seconds"], "peak_rss_mib": peak.mib}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "reports": args.reports,
    }
    with tempfile.TemporaryDirectory(prefix="export-bench-") as tmp:
        work = Path(tmp)
        store_url = f"sqlite:///{work}/store.db"
        print(f"filling the store with {args.reports:,} reports ...", file=sys.stderr)
        built = build_store(store_url, args.reports, args.days)
        days = built["days"]
        results["store_fill"] = rate(args.reports, built["seconds"])
        results["days"] = days
        first = pyarrow_baseline(store_url, days, work / "lake-pyarrow-1")
        print(f"pyarrow: {first}", file=sys.stderr)

        began = time.monotonic()
        spark = start_spark(SparkSettings())
        session = time.monotonic() - began
        spark.range(1).count()
        results["spark_startup"] = {
            "session_seconds": round(session, 2), "first_job_seconds": round(time.monotonic() - began - session, 2),
            "spark": spark.version, "parallelism": spark.sparkContext.defaultParallelism,
        }
        print(f"spark up: {results['spark_startup']}", file=sys.stderr)
        results["local_cold"] = spark_export(spark, store_url, str(work / "lake-cold"), days)
        print(f"local cold: {results['local_cold']}", file=sys.stderr)
        results["local_warm"] = spark_export(spark, store_url, str(work / "lake-warm"), days)
        print(f"local warm: {results['local_warm']}", file=sys.stderr)
        results["local_again"] = spark_export(spark, store_url, str(work / "lake-warm"), days)
        print(f"local again: {results['local_again']}", file=sys.stderr)
        if not args.no_s3:
            results["s3"] = s3_export(spark, store_url, days)
            print(f"s3: {results['s3']}", file=sys.stderr)
        spark.stop()
        second = pyarrow_baseline(store_url, days, work / "lake-pyarrow-2")
        print(f"pyarrow again: {second}", file=sys.stderr)
        check = ceiling_check("pyarrow baseline", first["rows_per_s"], second["rows_per_s"])
        results["pyarrow_baseline"] = {**first, "rows_per_s": round(check["mean"]), "first": first,
                                       "second": second, "spread": check["spread"]}
        results["store_scan_only"] = store_scan_only(store_url, days)
        if not args.no_cli:
            results["cli_local"] = cli_export(store_url, work / "lake-cli")
            print(f"cli: {results['cli_local']}", file=sys.stderr)
    results["baseline_check"] = check
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--no-s3", action="store_true", help="skip the export to a moto S3 bucket")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end deliverer export run")
    parser.add_argument("--force", action="store_true", help="run on a busy machine too; the results say so")
    parser.add_argument("--output", type=Path, default=RESULTS / "export.json")
    args = parser.parse_args()
    try:
        conditions = RunConditions(force=args.force)
        results = measure(args)
        check = results.pop("baseline_check")
        print(json.dumps(results, indent=2))
        write_results(args.output, results, conditions, [check])
    except Refusal as refusal:
        return refuse(refusal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
