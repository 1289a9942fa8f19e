"""The lake's tables in Spark's types, derived from :mod:`spark_jobs.tables`."""

from __future__ import annotations

from typing import assert_never

from pyspark.sql.types import (
    ArrayType,
    DataType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark_jobs.tables import ColumnType, LakeTable


def spark_type(kind: ColumnType) -> DataType:
    match kind:
        case ColumnType.STRING:
            return StringType()
        case ColumnType.DOUBLE:
            return DoubleType()
        case ColumnType.BIGINT:
            return LongType()
        case ColumnType.INT:
            return IntegerType()
        case ColumnType.TIMESTAMP:
            return TimestampType()
        case ColumnType.STRING_ARRAY:
            return ArrayType(StringType())
        case _:
            assert_never(kind)


def spark_schema(table: LakeTable) -> StructType:
    """The schema of the table's files (the partition column lives in the directory name, not the files)."""
    return StructType([StructField(c.name, spark_type(c.type), c.nullable) for c in table.columns])


def partitioned_schema(table: LakeTable) -> StructType:
    """The files' schema and the partition column after it: how Spark reads a table's day directories."""
    partition = table.partition
    return StructType([*spark_schema(table).fields, StructField(partition.name, spark_type(partition.type), False)])
