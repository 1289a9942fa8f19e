"""A lake in a local directory (or any mounted filesystem).

A day is swapped in with two renames inside the lake's own filesystem: the live directory moves
aside into the run's staging area, the new one takes its place, the old one is deleted. A run
killed between the two renames leaves the old day in ``_staging``; :meth:`LocalLake.recover`
(called at the start of every run) puts it back.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spark_jobs.days import is_day
from spark_jobs.storage.base import STATE_DIR, LakeBusy, LakeFile
from spark_jobs.storage.location import LakeLocation
from spark_jobs.storage.parquet import is_data_file, read_columns, staged_parquet
from spark_jobs.tables import LakeTable

STAGING_DIR = "_staging"
LOCK_FILE = "jobs.lock"


class LocalLake:
    def __init__(self, location: LakeLocation) -> None:
        self.location = location
        self.root = location.local_path()

    def __repr__(self) -> str:
        return f"LocalLake({str(self.root)!r})"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        state = self.root / STATE_DIR
        state.mkdir(parents=True, exist_ok=True)
        with (state / LOCK_FILE).open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LakeBusy(f"another export or prune is running on {self.root}") from None
            yield

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        # Inside the lake, so that publishing is a rename and never a copy.
        run = self.root / STAGING_DIR / uuid.uuid4().hex
        run.mkdir(parents=True)
        try:
            yield run
        finally:
            shutil.rmtree(run, ignore_errors=True)
            with contextlib.suppress(OSError):
                run.parent.rmdir()  # only when no other staging area is left

    def recover(self) -> list[str]:
        restored = []
        staging = self.root / STAGING_DIR
        for parked in sorted(staging.glob("*/old/*/*/*")):
            live = self.root / parked.relative_to(parked.parents[2])
            if not live.exists():
                live.parent.mkdir(parents=True, exist_ok=True)
                parked.rename(live)
                restored.append(str(live.relative_to(self.root)))
        shutil.rmtree(staging, ignore_errors=True)
        return restored

    def days(self, table: LakeTable) -> list[str]:
        directory = self.root / table.path
        marker = f"{table.partition.name}="
        if not directory.is_dir():
            return []
        found = (p.name.removeprefix(marker) for p in directory.glob(f"{marker}*") if p.is_dir())
        return sorted(day for day in found if is_day(day))

    def day_files(self, table: LakeTable, day: str) -> list[LakeFile]:
        return [
            LakeFile(path.name, stat.st_size, str(stat.st_mtime_ns))
            for path in self._parquet(self.root / table.partition_path(day))
            for stat in (path.stat(),)
        ]

    def day_rows(self, table: LakeTable, day: str) -> int | None:
        directory = self.root / table.partition_path(day)
        if not directory.is_dir():
            return None
        return sum(pq.read_metadata(path).num_rows for path in self._parquet(directory))

    def read_day(self, table: LakeTable, day: str, columns: Sequence[str]) -> pa.Table:
        paths = self._parquet(self.root / table.partition_path(day))
        return read_columns(table, [pq.ParquetFile(path) for path in paths], columns)

    def fetch_day(self, table: LakeTable, day: str, into: Path) -> list[Path]:
        into.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy2(path, into)) for path in self._parquet(self.root / table.partition_path(day))]

    def local_days(self, table: LakeTable, days: Sequence[str], scratch: Path) -> Path:
        # Spark reads the live days in place: the caller holds the lake, so none is swapped meanwhile.
        return self.root / table.path

    def publish_day(self, table: LakeTable, day: str, staged: Path) -> list[LakeFile]:
        keep = set(staged_parquet(staged))
        for path in staged.iterdir():
            if path not in keep:
                path.unlink()
        partition = table.partition_path(day)
        live = self.root / partition
        live.parent.mkdir(parents=True, exist_ok=True)
        parking = self.root / STAGING_DIR / f"swap-{uuid.uuid4().hex}"
        parked = parking / "old" / partition
        if live.exists():
            parked.parent.mkdir(parents=True)
            live.rename(parked)
        staged.rename(live)
        shutil.rmtree(parking, ignore_errors=True)
        return self.day_files(table, day)

    def read_state(self, name: str) -> dict[str, Any] | None:
        path = self.root / STATE_DIR / f"{name}.json"
        if not path.exists():
            return None
        state: dict[str, Any] = json.loads(path.read_text())
        return state

    def write_state(self, name: str, state: dict[str, Any]) -> None:
        path = self.root / STATE_DIR / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        partial.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(partial, path)

    @staticmethod
    def _parquet(directory: Path) -> list[Path]:
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.iterdir() if is_data_file(p.name))
