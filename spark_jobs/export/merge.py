"""Write one planned day of ``bronze/locations``: the store's rows, plus (merge) the lake's rows the store no
longer has, checked key by key before the day is swapped in.

Spark writes the store's rows of the day into a staging directory as it always does (time slices, no
shuffle). The keys of those files are then compared with the keys of the lake's copy (Arrow, two
columns): only when the lake holds keys the store lacks does Spark write those rows too, from a copy of
the lake's files, into the same staging directory. Before the swap, the staged day must hold each key
once and, unless a forced rebuild drops them, every key of the lake's copy: otherwise the run stops and
the lake keeps its copy. The common case, a day whose lake copy the store holds in full (today's,
exported again), costs one sort and two hash joins of the keys beyond the plain write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark.sql import SparkSession

from spark_jobs.day_actions import ExportAction
from spark_jobs.export.plan import DayResult, RebuildRefused
from spark_jobs.export.spark_writer import DayWriteOptions, write_day, write_lake_only
from spark_jobs.report_keys import KeyFingerprint, fingerprint, lake_keys, missing_from, read_keys
from spark_jobs.storage import Lake, LakeFile
from spark_jobs.storage.parquet import staged_parquet
from spark_jobs.tables import BRONZE_LOCATIONS

log = logging.getLogger(__name__)


class DayCheckFailed(RuntimeError):
    """The staged day is not what the merge rule promises; the lake's copy was left as it was."""

    reason = "day_check_failed"


def export_day(
    spark: SparkSession,
    store_url: str,
    lake: Lake,
    result: DayResult,
    options: DayWriteOptions,
    force: bool = False,
    recorded: Mapping[str, Any] | None = None,
) -> list[LakeFile]:
    """Write, check and publish one day; fill ``result`` with what was written and return the day's new
    files. ``recorded``: what the lake's state says the last export of the day wrote (see
    :func:`day_record`), against which the copy found is compared."""
    started = time.monotonic()
    day = result.day
    with lake.staging() as staging:
        staged = staging / BRONZE_LOCATIONS.partition_path(day)
        write_day(spark, store_url, day, result.store_rows, staged, options)
        stored = read_keys(staged_parquet(staged))
        if stored.num_rows < result.store_rows:
            raise DayCheckFailed(
                f"{day}: wrote {stored.num_rows:,} rows but the store had {result.store_rows:,}"
                " when the run started (deleted meanwhile?); the lake's copy was left as it was"
            )
        keys = fingerprint(stored)
        _check_once_each(day, keys)
        previous = lake_keys(lake, day)
        lake_only, result.new_from_store = 0, stored.num_rows
        if previous.num_rows:
            previous_once_each = lake_copy_as_recorded(lake, day, previous, recorded or {})
            lake_only = missing_from(previous, stored, distinct=previous_once_each).num_rows
            result.new_from_store = missing_from(stored, previous, distinct=True).num_rows
        if result.action == ExportAction.REBUILD:
            if lake_only and not force:
                raise RebuildRefused({day: lake_only})
            result.dropped_from_lake = lake_only
        elif lake_only:
            copy = staging / "lake-copy"
            lake.fetch_day(BRONZE_LOCATIONS, day, copy)
            _add_lake_only(spark, copy, staged, staging / "lake-only", lake_only, options)
            result.kept_from_lake = lake_only
            written = read_keys(staged_parquet(staged))
            keys = fingerprint(written)
            _check_once_each(day, keys)
            _check_nothing_lost(day, previous, written)
        files = lake.publish_day(BRONZE_LOCATIONS, day, staged)
    result.rows = keys.rows
    result.keys_sha256 = keys.sha256
    result.files = len(files)
    result.bytes = sum(f.size for f in files)
    result.reason = _what_happened(result)
    result.seconds = time.monotonic() - started
    return files


def day_record(result: DayResult, files: list[LakeFile], at: datetime) -> dict[str, Any]:
    """What the lake's state keeps of a day written: the decision, the counts, the keys' fingerprint and
    the identity of the files, by which the next export knows the copy it finds is this one."""
    return {**asdict(result), "file_ids": _file_ids(files), "exported_at": at.isoformat()}


def _file_ids(files: list[LakeFile]) -> list[str]:
    return [f"{f.name}:{f.size}:{f.version}" for f in files]


def lake_copy_as_recorded(lake: Lake, day: str, previous: pa.Table, recorded: Mapping[str, Any]) -> bool:
    """Whether the lake's copy is known to hold each key once: it is the very copy the last export wrote
    (checked before it was published), or its keys say so. Warns when it is not what was recorded:
    changed by someone else, or left with two copies of some rows by an interrupted publish (the merge
    repairs both)."""
    if recorded.get("file_ids") == _file_ids(lake.day_files(BRONZE_LOCATIONS, day)):
        return True
    found = fingerprint(previous)
    if found.duplicates:
        log.warning("%s: the lake's copy holds %d rows whose key another row has (an interrupted publish?):"
                    " the merge keeps one of each", day, found.duplicates)
    elif recorded and found.sha256 != recorded.get("keys_sha256"):
        log.warning("%s: the lake's copy is not the one the last export recorded (changed since?):"
                    " merged all the same", day)
    return found.duplicates == 0


def _add_lake_only(
    spark: SparkSession, copy: Path, staged: Path, into: Path, rows: int, options: DayWriteOptions
) -> None:
    write_lake_only(spark, copy, staged, rows, into, options)
    for path in staged_parquet(into):
        path.rename(staged / path.name)  # Spark names each write's files uniquely: no clash


def _check_once_each(day: str, keys: KeyFingerprint) -> None:
    if keys.duplicates:
        raise DayCheckFailed(
            f"{day}: the staged day holds {keys.duplicates:,} rows whose key another row has;"
            " the lake's copy was left as it was"
        )


def _check_nothing_lost(day: str, previous: pa.Table, written: pa.Table) -> None:
    lost = missing_from(previous, written).num_rows
    if lost:
        raise DayCheckFailed(
            f"{day}: the staged day lacks {lost:,} reports of the lake's copy; the lake's copy was left as it was"
        )


def _what_happened(result: DayResult) -> str:
    if result.action == ExportAction.REBUILD:
        dropped = result.dropped_from_lake
        return f"rebuilt from the store, {dropped:,} reports only the lake held dropped (--force)" if dropped else (
            "rebuilt from the store"
        )
    if result.action != ExportAction.MERGE:
        return result.reason
    parts = []
    if result.new_from_store:
        parts.append(f"{result.new_from_store:,} new from the store (the lake was behind)")
    if result.kept_from_lake:
        parts.append(f"{result.kept_from_lake:,} kept that the store no longer holds (pruned)")
    return ", ".join(parts) if parts else "the lake already held every row of the store"
