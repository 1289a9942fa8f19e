"""The lake port: what the export, transform and prune jobs need from wherever the lake is stored."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from spark_jobs.storage.location import LakeLocation

if TYPE_CHECKING:
    import pyarrow as pa

    from spark_jobs.tables import LakeTable

STATE_DIR = "_state"


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

    def days(self, table: LakeTable) -> list[str]:
        """Every day the table has a partition for (YYYY-MM-DD), oldest first."""
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

    def local_days(self, table: LakeTable, days: Sequence[str], scratch: Path) -> Path:
        """A local directory holding these days of the table as ``<partition>=<day>/`` directories, for
        Spark to read: the lake's own where it is local (nothing copied), else fetched under ``scratch``."""
        ...

    def publish_day(self, table: LakeTable, day: str, staged: Path) -> list[LakeFile]:
        """Replace the day with the Parquet files in ``staged`` (consumed); returns the new files."""
        ...

    def read_state(self, name: str) -> dict[str, Any] | None: ...

    def write_state(self, name: str, state: dict[str, Any]) -> None:
        """Write ``_state/<name>.json`` in one step: readers see the old or the new state, never half."""
        ...
