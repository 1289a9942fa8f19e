"""The lake port: what the export and prune jobs need from wherever the lake is stored."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from deliverer.lake import LakeLocation
from spark_jobs.schemas import LakeTable

STATE_DIR = "_state"
PARQUET_SUFFIX = ".parquet"


class LakeBusy(Exception):
    """Another export or prune holds the lake."""


@dataclass(frozen=True)
class LakeFile:
    """One Parquet file of a day; ``version`` changes whenever the file is rewritten (mtime or ETag)."""

    name: str
    size: int
    version: str


class Lake(Protocol):
    location: LakeLocation

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold the lake for one export or prune run where the backend can (raise LakeBusy if taken)."""
        ...

    def staging(self) -> AbstractContextManager[Path]:
        """A fresh local directory for Spark's output, removed afterwards."""
        ...

    def recover(self) -> list[str]:
        """Undo what a killed run left half-done; returns the partitions put back."""
        ...

    def day_files(self, table: LakeTable, day: str) -> list[LakeFile]:
        """The day's Parquet files, sorted by name; empty when the day is not in the lake."""
        ...

    def day_rows(self, table: LakeTable, day: str) -> int | None:
        """Rows in the day's Parquet files (from their footers); None when the day is not in the lake."""
        ...

    def read_day(self, table: LakeTable, day: str, columns: Sequence[str]) -> pa.Table:
        """These columns of the day's rows, read from its Parquet files; no rows when the day is not in the lake."""
        ...

    def fetch_day(self, table: LakeTable, day: str, into: Path) -> list[Path]:
        """Copy the day's Parquet files into a local directory (to merge them with new rows)."""
        ...

    def publish_day(self, table: LakeTable, day: str, staged: Path) -> list[LakeFile]:
        """Replace the day with the Parquet files in ``staged`` (consumed); returns the new files."""
        ...

    def read_state(self, name: str) -> dict[str, Any] | None: ...

    def write_state(self, name: str, state: dict[str, Any]) -> None:
        """Write ``_state/<name>.json`` in one step: readers see the old or the new state, never half."""
        ...


def staged_parquet(staged: Path) -> Iterator[Path]:
    """The data files Spark left in a staging directory, skipping its checksums and markers."""
    return (p for p in sorted(staged.iterdir()) if p.name.endswith(PARQUET_SUFFIX) and p.name[0] not in "._")


def read_columns(table: LakeTable, files: Sequence[pq.ParquetFile], columns: Sequence[str]) -> pa.Table:
    """These columns of every row of a day's files, typed as the table defines them (nullable, so that
    files written by any engine read alike)."""
    defined = table.arrow_schema()
    schema = pa.schema([defined.field(name).with_nullable(True) for name in columns])
    tables = [file.read(columns=list(columns)).select(list(columns)).cast(schema) for file in files]
    return pa.concat_tables(tables) if tables else schema.empty_table()
