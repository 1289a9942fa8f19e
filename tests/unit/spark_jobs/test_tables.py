"""One engine-neutral definition per lake table, and each engine's form of it agreeing with the others."""

from __future__ import annotations

import pytest
from pyspark.sql.pandas.types import to_arrow_schema

from spark_jobs.spark.schema import spark_schema, spark_type
from spark_jobs.sql.athena_ddl import athena_type
from spark_jobs.storage.parquet import arrow_schema
from spark_jobs.tables import ALL_TABLES, ColumnType, LakeTable, sql_name


@pytest.mark.parametrize("table", ALL_TABLES, ids=sql_name)
def test_what_spark_writes_is_what_pyarrow_reads(table: LakeTable) -> None:
    """Spark's own Arrow form of its schema (names, types, nullability, a list's items) is the one the
    store source and every pyarrow reader use."""
    assert to_arrow_schema(spark_schema(table), timezone="UTC") == arrow_schema(table)


@pytest.mark.parametrize("kind", list(ColumnType), ids=lambda kind: kind.name)
def test_athena_declares_each_column_as_spark_writes_it(kind: ColumnType) -> None:
    assert athena_type(kind) == spark_type(kind).simpleString()


def test_every_table_is_partitioned_by_day_under_its_layer() -> None:
    assert [sql_name(t) for t in ALL_TABLES] == [
        "bronze_locations", "silver_locations", "gold_order_trips", "gold_deliverer_daily", "gold_hotspots",
    ]
    assert {t.partition.name for t in ALL_TABLES} == {"dt"}
    assert {t.partition.type for t in ALL_TABLES} == {ColumnType.STRING}
