"""Retention: delete from the store the old days the lake is known to hold in full.

A day is deleted only when it ended before the cutoff and the lake's row count for it equals the
store's. Everything else is kept, with the reason. The lake is held (as by an export) while
pruning, so an export cannot replace a day with the half that was not yet deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from deliverer.store import Store
from spark_jobs.day_writer import day_bounds
from spark_jobs.export import EPOCH
from spark_jobs.lake import Lake
from spark_jobs.schemas import BRONZE_LOCATIONS

log = logging.getLogger("deliverer.prune")


@dataclass
class PruneDay:
    """``action``: deleted, would delete (dry run) or kept; ``reason`` says why."""

    day: str
    action: str
    reason: str
    store_rows: int | None = None
    lake_rows: int | None = None
    deleted: int = 0


@dataclass
class PruneSummary:
    cutoff: str
    dry_run: bool
    days: list[PruneDay] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff,
            "dry_run": self.dry_run,
            "days_deleted": sum(d.action == "deleted" for d in self.days),
            "rows_deleted": sum(d.deleted for d in self.days),
            "days_kept": sum(d.action == "kept" for d in self.days),
            "seconds": round(self.seconds, 3),
            "days": [asdict(d) for d in self.days],
        }


def judge_day(store: Store, lake: Lake, day: str, cutoff: datetime) -> PruneDay:
    start, end = day_bounds(day)
    if end > cutoff:
        return PruneDay(day, "kept", "newer than the cutoff")
    store_rows = store.count_between(start, end)
    lake_rows = lake.day_rows(BRONZE_LOCATIONS, day)
    if lake_rows is None:
        return PruneDay(day, "kept", "not exported", store_rows, lake_rows)
    if lake_rows != store_rows:
        return PruneDay(day, "kept", f"counts differ: lake {lake_rows:,}, store {store_rows:,}", store_rows, lake_rows)
    return PruneDay(day, "delete", "the lake holds every row", store_rows, lake_rows)


def run_prune(
    store: Store,
    lake: Lake,
    older_than: timedelta,
    dry_run: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_day: Callable[[PruneDay], None] = lambda _: None,
) -> PruneSummary:
    """Judge every day the store holds; delete those that qualify unless ``dry_run``."""
    started = time.monotonic()
    cutoff = now() - older_than
    summary = PruneSummary(cutoff.isoformat(), dry_run)
    with lake.exclusive():
        for day in store.event_days_ingested_since(EPOCH):
            verdict = judge_day(store, lake, day, cutoff)
            if verdict.action == "delete":
                if dry_run:
                    verdict.action = "would delete"
                else:
                    verdict.deleted = store.delete_between(*day_bounds(day))
                    verdict.action = "deleted"
                    if verdict.deleted != verdict.store_rows:
                        log.warning("%s: deleted %d rows, %d were counted: reports arrived meanwhile",
                                    day, verdict.deleted, verdict.store_rows)
            summary.days.append(verdict)
            on_day(verdict)
    summary.seconds = time.monotonic() - started
    return summary
