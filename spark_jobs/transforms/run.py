"""Build the silver and gold tables of given days from bronze, replacing each day whole in each table.

Days are done in passes of a few: one set of Spark jobs computes all the tables of a pass's days
into a staging directory (silver first, read back for the gold tables, so nothing is computed
twice), then every (table, day) is swapped into the lake on its own, as the export swaps bronze.
Re-running a day gives the same rows and replaces the previous copy: nothing accumulates.

The caller holds the lake (:meth:`Lake.exclusive`): the ``deliverer transform`` command takes it,
and the export, when it runs the transforms after writing its days, already holds it.

``<lake>/_state/transform.json`` keeps, per bronze day, the identity of the files it was built
from, so an incremental run (:func:`changed_days`) redoes exactly the days whose bronze changed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs import defaults
from spark_jobs.day_actions import TransformAction
from spark_jobs.spark.schema import partitioned_schema
from spark_jobs.storage import Lake, LakeFile
from spark_jobs.storage.parquet import staged_parquet
from spark_jobs.tables import (
    BRONZE_LOCATIONS,
    DERIVED_TABLES,
    GOLD_DELIVERER_DAILY,
    GOLD_HOTSPOTS,
    GOLD_ORDER_TRIPS,
    SILVER_LOCATIONS,
    LakeTable,
    sql_name,
)
from spark_jobs.transforms.deliverer_daily import deliverer_daily
from spark_jobs.transforms.frames import DAY
from spark_jobs.transforms.hotspots import hotspots
from spark_jobs.transforms.order_trips import order_trips
from spark_jobs.transforms.silver import silver_locations

BUILT_FROM_STATE = "transform"
"""``_state/transform.json``: per bronze day, the files its silver and gold days were built from."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransformOptions:
    cell_m: int = defaults.HOTSPOT_CELL_M
    days_per_pass: int = defaults.DAYS_PER_PASS
    silver_rows_per_file: int = defaults.SILVER_ROWS_PER_FILE


@dataclass
class DayTransform:
    """What happened to one day: ``write`` (every derived table replaced) or ``skip`` (with the reason).
    ``rows`` is per table (SQL name); ``seconds`` is the time of the pass the day was part of."""

    day: str
    action: TransformAction
    bronze_rows: int | None
    bronze_files: list[LakeFile] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        result = asdict(self)
        del result["bronze_files"]
        return result


@dataclass
class TransformSummary:
    lake: str
    days: list[DayTransform] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def written(self) -> list[DayTransform]:
        return [d for d in self.days if d.action == TransformAction.WRITE]

    def to_dict(self) -> dict[str, Any]:
        written = self.written
        return {
            "lake": self.lake,
            "tables": [sql_name(t) for t in DERIVED_TABLES],
            "days_written": len(written),
            "rows": {
                sql_name(t): sum(d.rows.get(sql_name(t), 0) for d in written) for t in DERIVED_TABLES
            },
            "files": sum(d.files for d in written),
            "bytes": sum(d.bytes for d in written),
            "seconds": round(self.seconds, 3),
            "days": [d.to_dict() for d in self.days],
        }


def transform_days(
    spark: SparkSession,
    lake: Lake,
    days: Iterable[str],
    options: TransformOptions | None = None,
    on_day: Callable[[DayTransform], None] = lambda _: None,
) -> TransformSummary:
    """Rebuild silver and gold for ``days`` (YYYY-MM-DD) from the lake's bronze. Days without bronze
    are skipped. The caller holds the lake (see the module's docstring)."""
    options = options or TransformOptions()
    if min(options.cell_m, options.days_per_pass, options.silver_rows_per_file) < 1:
        raise ValueError(f"cell_m, days_per_pass and silver_rows_per_file must be at least 1: {options}")
    started = time.monotonic()
    summary = TransformSummary(lake.location.url)
    planned = [plan_transform_day(lake, day) for day in sorted(set(days))]
    for day in planned:
        if day.action == TransformAction.SKIP:
            summary.days.append(day)
            on_day(day)
    todo = [d for d in planned if d.action == TransformAction.WRITE]
    for first in range(0, len(todo), options.days_per_pass):
        batch = todo[first : first + options.days_per_pass]
        _transform_pass(spark, lake, batch, options)
        _remember(lake, batch)
        for day in batch:
            summary.days.append(day)
            on_day(day)
    summary.seconds = time.monotonic() - started
    return summary


def plan_transform_day(lake: Lake, day: str) -> DayTransform:
    date.fromisoformat(day)  # a clear error for anything but YYYY-MM-DD
    files = lake.day_files(BRONZE_LOCATIONS, day)
    rows = lake.day_rows(BRONZE_LOCATIONS, day) if files else None
    if not rows:
        reason = "no bronze data for the day" if rows is None else "the bronze day is empty"
        return DayTransform(day, TransformAction.SKIP, rows, files, reason=reason)
    return DayTransform(day, TransformAction.WRITE, rows, files)


def changed_days(lake: Lake) -> list[str]:
    """The bronze days whose files differ from those the transforms last built from."""
    built = (lake.read_state(BUILT_FROM_STATE) or {}).get("bronze", {})
    return [
        day for day in lake.days(BRONZE_LOCATIONS)
        if built.get(day) != _fingerprint(lake.day_files(BRONZE_LOCATIONS, day))
    ]


def _fingerprint(files: list[LakeFile]) -> list[str]:
    return [f"{f.name}:{f.size}:{f.version}" for f in files]


def _remember(lake: Lake, days: list[DayTransform]) -> None:
    state = lake.read_state(BUILT_FROM_STATE) or {}
    built = state.get("bronze", {})
    built.update({d.day: _fingerprint(d.bronze_files) for d in days})
    lake.write_state(
        BUILT_FROM_STATE, {"updated_at": datetime.now(UTC).isoformat(), "bronze": dict(sorted(built.items()))}
    )


def _transform_pass(spark: SparkSession, lake: Lake, days: list[DayTransform], options: TransformOptions) -> None:
    started = time.monotonic()
    names = [d.day for d in days]
    log.debug("transforming %s", ", ".join(names))
    with lake.staging() as staging:
        bronze = _read_bronze(spark, lake, names, staging)
        _write(_silver_files(silver_locations(bronze), days, options), staging, SILVER_LOCATIONS)
        silver = _read(spark, staging, SILVER_LOCATIONS)
        _write(_one_file_per_day(order_trips(silver), "order_id"), staging, GOLD_ORDER_TRIPS)
        trips = _read(spark, staging, GOLD_ORDER_TRIPS)
        _write(_one_file_per_day(deliverer_daily(silver, trips), "deliverer_id"), staging, GOLD_DELIVERER_DAILY)
        _write(_one_file_per_day(hotspots(silver, options.cell_m), "hour", "cell_id"), staging, GOLD_HOTSPOTS)
        for day in days:
            for table in DERIVED_TABLES:
                _publish(lake, table, day, staging / table.partition_path(day.day))
    seconds = time.monotonic() - started
    for day in days:
        day.seconds = seconds


def _read_bronze(spark: SparkSession, lake: Lake, days: list[str], staging: Path) -> DataFrame:
    base = lake.local_days(BRONZE_LOCATIONS, days, staging)
    paths = [str(base / f"{DAY}={day}") for day in days]
    return spark.read.schema(partitioned_schema(BRONZE_LOCATIONS)).option("basePath", str(base)).parquet(*paths)


def _write(frame: DataFrame, staging: Path, table: LakeTable) -> None:
    frame.write.mode("overwrite").partitionBy(DAY).option("compression", "snappy").parquet(str(staging / table.path))


def _read(spark: SparkSession, staging: Path, table: LakeTable) -> DataFrame:
    return spark.read.schema(partitioned_schema(table)).parquet(str(staging / table.path))


def _silver_files(silver: DataFrame, days: list[DayTransform], options: TransformOptions) -> DataFrame:
    """Each day in about ``silver_rows_per_file``-row files, an order never split over two, rows in
    order. Orders are hashed into the day's files: unlike a range partitioning, that needs no
    sampling job, which would compute the whole silver frame twice."""
    files = {d.day: max(1, math.ceil((d.bronze_rows or 0) / options.silver_rows_per_file)) for d in days}
    files_of_day = F.create_map(*(F.lit(x) for pair in files.items() for x in pair))[F.col(DAY)]
    return (
        silver.withColumn("_file", F.pmod(F.xxhash64("order_id"), files_of_day))
        .repartition(sum(files.values()), DAY, "_file")
        .sortWithinPartitions(DAY, "order_id", "report_index")
        .drop("_file")
    )


def _one_file_per_day(frame: DataFrame, *order: str) -> DataFrame:
    return frame.repartition(DAY).sortWithinPartitions(DAY, *order)


def _publish(lake: Lake, table: LakeTable, day: DayTransform, staged: Path) -> None:
    parquet = list(staged_parquet(staged)) if staged.is_dir() else []
    if not parquet:
        raise RuntimeError(f"{day.day}: the transforms wrote no {table.path} rows from {day.bronze_rows:,} bronze rows")
    day.rows[sql_name(table)] = sum(pq.read_metadata(path).num_rows for path in parquet)
    files = lake.publish_day(table, day.day, staged)
    day.files += len(files)
    day.bytes += sum(f.size for f in files)
