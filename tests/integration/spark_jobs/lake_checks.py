"""What the export tests look at: a lake day's rows, per-day counts against the store, file identities."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from deliverer.store import open_store
from spark_jobs.days import day_bounds
from spark_jobs.export.store_source import scan_batches
from spark_jobs.report_keys import KEY_COLUMNS
from spark_jobs.storage import Lake, LakeFile
from spark_jobs.storage.parquet import arrow_schema
from spark_jobs.tables import BRONZE_LOCATIONS

KEY_ORDER = [(name, "ascending") for name in KEY_COLUMNS]


def read_day(lake: Lake, day: str) -> pa.Table:
    """The day's rows as the lake holds them (copied out first, so S3 lakes read the same way)."""
    with tempfile.TemporaryDirectory() as tmp:
        files = lake.fetch_day(BRONZE_LOCATIONS, day, Path(tmp))
        return pa.concat_tables([pq.read_table(f, schema=arrow_schema(BRONZE_LOCATIONS)) for f in files])


def store_day(store_url: str, day: str) -> pa.Table:
    """The day's rows as the store holds them, in the lake's Arrow schema."""
    schema = arrow_schema(BRONZE_LOCATIONS)
    return pa.Table.from_batches(list(scan_batches(store_url, *day_bounds(day), schema)), schema=schema)


def store_counts(store_url: str, days: list[str]) -> dict[str, int]:
    store = open_store(store_url)
    try:
        return {day: store.count_between(*day_bounds(day)) for day in days}
    finally:
        store.close()


def lake_counts(lake: Lake, days: list[str]) -> dict[str, int | None]:
    return {day: lake.day_rows(BRONZE_LOCATIONS, day) for day in days}


def duplicate_keys(lake: Lake, days: list[str]) -> list[tuple[str, str]]:
    """Report keys (deliverer_id, msg_id) held more than once by these days of the lake."""
    counts: Counter[tuple[str, str]] = Counter()
    for day in days:
        table = read_day(lake, day)
        counts.update(zip(*(table.column(c).to_pylist() for c in KEY_COLUMNS), strict=True))
    return [key for key, n in counts.items() if n > 1]


def files_of(lake: Lake, days: list[str]) -> dict[str, list[LakeFile]]:
    return {day: lake.day_files(BRONZE_LOCATIONS, day) for day in days}
