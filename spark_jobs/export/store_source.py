"""A Spark Python data source over the project's store: ``spark.read.format("deliverer_store")``.

No connector jar is needed, and SQLite and MongoDB read the same way: the planner splits
``[start, end)`` into time slices (one Spark partition each), and every task opens the store by
URL inside its Python worker and streams its slice through ``Store.scan`` as Arrow batches.

Options: ``store`` (URL), ``start`` and ``end`` (ISO 8601 instants), ``slices`` (partitions,
default 1) and ``batch_rows`` (rows per Arrow batch, default 10,000).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import islice, pairwise
from typing import Any

import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType

from deliverer.store import open_store
from spark_jobs.spark.schema import spark_schema
from spark_jobs.tables import BRONZE_LOCATIONS

SOURCE_NAME = "deliverer_store"
DEFAULT_BATCH_ROWS = 10_000


class TimeSlice(InputPartition):
    """The reports with ``start <= timestamp < end``: one Spark partition."""

    def __init__(self, start: datetime, end: datetime) -> None:
        super().__init__((start.isoformat(), end.isoformat()))
        self.start = start
        self.end = end


def time_slices(start: datetime, end: datetime, count: int) -> list[TimeSlice]:
    """Split ``[start, end)`` into ``count`` contiguous slices on whole milliseconds (the store's precision)."""
    if end <= start:
        raise ValueError(f"empty time range {start.isoformat()} .. {end.isoformat()}")
    total_ms = (end - start) // timedelta(milliseconds=1)
    count = max(1, min(count, total_ms))
    edges = [start + timedelta(milliseconds=total_ms * i // count) for i in range(count)] + [end]
    return [TimeSlice(a, b) for a, b in pairwise(edges)]


def rows_to_batch(rows: Sequence[tuple[Any, ...]], schema: pa.Schema) -> pa.RecordBatch:
    """Store scan rows (tuples in column order) as one Arrow batch of ``schema``."""
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


def scan_batches(
    store_url: str, start: datetime, end: datetime, schema: pa.Schema, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Open the store, stream ``[start, end)`` as Arrow batches, close the store."""
    store = open_store(store_url)
    try:
        rows = store.scan(start, end, batch_size=batch_rows)
        while chunk := list(islice(rows, batch_rows)):
            yield rows_to_batch(chunk, schema)
    finally:
        store.close()


class StoreReader(DataSourceReader):
    def __init__(self, options: dict[str, str], schema: StructType) -> None:
        self.store_url = options["store"]
        self.start = datetime.fromisoformat(options["start"])
        self.end = datetime.fromisoformat(options["end"])
        self.slices = int(options.get("slices", "1"))
        self.batch_rows = int(options.get("batch_rows", str(DEFAULT_BATCH_ROWS)))
        self.arrow_schema = to_arrow_schema(schema, timezone="UTC")

    def partitions(self) -> Sequence[InputPartition]:
        return time_slices(self.start, self.end, self.slices)

    def read(self, partition: InputPartition) -> Iterator[pa.RecordBatch]:
        assert isinstance(partition, TimeSlice)
        yield from scan_batches(self.store_url, partition.start, partition.end, self.arrow_schema, self.batch_rows)


class StoreDataSource(DataSource):
    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def schema(self) -> StructType:
        return spark_schema(BRONZE_LOCATIONS)

    def reader(self, schema: StructType) -> DataSourceReader:
        missing = {"store", "start", "end"} - {k.lower() for k in self.options}
        if missing:
            raise ValueError(f"the {SOURCE_NAME} data source needs the options {sorted(missing)}")
        return StoreReader({k.lower(): v for k, v in self.options.items()}, schema)


def register(spark: SparkSession) -> None:
    spark.dataSource.register(StoreDataSource)
