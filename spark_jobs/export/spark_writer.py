"""Write one day of the store's history, and the lake's rows the store no longer has, as Parquet with Spark
into a local staging directory."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from spark_jobs.days import day_bounds
from spark_jobs.defaults import MIN_ROWS_PER_SLICE
from spark_jobs.export.store_source import SOURCE_NAME
from spark_jobs.report_keys import FIRST_COPY_ORDER, KEY_COLUMNS
from spark_jobs.spark.schema import spark_schema
from spark_jobs.tables import BRONZE_LOCATIONS


@dataclass(frozen=True)
class DayWriteOptions:
    """A day is read in parallel time slices, each written as one Parquet file: as many slices as
    ``max_slices`` (None: Spark's default parallelism, i.e. the cores) allows, but no slice for fewer
    than ``min_rows_per_slice`` rows, so a small day is one file."""

    max_slices: int | None = None
    min_rows_per_slice: int = MIN_ROWS_PER_SLICE

    def slices_for(self, rows: int, parallelism: int) -> int:
        return max(1, min(self.max_slices or parallelism, math.ceil(rows / self.min_rows_per_slice)))


def read_store_day(spark: SparkSession, store_url: str, day: str, slices: int) -> DataFrame:
    start, end = day_bounds(day)
    return (
        spark.read.format(SOURCE_NAME)
        .option("store", store_url)
        .option("start", start.isoformat())
        .option("end", end.isoformat())
        .option("slices", str(slices))
        .load()
    )


def write_day(
    spark: SparkSession, store_url: str, day: str, expected_rows: int, into: Path, options: DayWriteOptions
) -> None:
    """Write the store's rows of ``day`` to ``into`` as snappy Parquet.

    Each slice goes straight to its own file, in timestamp order as the store returned it: no
    shuffle and no coalescing, which measured twice as fast here as funnelling a day into one file.
    """
    slices = options.slices_for(expected_rows, spark.sparkContext.defaultParallelism)
    rows = read_store_day(spark, store_url, day, slices)
    rows.write.mode("overwrite").option("compression", "snappy").parquet(str(into))


def write_lake_only(
    spark: SparkSession, lake_copy: Path, store_rows: Path, expected_rows: int, into: Path, options: DayWriteOptions
) -> None:
    """Write the rows of the lake's copy of a day (``lake_copy``) whose key the store's rows (``store_rows``,
    written by :func:`write_day`) lack, one row per key (the first stored copy, should the lake hold
    two), in timestamp order."""
    schema = spark_schema(BRONZE_LOCATIONS)
    lake = spark.read.schema(schema).parquet(str(lake_copy))
    stored = spark.read.schema(schema).parquet(str(store_rows)).select(*KEY_COLUMNS)
    first_copy = Window.partitionBy(*KEY_COLUMNS).orderBy(*FIRST_COPY_ORDER)
    kept = (
        lake.join(stored, list(KEY_COLUMNS), "left_anti")
        .withColumn("_copy", F.row_number().over(first_copy))
        .where(F.col("_copy") == 1)
        .select(*schema.fieldNames())
    )
    slices = options.slices_for(expected_rows, spark.sparkContext.defaultParallelism)
    ordered = kept.repartitionByRange(slices, "timestamp").sortWithinPartitions("timestamp")
    ordered.write.mode("overwrite").option("compression", "snappy").parquet(str(into))
