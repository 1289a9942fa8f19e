"""A lake in an S3 bucket (AWS, MinIO, moto: any endpoint boto3 is pointed at).

S3 has no rename and no multi-object transaction, so a day is replaced by uploading the new
files first and deleting the old ones after: a reader may briefly see both copies, never a
partial day and never a missing one. A run killed in between leaves both copies until the day is
exported again, which the next run does (the watermark only moves once every day succeeded).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import struct
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from spark_jobs.days import is_day
from spark_jobs.storage.base import STATE_DIR, LakeFile
from spark_jobs.storage.location import LakeLocation
from spark_jobs.storage.parquet import is_data_file, read_columns, staged_parquet
from spark_jobs.tables import LakeTable

FOOTER_GUESS_BYTES = 64 * 1024
DELETE_BATCH = 1000


class S3Lake:
    def __init__(self, location: LakeLocation, client: Any = None, work_dir: Path | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.location = location
        self.bucket = location.bucket
        self.client = client
        self.work_dir = work_dir

    def __repr__(self) -> str:
        return f"S3Lake({self.location.url!r})"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        # S3 offers no lock; running one exporter per lake is the deployment's job.
        yield

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        directory = Path(tempfile.mkdtemp(prefix="deliverer-export-", dir=self.work_dir))
        try:
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def recover(self) -> list[str]:
        return []

    def days(self, table: LakeTable) -> list[str]:
        table_prefix = self.location.key(table.path) + "/"
        marker = f"{table.partition.name}="
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=table_prefix + marker, Delimiter="/"
        )
        found = (
            common["Prefix"][len(table_prefix) :].rstrip("/").removeprefix(marker)
            for page in pages
            for common in page.get("CommonPrefixes", [])
        )
        return sorted(day for day in found if is_day(day))

    def day_files(self, table: LakeTable, day: str) -> list[LakeFile]:
        return [
            LakeFile(obj["Key"].rsplit("/", 1)[1], obj["Size"], obj["ETag"].strip('"'))
            for obj in self._objects(table, day)
        ]

    def day_rows(self, table: LakeTable, day: str) -> int | None:
        objects = self._objects(table, day)
        if not objects:
            return None
        return sum(self._parquet_rows(obj["Key"], obj["Size"]) for obj in objects)

    def read_day(self, table: LakeTable, day: str, columns: Sequence[str]) -> pa.Table:
        files = []
        for obj in self._objects(table, day):
            body = self.client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
            files.append(pq.ParquetFile(pa.BufferReader(body)))
        return read_columns(table, files, columns)

    def fetch_day(self, table: LakeTable, day: str, into: Path) -> list[Path]:
        into.mkdir(parents=True, exist_ok=True)
        paths = []
        for obj in self._objects(table, day):
            path = into / obj["Key"].rsplit("/", 1)[1]
            self.client.download_file(self.bucket, obj["Key"], str(path))
            paths.append(path)
        return paths

    def local_days(self, table: LakeTable, days: Sequence[str], scratch: Path) -> Path:
        base = scratch / "input" / table.path
        for day in days:
            self.fetch_day(table, day, base / f"{table.partition.name}={day}")
        return base

    def publish_day(self, table: LakeTable, day: str, staged: Path) -> list[LakeFile]:
        prefix = self._day_prefix(table, day)
        old_keys = {obj["Key"] for obj in self._objects(table, day)}
        new_keys = set()
        for path in staged_parquet(staged):
            key = prefix + path.name
            self.client.upload_file(str(path), self.bucket, key)
            new_keys.add(key)
        stale = sorted(old_keys - new_keys)
        for start in range(0, len(stale), DELETE_BATCH):
            batch = stale[start : start + DELETE_BATCH]
            response = self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )
            if response.get("Errors"):
                raise OSError(f"could not delete old files of {prefix}: {response['Errors'][:3]}")
        shutil.rmtree(staged, ignore_errors=True)
        return self.day_files(table, day)

    def read_state(self, name: str) -> dict[str, Any] | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._state_key(name))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        state: dict[str, Any] = json.loads(body)
        return state

    def write_state(self, name: str, state: dict[str, Any]) -> None:
        # A PUT replaces the whole object at once: readers see the old state or the new one.
        self.client.put_object(
            Bucket=self.bucket, Key=self._state_key(name),
            Body=(json.dumps(state, indent=2) + "\n").encode(), ContentType="application/json",
        )

    def _state_key(self, name: str) -> str:
        return self.location.key(STATE_DIR, f"{name}.json")

    def _day_prefix(self, table: LakeTable, day: str) -> str:
        return self.location.key(table.partition_path(day)) + "/"

    def _objects(self, table: LakeTable, day: str) -> list[dict[str, Any]]:
        prefix = self._day_prefix(table, day)
        objects = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix) :]
                if "/" not in name and is_data_file(name):
                    objects.append(obj)
        return sorted(objects, key=lambda o: o["Key"])

    def _parquet_rows(self, key: str, size: int) -> int:
        """Row count from the file's footer, fetched with one or two ranged GETs (never the whole file)."""
        tail = self._tail(key, min(size, FOOTER_GUESS_BYTES))
        (footer_length,) = struct.unpack("<I", tail[-8:-4])
        if tail[-4:] != b"PAR1":
            raise ValueError(f"s3://{self.bucket}/{key} is not a Parquet file")
        if footer_length + 8 > len(tail):
            tail = self._tail(key, footer_length + 8)
        footer = b"PAR1" + tail[-(footer_length + 8) :]
        return int(pq.read_metadata(pa.BufferReader(footer)).num_rows)

    def _tail(self, key: str, length: int) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=-{length}")
        data: bytes = response["Body"].read()
        return data
