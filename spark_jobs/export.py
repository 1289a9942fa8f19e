"""Export the store's history to the lake's ``bronze/locations``, incrementally and idempotently.

Each run works out which UTC days changed (incremental: reports stored since the watermark kept in
``<lake>/_state/export.json``; backfill: the days asked for), then replaces each such day whole,
one after the other: Spark writes the day into a staging directory, the lake swaps it in. The
watermark moves only once every day succeeded, so a failed or killed run is simply run again.

The new watermark is taken before anything is read (reports stored during the run are picked
up by the next one) and ``settle`` earlier than the clock: a batch is stamped with its
``ingested_at`` just before it commits, so the newest stamps may still be landing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyspark.sql import SparkSession

from deliverer.store import Store
from spark_jobs.day_writer import DayWriteOptions, day_bounds, write_day
from spark_jobs.defaults import EXPORT_SETTLE
from spark_jobs.lake import Lake
from spark_jobs.lake.base import staged_parquet
from spark_jobs.schemas import BRONZE_LOCATIONS
from spark_jobs.transforms.run import DayTransform, transform_days

STATE_NAME = "export"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

log = logging.getLogger("deliverer.export")


@dataclass(frozen=True)
class ExportRequest:
    """``days=None`` is an incremental run (watermark); a list is a backfill of exactly those days."""

    store_url: str
    days: list[str] | None = None
    dry_run: bool = False
    settle: timedelta = EXPORT_SETTLE
    write: DayWriteOptions = field(default_factory=DayWriteOptions)
    transform: bool = False
    """Rebuild silver and gold for the days written, under the same lake lock (the CLI turns it on)."""


@dataclass
class DayResult:
    """What happened to one day. ``action``: write (new or replaced), merge (the store holds fewer
    rows than the lake, e.g. after a prune, so the lake's rows are kept and the store's added) or skip."""

    day: str
    action: str
    store_rows: int
    lake_rows_before: int | None
    rows: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    reason: str = ""


@dataclass
class ExportSummary:
    lake: str
    dry_run: bool
    incremental: bool
    watermark_previous: str | None
    watermark_next: str | None
    days: list[DayResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def written(self) -> list[DayResult]:
        return [d for d in self.days if d.action != "skip"]

    def to_dict(self) -> dict[str, Any]:
        written = self.written
        return {
            "lake": self.lake,
            "table": BRONZE_LOCATIONS.path,
            "dry_run": self.dry_run,
            "incremental": self.incremental,
            "days_written": 0 if self.dry_run else len(written),
            "rows": sum(d.store_rows if self.dry_run else d.rows for d in written),
            "files": sum(d.files for d in written),
            "bytes": sum(d.bytes for d in written),
            "seconds": round(self.seconds, 3),
            "watermark": {"previous": self.watermark_previous, "next": self.watermark_next},
            "days": [asdict(d) for d in self.days],
        }


def days_in_range(since: str, until: str) -> list[str]:
    """Every day from ``since`` through ``until`` (both YYYY-MM-DD, inclusive)."""
    first, last = date.fromisoformat(since), date.fromisoformat(until)
    if last < first:
        raise ValueError(f"--until {until} is before --since {since}")
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def plan_day(store: Store, lake: Lake, day: str) -> DayResult:
    """Decide what to do with a day from the store's and the lake's row counts."""
    store_rows = store.count_between(*day_bounds(day))
    lake_rows = lake.day_rows(BRONZE_LOCATIONS, day)
    if store_rows == 0:
        reason = "no rows in the store" if lake_rows is None else "no rows in the store; the lake's copy is kept"
        return DayResult(day, "skip", store_rows, lake_rows, reason=reason)
    if lake_rows is not None and lake_rows > store_rows:
        return DayResult(
            day, "merge", store_rows, lake_rows,
            reason=f"the store holds fewer rows than the lake ({store_rows:,} < {lake_rows:,}, pruned?):"
            " the store's rows are merged into the lake's",
        )
    reason = "new day" if lake_rows is None else "replaces the lake's copy"
    return DayResult(day, "write", store_rows, lake_rows, reason=reason)


def run_export(
    request: ExportRequest,
    store: Store,
    lake: Lake,
    spark: Callable[[], SparkSession],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_day: Callable[[DayResult], None] = lambda _: None,
    on_transform: Callable[[DayTransform], None] = lambda _: None,
) -> ExportSummary:
    """Run one export; ``spark`` is called only when a day must be written (dry runs never start it)."""
    started = time.monotonic()
    incremental = request.days is None
    previous = next_mark = None
    if incremental:
        state = lake.read_state(STATE_NAME) or {}
        previous = state.get("watermark")
        next_mark = (now() - request.settle).isoformat()
        since = datetime.fromisoformat(previous) if previous else EPOCH
        days = store.event_days_ingested_since(since)
    else:
        days = list(request.days or [])
    summary = ExportSummary(lake.location.url, request.dry_run, incremental, previous, next_mark)

    with contextlib.nullcontext() if request.dry_run else lake.exclusive():
        if not request.dry_run:
            for restored in lake.recover():
                log.warning("restored %s, left aside by an interrupted run", restored)
        for day in days:
            result = plan_day(store, lake, day)
            if result.action != "skip" and not request.dry_run:
                _write(request, lake, spark(), result)
            summary.days.append(result)
            on_day(result)
        if incremental and not request.dry_run:
            lake.write_state(STATE_NAME, {
                "watermark": next_mark,
                "previous": previous,
                "updated_at": now().isoformat(),
                "days": [d.day for d in summary.written],
                "rows": sum(d.rows for d in summary.written),
            })
        if request.transform and summary.written and not request.dry_run:
            transform_days(spark(), lake, [d.day for d in summary.written], on_day=on_transform)
    summary.seconds = time.monotonic() - started
    return summary


def _write(request: ExportRequest, lake: Lake, spark: SparkSession, result: DayResult) -> None:
    started = time.monotonic()
    with lake.staging() as staging:
        merge_with: Path | None = None
        expected = result.store_rows
        if result.action == "merge":
            merge_with = staging / "merge"
            lake.fetch_day(BRONZE_LOCATIONS, result.day, merge_with)
            expected += result.lake_rows_before or 0
        staged = staging / BRONZE_LOCATIONS.partition_path(result.day)
        write_day(spark, request.store_url, result.day, expected, staged, request.write, merge_with)
        written = sum(pq.read_metadata(path).num_rows for path in staged_parquet(staged))
        if written < result.store_rows:
            raise RuntimeError(
                f"{result.day}: wrote {written:,} rows but the store had {result.store_rows:,}"
                " when the run started (deleted meanwhile?); the lake's copy was left as it was"
            )
        files = lake.publish_day(BRONZE_LOCATIONS, result.day, staged)
    result.rows = written
    result.files = len(files)
    result.bytes = sum(f.size for f in files)
    result.seconds = time.monotonic() - started
