"""Athena DDL for the lake's tables, generated from the table definitions the jobs write with.

Every table is partitioned by ``dt`` with partition projection: Athena computes the partitions
from the table properties (a date range and a location template), so no crawler, no
``MSCK REPAIR TABLE`` and no ``ALTER TABLE ADD PARTITION`` after an export.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import assert_never

from deliverer.contract import MIN_TIMESTAMP_MS
from spark_jobs.sql.database import check_database_name
from spark_jobs.storage.location import LakeLocation
from spark_jobs.tables import ALL_TABLES, ColumnType, LakeTable, sql_name

DEFAULT_FIRST_DAY = datetime.fromtimestamp(MIN_TIMESTAMP_MS / 1000, UTC).date().isoformat()
"""The oldest day the tables project unless told otherwise: that of the oldest timestamp the contract
accepts, so every day the export can write is visible on Athena (projecting days without data is free)."""

PROJECTION_DATE_FORMAT = "yyyy-MM-dd"
"""Java date pattern of the ``dt`` values (the lake's YYYY-MM-DD days)."""

MAX_COMMENT_CHARS = 255
"""The AWS Glue catalog's limit on a comment."""

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_RANGE_END = "NOW+1DAYS"
"""Today's partition must be visible while it fills; a day ahead covers a client clock slightly fast."""


def athena_type(kind: ColumnType) -> str:
    """The column's type in Athena's DDL (Hive's names), which reads the Parquet the jobs write."""
    match kind:
        case ColumnType.STRING:
            return "string"
        case ColumnType.DOUBLE:
            return "double"
        case ColumnType.BIGINT:
            return "bigint"
        case ColumnType.INT:
            return "int"
        case ColumnType.TIMESTAMP:
            return "timestamp"
        case ColumnType.STRING_ARRAY:
            return "array<string>"
        case _:
            assert_never(kind)


def table_location(location: LakeLocation, table: LakeTable) -> str:
    if not location.is_s3:
        raise ValueError(f"Athena reads tables from S3: {location.url} is not an s3://bucket/prefix lake")
    return location.url_for(table.path) + "/"


def projection_properties(location: LakeLocation, table: LakeTable, first_day: str) -> dict[str, str]:
    """The ``TBLPROPERTIES`` that let Athena project the ``dt`` partitions instead of listing them."""
    if not _DAY.fullmatch(first_day):
        raise ValueError(f"the first day of the partition range must be YYYY-MM-DD, got {first_day!r}")
    date.fromisoformat(first_day)
    partition = table.partition.name
    return {
        "parquet.compression": "SNAPPY",
        "projection.enabled": "true",
        f"projection.{partition}.type": "date",
        f"projection.{partition}.format": PROJECTION_DATE_FORMAT,
        f"projection.{partition}.range": f"{first_day},{_RANGE_END}",
        f"projection.{partition}.interval": "1",
        f"projection.{partition}.interval.unit": "DAYS",
        "storage.location.template": f"{table_location(location, table)}{partition}=${{{partition}}}/",
    }


def create_database(database: str) -> str:
    return f"CREATE DATABASE IF NOT EXISTS `{check_database_name(database)}`"


def drop_table(database: str, table: LakeTable) -> str:
    """Dropping an external table removes its definition only; the Parquet files stay."""
    return f"DROP TABLE IF EXISTS `{check_database_name(database)}`.`{sql_name(table)}`"


def create_table(database: str, location: LakeLocation, table: LakeTable, first_day: str = DEFAULT_FIRST_DAY) -> str:
    columns = ",\n".join(
        f"  `{c.name}` {athena_type(c.type)} COMMENT {_comment(c.description)}" for c in table.columns
    )
    partition = table.partition
    properties = ",\n".join(
        f"  {_quote(key)}={_quote(value)}" for key, value in projection_properties(location, table, first_day).items()
    )
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{check_database_name(database)}`.`{sql_name(table)}` (\n"
        f"{columns}\n)\n"
        f"COMMENT {_comment(table.description)}\n"
        f"PARTITIONED BY (`{partition.name}` {athena_type(partition.type)}"
        f" COMMENT {_comment(partition.description)})\n"
        "STORED AS PARQUET\n"
        f"LOCATION {_quote(table_location(location, table))}\n"
        f"TBLPROPERTIES (\n{properties}\n)"
    )


def lake_ddl(
    database: str,
    location: LakeLocation,
    tables: Sequence[LakeTable] = ALL_TABLES,
    first_day: str = DEFAULT_FIRST_DAY,
    replace: bool = False,
) -> list[str]:
    """Every statement, in order: the database, then (with ``replace``, a drop and) a create per table."""
    statements = [create_database(database)]
    for table in tables:
        if replace:
            statements.append(drop_table(database, table))
        statements.append(create_table(database, location, table, first_day))
    return statements


def _quote(text: str) -> str:
    """A Hive DDL string literal (backslash escapes)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _comment(text: str) -> str:
    if len(text) > MAX_COMMENT_CHARS:
        raise ValueError(f"comment longer than the catalog keeps ({MAX_COMMENT_CHARS} characters): {text!r}")
    return _quote(text)
