"""The Athena DDL of every table against the Parquet files the jobs actually wrote: same columns, in the
same order, with the types Athena reads them as."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_jobs.sql.athena_ddl import create_table
from spark_jobs.storage.location import parse_lake_url
from spark_jobs.storage.parquet import staged_parquet
from spark_jobs.tables import ALL_TABLES, LakeTable, sql_name
from spark_jobs.transforms.run import TransformSummary
from tests.integration.lake.known_lake import DAYS
from tests.unit.lake.ddl_text import parse_create_table


def hive_type(kind: pa.DataType) -> str:
    """The Athena (Hive) type that reads a Parquet column of this Arrow type."""
    if pa.types.is_list(kind):
        return f"array<{hive_type(kind.value_type)}>"
    if pa.types.is_timestamp(kind):
        assert kind.tz == "UTC", "instants (isAdjustedToUTC), not local times"
        return "timestamp"
    names = {pa.string(): "string", pa.float64(): "double", pa.int64(): "bigint", pa.int32(): "int",
             pa.bool_(): "boolean"}
    return names[kind]


@pytest.mark.parametrize("table", ALL_TABLES, ids=sql_name)
def test_ddl_matches_the_written_parquet_column_for_column(
    table: LakeTable, known_lake: tuple[Path, TransformSummary]
) -> None:
    root, _ = known_lake
    files = [path for day in DAYS for path in staged_parquet(root / table.partition_path(day))]
    assert files, f"no {table.path} files were written"
    ddl = parse_create_table(create_table("tracking", parse_lake_url("s3://bucket/lake"), table))
    for path in files:
        schema = pq.read_schema(path)
        assert [(f.name, hive_type(f.type)) for f in schema] == ddl.columns, path
    assert ddl.partition == ("dt", "string")
    assert all(path.parent.name.startswith("dt=") for path in files)
