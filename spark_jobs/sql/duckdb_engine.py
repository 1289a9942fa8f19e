"""The ``local`` engine: DuckDB over the lake's Parquet, each table a view named as in Athena.

Views are ``<database>.<layer>_<name>`` with the columns and types of the table definitions
(timestamps as ``TIMESTAMP`` in UTC, like Athena's, and ``dt`` as a string), and ``<database>``
is on the search path, so the same SQL runs here and on Athena, qualified or not.

A local lake is read by DuckDB's own Parquet reader, listing the files at each query. DuckDB's
S3 support (``httpfs``) is an extension downloaded at run time, which a machine without internet
access cannot fetch, so an ``s3://`` lake is read through pyarrow's S3 filesystem instead
(honouring a custom endpoint), as Arrow datasets listed when the engine opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, assert_never

import duckdb
import pyarrow as pa

from spark_jobs.sql.database import check_database_name
from spark_jobs.sql.result import QueryResult, normalised
from spark_jobs.storage.location import LakeLocation
from spark_jobs.storage.parquet import PARQUET_SUFFIX, arrow_schema, is_data_file
from spark_jobs.tables import ALL_TABLES, ColumnType, LakeTable, sql_name

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    from pyarrow.fs import S3FileSystem


def duckdb_type(kind: ColumnType) -> str:
    """The column's type in DuckDB, reading the same Parquet as Athena does (``TIMESTAMP`` in UTC, as Athena's)."""
    match kind:
        case ColumnType.STRING:
            return "VARCHAR"
        case ColumnType.DOUBLE:
            return "DOUBLE"
        case ColumnType.BIGINT:
            return "BIGINT"
        case ColumnType.INT:
            return "INTEGER"
        case ColumnType.TIMESTAMP:
            return "TIMESTAMP"
        case ColumnType.STRING_ARRAY:
            return "VARCHAR[]"
        case _:
            assert_never(kind)


class LakeNotFound(ValueError):
    """The lake directory to query is not there: said so, rather than every table answering empty."""

    reason = "lake_not_found"


@dataclass(frozen=True)
class S3Settings:
    """Where pyarrow finds an S3 lake: AWS by default, or any endpoint (MinIO, moto)."""

    endpoint_url: str | None = None
    region: str | None = None


class LocalEngine:
    """An in-memory DuckDB with a view per lake table. Use as a context manager, or :meth:`close`."""

    def __init__(
        self,
        location: LakeLocation,
        database: str,
        s3: S3Settings | None = None,
        tables: tuple[LakeTable, ...] = ALL_TABLES,
    ) -> None:
        if not location.is_s3 and not location.local_path().is_dir():
            path = location.local_path()
            problem = "is not a directory" if path.exists() else "does not exist"
            raise LakeNotFound(f"the lake directory {path} {problem}")
        self.location = location
        self.database = check_database_name(database)
        self.connection = duckdb.connect(":memory:")
        self.connection.execute("SET TimeZone = 'UTC'")
        self.connection.execute(f"CREATE SCHEMA {_identifier(self.database)}")
        filesystem = _s3_filesystem(s3 or S3Settings()) if location.is_s3 else None
        for table in tables:
            source = self._local_source(table) if filesystem is None else self._s3_source(table, filesystem)
            self.connection.execute(_view(self.database, table, source))
        self.connection.execute(f"SET search_path = '{self.database}'")

    def execute(self, sql: str) -> QueryResult:
        relation = self.connection.sql(sql)
        if relation is None:
            return QueryResult([], [])
        table = relation.to_arrow_table()
        columns = [column.to_pylist() for column in table.columns]
        return normalised(list(table.column_names), list(zip(*columns, strict=True)))

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _local_source(self, table: LakeTable) -> str | None:
        directory = self.location.local_path(table.path)
        pattern = f"{table.partition.name}=*/*{PARQUET_SUFFIX}"
        if not any(directory.glob(pattern)):
            return None
        return (
            f"read_parquet({_literal(str(directory / pattern))}, hive_partitioning = true,"
            f" hive_types = {{'{table.partition.name}': 'VARCHAR'}})"
        )

    def _s3_source(self, table: LakeTable, filesystem: S3FileSystem) -> str | None:
        dataset = _s3_dataset(filesystem, self.location, table)
        if dataset is None:
            return None
        name = f"__lake_{sql_name(table)}"
        self.connection.register(name, dataset)
        return f'"{name}"'


def _view(database: str, table: LakeTable, source: str | None) -> str:
    """The table's view: every column cast to its table type. A table without files yet is an empty
    view with the same columns, so queries over it run and return no rows."""
    columns = ", ".join(
        f"CAST({'NULL' if source is None else _identifier(c.name)} AS {duckdb_type(c.type)})"
        f" AS {_identifier(c.name)}"
        for c in (*table.columns, table.partition)
    )
    view = f"{_identifier(database)}.{_identifier(sql_name(table))}"
    if source is None:
        return f"CREATE VIEW {view} AS SELECT {columns} WHERE false"
    return f"CREATE VIEW {view} AS SELECT {columns} FROM {source}"


def _s3_filesystem(settings: S3Settings) -> S3FileSystem:
    from pyarrow.fs import S3FileSystem

    region = settings.region or ("us-east-1" if settings.endpoint_url else None)
    if region is None:
        return S3FileSystem(endpoint_override=settings.endpoint_url)
    return S3FileSystem(endpoint_override=settings.endpoint_url, region=region)


def _s3_dataset(filesystem: S3FileSystem, location: LakeLocation, table: LakeTable) -> ds.Dataset | None:
    """The table's Parquet files (``<table>/dt=…/*.parquet``) as one Arrow dataset, ``dt`` from the path."""
    import pyarrow.dataset as ds
    from pyarrow.fs import FileSelector, FileType

    assert location.bucket is not None
    base = f"{location.bucket}/{location.key(table.path)}"
    marker = f"{table.partition.name}="
    files = []
    for info in filesystem.get_file_info(FileSelector(base, recursive=True, allow_not_found=True)):
        relative = Path(info.path).relative_to(base)
        if (
            info.type == FileType.File
            and len(relative.parts) == 2
            and relative.parts[0].startswith(marker)
            and is_data_file(relative.name)
        ):
            files.append(info.path)
    if not files:
        return None
    partition = pa.schema([pa.field(table.partition.name, pa.string())])
    return ds.dataset(
        sorted(files),
        schema=pa.unify_schemas([arrow_schema(table), partition]),
        format="parquet",
        filesystem=filesystem,
        partitioning=ds.partitioning(partition, flavor="hive"),
        partition_base_dir=base,
    )


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
