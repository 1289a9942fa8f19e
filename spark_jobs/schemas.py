"""The lake's table schemas, defined once: column names, types, nullability and meaning.

Everything that needs a schema derives it from here: the store data source (Arrow batches),
the Spark writer (Parquet files), the Athena DDL and the documentation. Types are Spark SQL
types; :meth:`LakeTable.arrow_schema` gives the matching Arrow schema and
``column.spark_type.simpleString()`` the Hive/Athena type name (``string``, ``double``,
``bigint``, ``timestamp``).

Timestamps are written to Parquet as INT64 microseconds, adjusted to UTC (see
``spark_jobs.session``), which Athena, DuckDB, pyarrow and Spark all read as instants.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    DataType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)


@dataclass(frozen=True)
class Column:
    name: str
    spark_type: DataType
    nullable: bool
    description: str


@dataclass(frozen=True)
class LakeTable:
    """A Parquet table in the lake at ``<lake>/<layer>/<name>/<partition>=<value>/*.parquet``."""

    layer: str
    name: str
    columns: tuple[Column, ...]
    partition: Column
    description: str

    @property
    def path(self) -> str:
        """The table's directory relative to the lake root, e.g. ``bronze/locations``."""
        return f"{self.layer}/{self.name}"

    def partition_path(self, value: str) -> str:
        return f"{self.path}/{self.partition.name}={value}"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def spark_schema(self) -> StructType:
        """The schema of the files (the partition column lives in the directory name, not the files)."""
        return StructType([StructField(c.name, c.spark_type, c.nullable) for c in self.columns])

    def arrow_schema(self) -> pa.Schema:
        return to_arrow_schema(self.spark_schema(), timezone="UTC")


DAY_PARTITION = Column("dt", StringType(), False, "UTC day of `timestamp`, YYYY-MM-DD")

# Same columns, same order as the store's ``scan`` rows (``deliverer.store.base.EXPORT_COLUMNS``).
BRONZE_LOCATIONS = LakeTable(
    layer="bronze",
    name="locations",
    description="Every stored location report, as stored: one row per report ((deliverer_id, msg_id) unique per day).",
    partition=DAY_PARTITION,
    columns=(
        Column("msg_id", StringType(), False, "the report's id; with deliverer_id, its idempotency key"),
        Column("order_id", StringType(), False, "the order being delivered"),
        Column("deliverer_id", StringType(), False, "the courier"),
        Column("delivery_state", StringType(), False, "start | on_the_way | arrived"),
        Column("timestamp", TimestampType(), False, "when the device took the fix (UTC, ms precision)"),
        Column("latitude", DoubleType(), False, "degrees, WGS 84"),
        Column("longitude", DoubleType(), False, "degrees, WGS 84"),
        Column("speed_kmh", DoubleType(), True, "speed reported by the device, km/h"),
        Column("heading", DoubleType(), True, "direction of travel reported by the device, degrees"),
        Column("accuracy_m", DoubleType(), True, "horizontal accuracy reported by the device, metres"),
        Column("seq", LongType(), True, "the device's sequence number for the order"),
        Column("ingested_at", TimestampType(), False, "when the store accepted the report (UTC)"),
    ),
)

LAKE_TABLES: tuple[LakeTable, ...] = (BRONZE_LOCATIONS,)
"""Every table the jobs write; later layers (silver, gold) add theirs here."""
