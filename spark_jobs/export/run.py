"""Export the store's history to the lake's ``bronze/locations``, incrementally and idempotently.

Each run works out which UTC days changed (incremental: reports stored since the watermark kept in
``<lake>/_state/export.json``; backfill: the days asked for), then writes each such day, one after
the other: a day new to the lake from the store's rows; a day the lake holds as the union of its
copy and the store's rows, one row per report key (see :mod:`spark_jobs.export.plan` and
:mod:`spark_jobs.export.merge`). Spark writes the day into a staging directory, the lake swaps it in.
The watermark moves only once every day succeeded, so a failed or killed run is simply run again.

Each day written leaves a record in ``<lake>/_state/export_days/dt=YYYY-MM-DD.json``: what was done,
the row count, a fingerprint of the day's keys, and how many rows only the lake held (the store had
lost them: pruned) and only the store held (the lake was behind).

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
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession

from deliverer.store import Store
from spark_jobs.day_actions import ExportAction
from spark_jobs.days import EPOCH
from spark_jobs.defaults import EXPORT_SETTLE
from spark_jobs.export.merge import day_record, export_day
from spark_jobs.export.plan import DayResult, check_rebuilds, plan_export_day
from spark_jobs.export.spark_writer import DayWriteOptions
from spark_jobs.storage import Lake
from spark_jobs.tables import BRONZE_LOCATIONS
from spark_jobs.transforms.run import DayTransform, transform_days

WATERMARK_STATE = "export"
"""``_state/export.json``: the watermark, and what the last incremental run wrote."""
DAY_STATE_DIR = "export_days"

log = logging.getLogger(__name__)


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
    rebuild: bool = False
    """Replace each day the lake holds with the store's rows alone instead of merging them."""
    force: bool = False
    """With ``rebuild``: even when the lake holds reports of the day the store does not (they are dropped)."""


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
        return [d for d in self.days if d.action != ExportAction.SKIP]

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
        state = lake.read_state(WATERMARK_STATE) or {}
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
        plans = [plan_export_day(store, lake, day, request.rebuild) for day in days]
        check_rebuilds(store, lake, plans, request.force)
        for result in plans:
            if result.action != ExportAction.SKIP and not request.dry_run:
                state_name = day_state_name(result.day)
                recorded = lake.read_state(state_name)
                files = export_day(spark(), request.store_url, lake, result, request.write, request.force, recorded)
                lake.write_state(state_name, day_record(result, files, now()))
            summary.days.append(result)
            on_day(result)
        if incremental and not request.dry_run:
            lake.write_state(WATERMARK_STATE, {
                "watermark": next_mark,
                "previous": previous,
                "updated_at": now().isoformat(),
                "days": [{"day": d.day, "action": d.action, "rows": d.rows} for d in summary.written],
                "rows": sum(d.rows for d in summary.written),
            })
        if request.transform and summary.written and not request.dry_run:
            transform_days(spark(), lake, [d.day for d in summary.written], on_day=on_transform)
    summary.seconds = time.monotonic() - started
    return summary


def day_state_name(day: str) -> str:
    """The state file of one exported day: ``_state/export_days/dt=YYYY-MM-DD.json``."""
    return f"{DAY_STATE_DIR}/{BRONZE_LOCATIONS.partition.name}={day}"
