"""The lake commands that need no Spark never load it: ``prune``, ``query`` (DuckDB) and ``athena ddl`` start
in a second or two, and run wherever pyarrow, DuckDB and boto3 are installed without a JVM."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from deliverer.store import open_store
from deliverer.store.base import EXPORT_COLUMNS
from spark_jobs.days import day_bounds
from spark_jobs.storage.parquet import arrow_schema
from spark_jobs.tables import BRONZE_LOCATIONS
from tests.helpers import REPO, make_reports

DAY = "2026-03-01"

# Each command as a user runs it, then the modules behind them, in a fresh interpreter.
LIGHT_PATHS = """
import sys
from deliverer_cli.main import main

store, lake = sys.argv[1:]
assert main(["prune", "--store", store, "--lake", lake, "--older-than", "1d", "--dry-run"]) == 0
assert main(["query", "--lake", lake, "SELECT count(*) AS reports FROM bronze_locations"]) == 0
assert main(["athena", "ddl", "--lake", "s3://bucket/lake"]) == 0
import spark_jobs.retention, spark_jobs.sql.duckdb_engine, spark_jobs.sql.athena_ddl, spark_jobs.tables
print("loaded:", sorted(name for name in sys.modules if name.partition(".")[0] == "pyspark"))
"""


def test_prune_query_and_athena_ddl_run_without_loading_spark(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path}/deliverer.db"
    store = open_store(store_url)
    try:
        store.insert_batch(make_reports(30, 3, start=datetime(2026, 3, 1, 8, tzinfo=UTC)))
        rows = list(store.scan(*day_bounds(DAY)))
    finally:
        store.close()
    day = tmp_path / "lake" / BRONZE_LOCATIONS.partition_path(DAY)
    day.mkdir(parents=True)
    bronze = pa.Table.from_pylist([dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in rows],
                                  schema=arrow_schema(BRONZE_LOCATIONS))
    pq.write_table(bronze, day / "part-0.parquet")

    done = subprocess.run(
        [sys.executable, "-c", LIGHT_PATHS, store_url, str(tmp_path / "lake")],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{DAY}  would delete the lake holds every report  30 rows" in done.stderr
    assert "reports\n-------\n     30\n" in done.stdout
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS `deliverer`.`gold_hotspots`" in done.stdout
    assert done.stdout.rstrip().endswith("loaded: []"), done.stdout[-2000:]
