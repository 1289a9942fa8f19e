"""A day's report keys, ``(deliverer_id, msg_id)``, held and compared as Arrow tables.

The export checks with them that a day it is about to publish still holds every report of the lake's
copy; prune checks that every report of a day it is about to delete is in the lake. Arrow's hash joins
and sorts do the work, so a day of a million reports costs two string columns, not a million Python
tuples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from deliverer.store import Store
from deliverer.store.base import EXPORT_COLUMNS, ReportKey
from spark_jobs.storage import Lake
from spark_jobs.storage.parquet import read_columns
from spark_jobs.tables import BRONZE_LOCATIONS

KEY_COLUMNS = ("deliverer_id", "msg_id")
KEY_SCHEMA = pa.schema([pa.field(name, pa.string()) for name in KEY_COLUMNS])
"""As :func:`spark_jobs.storage.parquet.read_columns` reads them from Parquet."""
SEPARATOR = "\x1f"
"""Between and after the two ids of a key when fingerprinting; the contract's ids never contain it, and it
sorts before every character they may contain, so sorting the joined text sorts the pairs."""
_SCAN_BATCH = 10_000

FIRST_COPY_ORDER = ("ingested_at", "timestamp", "order_id", "latitude", "longitude")
"""Which row is kept where two hold one key: the first stored (the other columns break ties, so every run
keeps the same one)."""


@dataclass(frozen=True)
class KeyFingerprint:
    """How many rows, how many of them repeat a key already seen, and the SHA-256 of the distinct keys
    in sorted order: equal sets of keys give equal checksums, whatever the files and the row order."""

    rows: int
    duplicates: int
    sha256: str


def read_keys(files: Iterable[Path]) -> pa.Table:
    """The keys of every row of these local Parquet files (only the two key columns are read)."""
    return read_columns(BRONZE_LOCATIONS, [pq.ParquetFile(path) for path in files], KEY_COLUMNS)


def lake_keys(lake: Lake, day: str) -> pa.Table:
    """The keys of the lake's ``bronze/locations`` rows of a day; none when the day is not in the lake."""
    return lake.read_day(BRONZE_LOCATIONS, day, KEY_COLUMNS)


def store_keys(store: Store, start: datetime, end: datetime) -> pa.Table:
    """The keys of the store's reports with ``start <= timestamp < end``."""
    deliverer, msg = EXPORT_COLUMNS.index("deliverer_id"), EXPORT_COLUMNS.index("msg_id")
    rows = store.scan(start, end, batch_size=_SCAN_BATCH)
    batches = []
    while chunk := list(islice(rows, _SCAN_BATCH)):
        columns = [pa.array([row[index] for row in chunk], pa.string()) for index in (deliverer, msg)]
        batches.append(pa.record_batch(columns, schema=KEY_SCHEMA))
    return pa.Table.from_batches(batches, schema=KEY_SCHEMA)


def missing_from(keys: pa.Table, other: pa.Table, distinct: bool = False) -> pa.Table:
    """The distinct keys of ``keys`` that ``other`` does not hold (``distinct``: ``keys`` holds each key
    once already, so the step making it so is skipped)."""
    unique = keys if distinct else keys.group_by(list(KEY_COLUMNS), use_threads=False).aggregate([])
    return unique.join(other, keys=list(KEY_COLUMNS), join_type="left anti")


def fingerprint(keys: pa.Table) -> KeyFingerprint:
    if keys.num_rows == 0:
        return KeyFingerprint(0, 0, hashlib.sha256().hexdigest())
    lines = pc.binary_join_element_wise(keys["deliverer_id"], keys["msg_id"], pa.scalar(""), SEPARATOR)
    ordered = pc.take(lines, pc.sort_indices(lines))
    ordered = ordered.combine_chunks() if isinstance(ordered, pa.ChunkedArray) else ordered
    repeats = pc.equal(ordered[1:], ordered[:-1])
    duplicates = int(pc.sum(repeats).as_py() or 0)
    if duplicates:
        ordered = ordered.filter(pa.concat_arrays([pa.array([True]), pc.invert(repeats)]))
    whole = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(ordered)], pa.int32()), ordered), "")[0]
    return KeyFingerprint(keys.num_rows, duplicates, hashlib.sha256(whole.as_buffer()).hexdigest())


def key_pairs(keys: pa.Table) -> Iterator[ReportKey]:
    """The keys as ``(deliverer_id, msg_id)`` tuples, a batch at a time."""
    for batch in keys.select(list(KEY_COLUMNS)).to_batches(max_chunksize=_SCAN_BATCH):
        yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)
