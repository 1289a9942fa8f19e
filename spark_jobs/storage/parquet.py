"""The lake's files are Parquet: the tables' Arrow schemas, which files of a directory hold data, and a
day's columns read with pyarrow, typed as the table defines them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import assert_never

import pyarrow as pa
import pyarrow.parquet as pq

from spark_jobs.tables import ColumnType, LakeTable

PARQUET_SUFFIX = ".parquet"


def arrow_type(kind: ColumnType) -> pa.DataType:
    """The Arrow type of a column, as Spark writes it to Parquet (a list's items are named ``element``)."""
    match kind:
        case ColumnType.STRING:
            return pa.string()
        case ColumnType.DOUBLE:
            return pa.float64()
        case ColumnType.BIGINT:
            return pa.int64()
        case ColumnType.INT:
            return pa.int32()
        case ColumnType.TIMESTAMP:
            return pa.timestamp("us", tz="UTC")
        case ColumnType.STRING_ARRAY:
            return pa.list_(pa.field("element", pa.string()))
        case _:
            assert_never(kind)


def arrow_schema(table: LakeTable) -> pa.Schema:
    """The schema of the table's files (the partition column lives in the directory name, not the files)."""
    return pa.schema([pa.field(c.name, arrow_type(c.type), c.nullable) for c in table.columns])


def is_data_file(name: str) -> bool:
    """A Parquet data file, not one of the checksums and markers Spark writes beside them (``.``, ``_``)."""
    return name.endswith(PARQUET_SUFFIX) and name[0] not in "._"


def staged_parquet(staged: Path) -> Iterator[Path]:
    """The data files Spark left in a staging directory, sorted by name."""
    return (p for p in sorted(staged.iterdir()) if is_data_file(p.name))


def read_columns(table: LakeTable, files: Sequence[pq.ParquetFile], columns: Sequence[str]) -> pa.Table:
    """These columns of every row of a day's files, typed as the table defines them (nullable, so that
    files written by any engine read alike)."""
    defined = arrow_schema(table)
    schema = pa.schema([defined.field(name).with_nullable(True) for name in columns])
    tables = [file.read(columns=list(columns)).select(list(columns)).cast(schema) for file in files]
    return pa.concat_tables(tables) if tables else schema.empty_table()
